"""apps/v1 Deployment (e.g. a router or an aggregated pool) through AppsV1Api's scale calls,
and its pods for a drain-aware scale-down."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from sla_planner.actuators.base import ReplicaStatus
from sla_planner.actuators.errors import KubeActuatorError, Operation, translate
from sla_planner.actuators.replica_pods import (
    PodView,
    RemovalOrder,
    ReplicaPods,
    ReplicaView,
    by_pod,
    label_selector,
)
from sla_planner.actuators.scale_subresource import (
    FIELD_MANAGER,
    ScaleSubresourceActuator,
    ScaleView,
)


class DeploymentActuator(ScaleSubresourceActuator):
    kind = "Deployment"
    label = "Deployment"
    api_group = "apps"
    plural = "deployments"

    def __init__(self, api_client: client.ApiClient, namespace: str, name: str, **kwargs: Any):
        super().__init__(namespace, name, **kwargs)
        self._api = client.AppsV1Api(api_client)

    def _get_scale(self) -> ScaleView:
        scale = self._api.read_namespaced_deployment_scale(
            self.name, self.namespace, _request_timeout=self.timeout
        )
        spec_replicas = scale.spec.replicas if scale.spec is not None else None
        return ScaleView(
            replicas=int(spec_replicas or 0),
            resource_version=scale.metadata.resource_version if scale.metadata else None,
        )

    def _put_scale(self, view: ScaleView, replicas: int, timeout_s: float) -> None:
        body = client.V1Scale(
            api_version="autoscaling/v1",
            kind="Scale",
            metadata=client.V1ObjectMeta(
                name=self.name, namespace=self.namespace, resource_version=view.resource_version
            ),
            spec=client.V1ScaleSpec(replicas=replicas),
        )
        self._api.replace_namespaced_deployment_scale(
            self.name,
            self.namespace,
            body,
            field_manager=FIELD_MANAGER,
            _content_type="application/json",
            _request_timeout=timeout_s,
        )

    def _get_status(self) -> ReplicaStatus:
        dep = self._api.read_namespaced_deployment(
            self.name, self.namespace, _request_timeout=self.timeout
        )
        status = dep.status
        generation = dep.metadata.generation if dep.metadata else None
        observed = status.observed_generation if status else None
        current = status is not None and (
            observed is None or generation is None or observed >= generation
        )
        return ReplicaStatus(
            desired=int(dep.spec.replicas if dep.spec and dep.spec.replicas is not None else 0),
            # available = ready for minReadySeconds: the count actually serving
            ready=int((status.available_replicas if status else None) or 0),
            observed_generation_current=current,
        )


class DeploymentPods(ReplicaPods):
    """A Deployment's pods, one per replica; the ReplicaSet controller removes the chosen ones
    first once they carry the lowest pod-deletion-cost (ActivePodsWithRanks, criterion 4,
    after the readiness classes of `class_rank`)."""

    order = RemovalOrder.DELETION_COST
    label = "Deployment"

    def __init__(self, api_client: client.ApiClient, namespace: str, name: str, **kwargs: Any):
        super().__init__(api_client, namespace, name, **kwargs)
        self._apps = client.AppsV1Api(api_client)
        self._selector: str | None = None  # spec.selector is immutable in apps/v1

    def selector(self) -> str:
        if self._selector is None:
            try:
                dep = self._apps.read_namespaced_deployment(
                    self.name, self.namespace, _request_timeout=self.timeout_s
                )
            except Exception as exc:  # noqa: BLE001 - translated below
                op = Operation("get", "deployments", "apps", self.namespace)
                raise translate(exc, self.description, op, timeout_s=self.timeout_s) from exc
            sel = dep.spec.selector if dep.spec is not None else None
            as_dict = self.api_client.sanitize_for_serialization(sel) if sel is not None else {}
            self._check_serving_label(as_dict)
            self._selector = label_selector(as_dict)
        return self._selector

    def _check_serving_label(self, selector: dict[str, Any]) -> None:
        # Flipping a label the ReplicaSet selects on would orphan the pod: the ReplicaSet
        # would start a replacement and the drained pod would never be removed.
        keys = set(selector.get("matchLabels") or {})
        keys |= {e.get("key") for e in selector.get("matchExpressions") or []}
        if self.serving_label in keys:
            raise KubeActuatorError(
                f"{self.description}: serving_label {self.serving_label!r} is part of the "
                "Deployment's selector; flipping it would orphan the pod. Fix: select on other "
                "labels in the Deployment, and on this one only in the Service or InferencePool.",
                reason="invalid",
                retryable=False,
            )

    def group(self, pods: list[PodView]) -> list[ReplicaView]:
        return by_pod(pods)

    def blocked(self, pods: list[PodView]) -> str | None:
        # A rollout: the Deployment controller splits a scale-down across its ReplicaSets in
        # proportion, so which pods go cannot be chosen until one ReplicaSet is left.
        hashes = {p.labels.get("pod-template-hash") for p in pods}
        if len(hashes) > 1:
            return f"a rollout is in progress (pods of {len(hashes)} ReplicaSets)"
        return None
