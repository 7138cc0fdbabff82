"""Which object a pool scales: the `targets.<pool>` block of the run config. Examples (YAML):

- ``{kind: PodCliqueScalingGroup, namespace: llm, name: llama-0-prefill}``
- ``{kind: PodCliqueScalingGroup, namespace: llm, podCliqueSet: llama, replicaIndex: 0,
  group: decode}`` resolves to ``llama-0-decode``
- ``{kind: PodClique, namespace: llm, podCliqueSet: llama, clique: worker}`` -> ``llama-0-worker``
- ``{kind: LeaderWorkerSet, namespace: llm, name: llama-prefill}``
- ``{kind: Deployment, namespace: llm, name: router}``
- ``{kind: MetricsOnly, observe: {kind: LeaderWorkerSet, namespace: llm, name: llama-decode}}``
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sla_planner.actuators.grove_names import check_object_name, podclique_name, scaling_group_name

TargetKind = Literal[
    "PodCliqueScalingGroup", "PodClique", "LeaderWorkerSet", "Deployment", "MetricsOnly"
]
KUBE_KINDS = ("PodCliqueScalingGroup", "PodClique", "LeaderWorkerSet", "Deployment")


class TargetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    kind: TargetKind
    namespace: str | None = None
    name: str | None = Field(None, description="object name; or give the Grove fields below")
    pod_clique_set: str | None = Field(None, alias="podCliqueSet")
    replica_index: int = Field(0, alias="replicaIndex", ge=0, description="PodCliqueSet replica")
    group: str | None = Field(None, description="Grove scaling group (PodCliqueScalingGroup)")
    clique: str | None = Field(None, description="Grove clique template name (PodClique)")
    scaling_group_replica_index: int | None = Field(None, alias="scalingGroupReplicaIndex", ge=0)
    observe: TargetConfig | None = Field(
        None, description="MetricsOnly: an object to read status from, never written"
    )
    request_timeout_s: float = Field(10.0, gt=0, le=300)
    conflict_retries: int = Field(3, ge=0, le=20)

    @model_validator(mode="after")
    def _check(self) -> TargetConfig:
        grove_fields = {
            "podCliqueSet": self.pod_clique_set,
            "group": self.group,
            "clique": self.clique,
            "scalingGroupReplicaIndex": self.scaling_group_replica_index,
        }
        given = [k for k, v in grove_fields.items() if v is not None]
        if self.kind == "MetricsOnly":
            if self.name or given:
                raise ValueError(
                    "kind MetricsOnly changes nothing, so it takes no name/podCliqueSet; to read "
                    "live replicas, put the object under `observe: {kind: ..., namespace: ..., name: ...}`"
                )
            if self.observe is not None and self.observe.kind == "MetricsOnly":
                raise ValueError("observe must name a Kubernetes object, not another MetricsOnly")
            return self
        if self.observe is not None:
            raise ValueError(f"observe is only for kind MetricsOnly, not {self.kind}")
        if not self.namespace:
            raise ValueError(
                f"kind {self.kind} needs namespace: the namespace of the object to scale"
            )
        check_object_name(self.namespace)
        if self.kind in ("LeaderWorkerSet", "Deployment") and given:
            raise ValueError(f"kind {self.kind} takes name only, not {', '.join(given)}")
        if self.name and given:
            raise ValueError(
                f"give either name or podCliqueSet (+ replicaIndex + group/clique), not both: got "
                f"name {self.name!r} and {', '.join(given)}"
            )
        if not self.name and not given:
            hint = {
                "PodCliqueScalingGroup": "or podCliqueSet + replicaIndex + group",
                "PodClique": "or podCliqueSet + replicaIndex + clique",
            }.get(self.kind, "")
            raise ValueError(f"kind {self.kind} needs name {hint}".strip())
        if self.kind == "PodCliqueScalingGroup" and given:
            if self.clique is not None or self.scaling_group_replica_index is not None:
                raise ValueError(
                    "a PodCliqueScalingGroup is named by podCliqueSet + replicaIndex + group; "
                    "clique/scalingGroupReplicaIndex are for kind PodClique"
                )
            if not self.pod_clique_set or not self.group:
                raise ValueError(
                    "PodCliqueScalingGroup by Grove fields needs podCliqueSet and group"
                )
        if self.kind == "PodClique" and given:
            if not self.pod_clique_set or not self.clique:
                raise ValueError("PodClique by Grove fields needs podCliqueSet and clique")
        self.resolved_name()  # raises on an invalid resulting name
        return self

    def written_object(self) -> tuple[str, str, str] | None:
        """(kind, namespace, name) of the object this target writes; None for MetricsOnly
        (which only reads its `observe` object)."""
        if self.kind == "MetricsOnly":
            return None
        assert self.namespace is not None
        return self.kind, self.namespace, self.resolved_name()

    def resolved_name(self) -> str:
        """The object name, formed the way Grove forms it when given by Grove fields."""
        if self.kind == "MetricsOnly":
            raise ValueError("kind MetricsOnly has no object name")
        if self.name:
            return check_object_name(self.name)
        assert self.pod_clique_set is not None
        if self.kind == "PodCliqueScalingGroup":
            assert self.group is not None
            return scaling_group_name(self.pod_clique_set, self.replica_index, self.group)
        assert self.clique is not None
        return podclique_name(
            self.pod_clique_set,
            self.replica_index,
            self.clique,
            scaling_group=self.group,
            scaling_group_replica_index=self.scaling_group_replica_index,
        )
