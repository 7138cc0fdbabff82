"""apps/v1 Deployment (e.g. a router or an aggregated pool) through AppsV1Api's scale calls."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from sla_planner.actuators.base import ReplicaStatus
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
