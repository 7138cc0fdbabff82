"""Build the Actuator a TargetConfig names (one scaler interface, many kinds, like KEDA)."""

from __future__ import annotations

import time
from collections.abc import Callable

from kubernetes import client

from sla_planner.actuators.base import Actuator
from sla_planner.actuators.config import TargetConfig
from sla_planner.actuators.deployment import DeploymentActuator
from sla_planner.actuators.grove_podclique import GrovePodCliqueActuator
from sla_planner.actuators.grove_scaling_group import GroveScalingGroupActuator
from sla_planner.actuators.leaderworkerset import LeaderWorkerSetActuator
from sla_planner.actuators.metrics_only import MetricsOnlyActuator
from sla_planner.actuators.scale_subresource import ScaleSubresourceActuator

KUBE_ACTUATORS: dict[str, type[ScaleSubresourceActuator]] = {
    "PodCliqueScalingGroup": GroveScalingGroupActuator,
    "PodClique": GrovePodCliqueActuator,
    "LeaderWorkerSet": LeaderWorkerSetActuator,
    "Deployment": DeploymentActuator,
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
