"""Build the Actuator a TargetConfig names (one scaler interface, many kinds, like KEDA)."""

from __future__ import annotations

import time
from collections.abc import Callable

from kubernetes import client

from sla_planner.actuators.base import Actuator
from sla_planner.actuators.config import TargetConfig
from sla_planner.actuators.deployment import DeploymentActuator, DeploymentPods
from sla_planner.actuators.grove_podclique import GrovePodCliqueActuator, PodCliquePods
from sla_planner.actuators.grove_scaling_group import GroveScalingGroupActuator, ScalingGroupPods
from sla_planner.actuators.leaderworkerset import LeaderWorkerSetActuator, LeaderWorkerSetPods
from sla_planner.actuators.metrics_only import MetricsOnlyActuator
from sla_planner.actuators.replica_pods import ReplicaPods
from sla_planner.actuators.scale_subresource import ScaleSubresourceActuator

KUBE_ACTUATORS: dict[str, type[ScaleSubresourceActuator]] = {
    "PodCliqueScalingGroup": GroveScalingGroupActuator,
    "PodClique": GrovePodCliqueActuator,
    "LeaderWorkerSet": LeaderWorkerSetActuator,
    "Deployment": DeploymentActuator,
}
KUBE_PODS: dict[str, type[ReplicaPods]] = {
    "PodCliqueScalingGroup": ScalingGroupPods,
    "PodClique": PodCliquePods,
    "LeaderWorkerSet": LeaderWorkerSetPods,
    "Deployment": DeploymentPods,
}


def build_actuator(
    target: TargetConfig,
    api_client: client.ApiClient | None,
    *,
    pool: str = "",
    sleep: Callable[[float], None] = time.sleep,
) -> Actuator:
    """The actuator for `target`. `api_client` may be None only for MetricsOnly without observe."""
    if target.kind == "MetricsOnly":
        observe = (
            build_actuator(target.observe, api_client, pool=pool, sleep=sleep)
            if target.observe is not None
            else None
        )
        return MetricsOnlyActuator(pool, observe=observe)
    if api_client is None:
        raise ValueError(
            f"target kind {target.kind} needs a Kubernetes API client; "
            "use actuators.kube_client.load_api_client()"
        )
    assert target.namespace is not None  # TargetConfig validation guarantees it
    cls = KUBE_ACTUATORS[target.kind]
    return cls(  # type: ignore[call-arg]
        api_client,
        target.namespace,
        target.resolved_name(),
        request_timeout_s=target.request_timeout_s,
        conflict_retries=target.conflict_retries,
        sleep=sleep,
    )


def build_replica_pods(
    target: TargetConfig, api_client: client.ApiClient, *, serving_label: str | None = None
) -> ReplicaPods | None:
    """The pods of `target` for a drain-aware scale-down; None for MetricsOnly (the planner
    lowers nothing there: the autoscaler reading its decision does)."""
    if target.kind == "MetricsOnly":
        return None
    assert target.namespace is not None  # TargetConfig validation guarantees it
    return KUBE_PODS[target.kind](
        api_client,
        target.namespace,
        target.resolved_name(),
        request_timeout_s=target.request_timeout_s,
        serving_label=serving_label,
    )
