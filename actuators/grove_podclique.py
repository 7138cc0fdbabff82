"""Grove PodClique (grove.io/v1alpha1): one replica is one pod of the clique."""

from __future__ import annotations

from collections.abc import Iterable

from sla_planner.actuators.base import WriteGuard
from sla_planner.actuators.custom_resource import CustomResourceScaleActuator
from sla_planner.actuators.replica_pods import (
    PodView,
    RemovalOrder,
    ReplicaPods,
    ReplicaView,
    by_pod,
)


class GrovePodCliqueActuator(CustomResourceScaleActuator):
    kind = "PodClique"
    label = "grove PodClique"
    api_group = "grove.io"
    not_found_hint = "Grove names a standalone PodClique <podcliqueset>-<replicaIndex>-<clique>"
    version = "v1alpha1"
    plural = "podcliques"
    ready_field = "readyReplicas"  # ready pods (podclique.go PodCliqueStatus)


class PodCliquePods(ReplicaPods):
    """A PodClique's pods, one per replica. Grove's DeletionSorter does not read the deletion
    cost, but counts only pods not yet terminating against spec.replicas: the drained pods
    are deleted here, right before replicas is lowered by as many, so Grove removes no other."""

    order = RemovalOrder.DELETE_CHOSEN
    label = "grove PodClique"

    def selector(self) -> str:
        return f"grove.io/podclique={self.name}"

    def group(self, pods: list[PodView]) -> list[ReplicaView]:
        return by_pod(pods)

    def remove(self, replicas: Iterable[ReplicaView], guard: WriteGuard | None) -> None:
        for r in replicas:
            for pod in r.pods:
                self.delete(pod, guard)
