"""LeaderWorkerSet (leaderworkerset.x-k8s.io/v1): one replica is one leader + (size-1) workers."""

from __future__ import annotations

from sla_planner.actuators.custom_resource import CustomResourceScaleActuator


class LeaderWorkerSetActuator(CustomResourceScaleActuator):
    kind = "LeaderWorkerSet"
    label = "LeaderWorkerSet"
    api_group = "leaderworkerset.x-k8s.io"
    version = "v1"
    plural = "leaderworkersets"
    # groups whose leader and whole worker StatefulSet are ready (omitted by LWS when 0)
    ready_field = "readyReplicas"
