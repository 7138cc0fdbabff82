"""Grove PodClique (grove.io/v1alpha1): one replica is one pod of the clique."""

from __future__ import annotations

from sla_planner.actuators.custom_resource import CustomResourceScaleActuator


class GrovePodCliqueActuator(CustomResourceScaleActuator):
    kind = "PodClique"
    label = "grove PodClique"
    api_group = "grove.io"
    not_found_hint = "Grove names a standalone PodClique <podcliqueset>-<replicaIndex>-<clique>"
    version = "v1alpha1"
    plural = "podcliques"
    ready_field = "readyReplicas"  # ready pods (podclique.go PodCliqueStatus)
