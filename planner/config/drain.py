"""`metrics.drain` of the run config (a fleet deployment's `demand.prometheus.drain`): the
engines' per-pod in-flight gauges and the knobs of a drain-aware scale-down. Unset: a
scale-down lowers `replicas` at once, as before.

    metrics:
      drain: {gauge: vllm, selector: 'job="vllm"', drain_timeout_s: 300,
              serving_label: sla-planner.io/serving}
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sla_planner.sources.promql import normalize_selector

# A label key as Kubernetes accepts it: an optional DNS-subdomain prefix and a name.
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_PROM_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gauge: Literal["vllm", "dynamo"] = Field(
        "vllm",
        description="in-flight requests per pod: vllm (vllm:num_requests_running + "
        "vllm:num_requests_waiting) or dynamo (dynamo_component_inflight_requests)",
    )
    query: str | None = Field(
        None,
        min_length=1,
        description="PromQL replacing the preset: one series per pod labelled with pod_label; "
        "{selector} is replaced by the label matchers (without braces)",
    )
    selector: str = Field("", description='label matchers added to the gauge\'s, e.g. job="vllm"')
    pod_label: str = Field("pod", description="the series label naming the pod")
    namespace_label: str | None = Field(
        "namespace", description="the series label naming the namespace (null: not filtered)"
    )
    drain_timeout_s: float = Field(
        300.0,
        gt=0,
        le=86400,
        allow_inf_nan=False,
        description="longest a replica is waited for after it was marked; then replicas are "
        "lowered with whatever it still holds (counted as drain_timeout)",
    )
    settle_s: float = Field(
        30.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="a replica reads idle only this long after it was marked: the router's "
        "update and a fresh scrape of its gauge (at least the scrape interval)",
    )
    serving_label: str | None = Field(
        None,
        description='pod label set to "false" while a pod drains and back to "true" if the '
        'drain is cancelled; a Service or InferencePool selecting <label>: "true" stops '
        "routing to it. Unset: no label is written",
    )

    @field_validator("selector")
    @classmethod
    def _selector(cls, v: str) -> str:
        return normalize_selector(v)

    @field_validator("pod_label", "namespace_label")
    @classmethod
    def _prom_label(cls, v: str | None) -> str | None:
        if v is not None and not _PROM_LABEL.match(v):
            raise ValueError(f"{v!r} is not a Prometheus label name")
        return v

    @field_validator("serving_label")
    @classmethod
    def _label_key(cls, v: str | None) -> str | None:
        if v is not None and not _LABEL_KEY.match(v):
            raise ValueError(f"{v!r} is not a Kubernetes label key (e.g. sla-planner.io/serving)")
        return v
