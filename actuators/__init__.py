"""Actuators: read current/ready replicas of a pool's Kubernetes object and set desired.

One protocol (actuators.base.Actuator) with one implementation per kind: Grove
PodCliqueScalingGroup and PodClique, LeaderWorkerSet, apps/v1 Deployment (all through the scale
subresource) and MetricsOnly (publish for HPA/KEDA, change nothing). build_actuator() picks one
from a TargetConfig.
"""

from sla_planner.actuators.base import Actuator, ActuatorError, ReplicaStatus

__all__ = ["Actuator", "ActuatorError", "ReplicaStatus"]
