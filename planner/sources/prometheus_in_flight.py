"""The engines' in-flight requests per pod, from Prometheus: what a drain-aware scale-down
chooses by (the least loaded replicas go) and waits on (a replica leaves once it reads 0).

One instant query at `now`, one series per pod (by `pod_label`), with the pods of one
namespace (`namespace_label`, the target's) and the configured `selector`:

    vllm     sum by (pod) ({__name__=~"vllm:num_requests_running|vllm:num_requests_waiting",<m>})
    dynamo   sum by (pod) (dynamo_component_inflight_requests{<m>})

vLLM's gauges count the sequences an engine runs and the ones it queued (both are lost if the
pod goes); Dynamo's runtime gauge counts the requests a worker's endpoints are processing. A
`query` replaces the preset: `{selector}` in it is replaced by the label matchers (without
braces), and it must answer one series per pod labelled with `pod_label`. A pod with no series
is absent from the answer ("unknown", never 0). Errors raise MetricsSourceError.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np

from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_http import PrometheusHttp, http_from_config
from sla_planner.sources.promql import normalize_selector

Gauge = Literal["vllm", "dynamo"]
VLLM_GAUGES = '__name__=~"vllm:num_requests_running|vllm:num_requests_waiting"'
DYNAMO_GAUGE = "dynamo_component_inflight_requests"


def in_flight_query(
    gauge: Gauge, query: str | None, selector: str, pod_label: str, namespace_label: str | None,
    namespace: str,
) -> str:  # fmt: skip
    """The PromQL answering one series per pod of `namespace`."""
    matchers = [m for m in (normalize_selector(selector),) if m]
    if namespace_label:
        matchers.append(f'{namespace_label}="{namespace}"')
    sel = ",".join(matchers)
    if query is not None:
        return query.replace("{selector}", sel)
    if gauge == "vllm":
        series = "{" + ",".join([VLLM_GAUGES, *matchers]) + "}"
    else:
        series = f"{DYNAMO_GAUGE}{{{sel}}}" if sel else DYNAMO_GAUGE
    return f"sum by ({pod_label}) ({series})"


class InFlightReader:
    def __init__(
        self,
        prom: PrometheusConfig,
        *,
        gauge: Gauge = "vllm",
        query: str | None = None,
        selector: str = "",
        pod_label: str = "pod",
        namespace_label: str | None = "namespace",
        http: PrometheusHttp | None = None,
    ) -> None:
        self.gauge, self.query, self.selector = gauge, query, selector
        self.pod_label, self.namespace_label = pod_label, namespace_label
        self.http = http or http_from_config(prom)

    def expression(self, namespace: str) -> str:
        return in_flight_query(
            self.gauge, self.query, self.selector, self.pod_label, self.namespace_label, namespace
        )

    def close(self) -> None:
        self.http.close()

    def read(self, namespace: str, now: float) -> Mapping[str, float]:
        """In-flight requests per pod name at `now` (pods without a series are absent)."""
        if not math.isfinite(now):
            raise MetricsSourceError(f"time must be finite, got {now}")
        data = self.http.query_range(self.expression(namespace), now, now, 1.0, 2)
        out: dict[str, float] = {}
        for labels, values in data.items():
            pod = dict(labels).get(self.pod_label)
            if pod is None or not values.size or not np.isfinite(values[0]):
                continue
            out[pod] = out.get(pod, 0.0) + max(float(values[0]), 0.0)
        return out
