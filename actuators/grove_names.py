"""Grove object names, formed exactly as the Grove operator forms them.

From ai-dynamo/grove operator/api/common/namegen.go:
- PodCliqueScalingGroup:   <podcliqueset>-<pcsReplicaIndex>-<scalingGroup>
- standalone PodClique:    <podcliqueset>-<pcsReplicaIndex>-<clique>
- PodClique inside a PCSG: <pcsgName>-<pcsgReplicaIndex>-<clique>
                         = <podcliqueset>-<pcsReplicaIndex>-<scalingGroup>-<pcsgReplicaIndex>-<clique>
A PCSG replica is one whole gang (e.g. a leader + workers); scale the PCSG for multi-node
pools and a standalone PodClique for single-pod replicas. A clique inside a PCSG is owned by
the PCSG controller, so scaling it directly changes pods per group, not groups.
"""

from __future__ import annotations

import re

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


def check_object_name(name: str) -> str:
    """Validate a Kubernetes object name (DNS-1123 subdomain); returns it unchanged."""
    if not name or len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        raise ValueError(
            f"{name!r} is not a valid Kubernetes object name: use lower-case letters, digits "
            "and '-' (DNS-1123), starting and ending with a letter or digit, at most 253 chars"
        )
    return name


def _index(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def scaling_group_name(pod_clique_set: str, replica_index: int, group: str) -> str:
    """Name of the PodCliqueScalingGroup for scaling group `group` of PodCliqueSet replica."""
    _index(replica_index, "replicaIndex")
    return check_object_name(f"{pod_clique_set}-{replica_index}-{group}")


def podclique_name(
    pod_clique_set: str,
    replica_index: int,
    clique: str,
    *,
    scaling_group: str | None = None,
    scaling_group_replica_index: int | None = None,
) -> str:
    """Name of a PodClique: standalone, or inside replica `scaling_group_replica_index` of a PCSG."""
    _index(replica_index, "replicaIndex")
    if scaling_group is None:
        if scaling_group_replica_index is not None:
            raise ValueError("scalingGroupReplicaIndex needs group (the scaling group name)")
        return check_object_name(f"{pod_clique_set}-{replica_index}-{clique}")
    if scaling_group_replica_index is None:
        raise ValueError("a PodClique inside a scaling group needs scalingGroupReplicaIndex")
    _index(scaling_group_replica_index, "scalingGroupReplicaIndex")
    pcsg = scaling_group_name(pod_clique_set, replica_index, scaling_group)
    return check_object_name(f"{pcsg}-{scaling_group_replica_index}-{clique}")
