"""Grove PodCliqueScalingGroup (grove.io/v1alpha1): one replica is one whole gang of cliques."""

from __future__ import annotations

from sla_planner.actuators.custom_resource import CustomResourceScaleActuator
from sla_planner.actuators.replica_pods import (
    PodView,
    RemovalOrder,
    ReplicaPods,
    ReplicaView,
    by_index,
)


class GroveScalingGroupActuator(CustomResourceScaleActuator):
    kind = "PodCliqueScalingGroup"
    label = "grove PodCliqueScalingGroup"
    api_group = "grove.io"
    not_found_hint = "Grove names a PodCliqueScalingGroup <podcliqueset>-<replicaIndex>-<group>"
    version = "v1alpha1"
    plural = "podcliquescalinggroups"
    # Grove's PCSG status has no readyReplicas: a replica is "available" once every clique in it
    # has at least minAvailable ready pods (scalinggroup.go).
    ready_field = "availableReplicas"


class ScalingGroupPods(ReplicaPods):
    """A PCSG's pods grouped by `grove.io/podcliquescalinggroup-replica-index`; lowering
    replicas to n removes the replica indices n and up (computePCSGReplicasToDelete): a drain
    waits for those."""

    order = RemovalOrder.HIGHEST_INDEX
    label = "grove PodCliqueScalingGroup"

    def selector(self) -> str:
        return f"grove.io/podcliquescalinggroup={self.name}"

    def group(self, pods: list[PodView]) -> list[ReplicaView]:
        return by_index(pods, "grove.io/podcliquescalinggroup-replica-index")
