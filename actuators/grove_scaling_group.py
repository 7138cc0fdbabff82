"""Grove PodCliqueScalingGroup (grove.io/v1alpha1): one replica is one whole gang of cliques."""

from __future__ import annotations

from sla_planner.actuators.custom_resource import CustomResourceScaleActuator


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
