"""LeaderWorkerSet (leaderworkerset.x-k8s.io/v1): one replica is one leader + (size-1) workers."""

from __future__ import annotations

from sla_planner.actuators.custom_resource import CustomResourceScaleActuator
from sla_planner.actuators.replica_pods import (
    PodView,
    RemovalOrder,
    ReplicaPods,
    ReplicaView,
    by_index,
)


class LeaderWorkerSetActuator(CustomResourceScaleActuator):
    kind = "LeaderWorkerSet"
    label = "LeaderWorkerSet"
    api_group = "leaderworkerset.x-k8s.io"
    version = "v1"
    plural = "leaderworkersets"
    # groups whose leader and whole worker StatefulSet are ready (omitted by LWS when 0)
    ready_field = "readyReplicas"


class LeaderWorkerSetPods(ReplicaPods):
    """An LWS's pods grouped by `leaderworkerset.sigs.k8s.io/group-index`; lowering replicas
    to n removes the groups with index >= n (the leader StatefulSet's ordinals), whatever
    their load: a drain waits for those."""

    order = RemovalOrder.HIGHEST_INDEX
    label = "LeaderWorkerSet"

    def selector(self) -> str:
        return f"leaderworkerset.sigs.k8s.io/name={self.name}"

    def group(self, pods: list[PodView]) -> list[ReplicaView]:
        return by_index(pods, "leaderworkerset.sigs.k8s.io/group-index")
