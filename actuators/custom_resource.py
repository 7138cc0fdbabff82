"""Scale subresource of a namespaced custom resource through CustomObjectsApi."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client

from sla_planner.actuators.base import ReplicaStatus
from sla_planner.actuators.scale_subresource import (
    FIELD_MANAGER,
    ScaleSubresourceActuator,
    ScaleView,
    nested_int,
    status_from_object,
)


class CustomResourceScaleActuator(ScaleSubresourceActuator):
    """Base for CRD kinds; subclasses set kind, api_group, version, plural and ready_field."""

    version: str = ""
    ready_field: str = ""  # status field counting replicas ready to serve

    def __init__(self, api_client: client.ApiClient, namespace: str, name: str, **kwargs: Any):
        super().__init__(namespace, name, **kwargs)
        self._api = client.CustomObjectsApi(api_client)

    def _get_scale(self) -> ScaleView:
        scale = self._api.get_namespaced_custom_object_scale(
            self.api_group,
            self.version,
            self.namespace,
            self.plural,
            self.name,
            _request_timeout=self.timeout,
        )
        if not isinstance(scale, Mapping):
            raise ValueError(f"scale subresource returned {type(scale).__name__}, not an object")
        return ScaleView(
            replicas=nested_int(scale, "spec", "replicas"),
            resource_version=(scale.get("metadata") or {}).get("resourceVersion"),
        )

    def _put_scale(self, view: ScaleView, replicas: int, timeout_s: float) -> None:
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "resourceVersion": view.resource_version,  # 409 if anyone wrote since (never absent)
        }
        body = {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": metadata,
            "spec": {"replicas": replicas},
        }
        self._api.replace_namespaced_custom_object_scale(
            self.api_group,
            self.version,
            self.namespace,
            self.plural,
            self.name,
            body,
            field_manager=FIELD_MANAGER,
            _content_type="application/json",
            _request_timeout=timeout_s,
        )

    def _get_status(self) -> ReplicaStatus:
        obj = self._api.get_namespaced_custom_object(
            self.api_group,
            self.version,
            self.namespace,
            self.plural,
            self.name,
            _request_timeout=self.timeout,
        )
        return status_from_object(obj, self.ready_field)
