"""The live load snapshot the reactive path reads every few seconds, from Prometheus.

Instant queries at `now` (one evaluation each), by default on vLLM's engine gauges and the
preset's frontend histograms, with the prefill and decode engines told apart by label
matchers (`metrics.queues` in the run config):

    prefill_queue   sum(vllm:num_requests_waiting{<prefill_selector>})
    decode_queue    sum(vllm:num_requests_waiting{<decode_selector>})
    decode_running  sum(vllm:num_requests_running{<decode_selector>})
    kv_usage        avg(vllm:kv_cache_usage_perc{<decode_selector>})
    arrivals        sum(increase(<requests counter>{<selector>}[<window>]))
    ttft_p99_ms     1000 x histogram_quantile(0.99, sum by (le) (rate(<ttft>_bucket{<selector>}[<window>])))
    isl             sum(rate(<isl>_sum{<selector>}[<window>])) / sum(rate(<isl>_count{...}[<window>]))

Any of them can be replaced (`queries:`, same `{selector}`, `{prefill_selector}`,
`{decode_selector}` and `{window}` placeholders). A query with no result is "unknown" (None;
the rule then ignores that signal), never zero, except the two queues and arrivals, for which
no series means nothing waiting / arriving. Errors raise MetricsSourceError.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sla_planner.model.reactive import LoadSnapshot
from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_http import PrometheusHttp, http_from_config
from sla_planner.sources.promql import PRESETS, duration, normalize_selector

QUERIES = {
    "prefill_queue": "sum(vllm:num_requests_waiting{{prefill_selector}})",
    "decode_queue": "sum(vllm:num_requests_waiting{{decode_selector}})",
    "decode_running": "sum(vllm:num_requests_running{{decode_selector}})",
    "kv_usage": "avg(vllm:kv_cache_usage_perc{{decode_selector}})",
}
_ZERO_IF_ABSENT = ("prefill_queue", "decode_queue", "arrivals")


class QueueConfig(BaseModel):
    """Where the reactive path reads queues (run config: metrics.queues)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefill_selector: str = Field(
        description='label matchers of the prefill engines, e.g. component="prefill"'
    )
    decode_selector: str = Field(description="label matchers of the decode engines")
    window_s: float = Field(30.0, gt=0, le=3600, description="rates and TTFT p99 over this window")
    queries: dict[str, str] = Field(
        default_factory=dict,
        description="PromQL per signal (prefill_queue, decode_queue, decode_running, kv_usage, "
        "arrivals, ttft_p99_ms, isl) replacing the default",
    )

    @model_validator(mode="after")
    def _check(self) -> QueueConfig:
        unknown = set(self.queries) - set(QUERIES) - {"arrivals", "ttft_p99_ms", "isl"}
        if unknown:
            raise ValueError(
                f"queries: unknown signal(s) {sorted(unknown)}; use prefill_queue, "
                "decode_queue, decode_running, kv_usage, arrivals, ttft_p99_ms or isl"
            )
        normalize_selector(self.prefill_selector)  # raises naming the expected form
        normalize_selector(self.decode_selector)
        return self


class QueueReader:
    def __init__(
        self, prom: PrometheusConfig, queues: QueueConfig, http: PrometheusHttp | None = None
    ) -> None:
        self.prom = prom
        self.cfg = queues
        self.http = http or http_from_config(prom)
        self.exprs = self._expressions()

    def _expressions(self) -> dict[str, str]:
        """Each signal's PromQL: placeholders replaced as in the source's `queries:` (plain
        text: `{selector}` is the matchers without braces, so a template reads
        `metric{{selector}}`)."""
        p, q = PRESETS[self.prom.preset], self.cfg
        fill = {
            "{selector}": self.prom.selector,
            "{prefill_selector}": normalize_selector(q.prefill_selector),
            "{decode_selector}": normalize_selector(q.decode_selector),
            "{window}": duration(q.window_s),
        }
        defaults = {
            **QUERIES,
            "arrivals": f"sum(increase({p.requests[0]}{{{{selector}}}}[{{window}}]))",
            "ttft_p99_ms": (
                "1000 * histogram_quantile(0.99, sum by (le) "
                f"(rate({p.ttft[0]}_bucket{{{{selector}}}}[{{window}}])))"
            ),
            "isl": (
                f"sum(rate({p.isl[0]}_sum{{{{selector}}}}[{{window}}])) / "
                f"sum(rate({p.isl[0]}_count{{{{selector}}}}[{{window}}]))"
            ),
        }
        out = {}
        for key, template in {**defaults, **q.queries}.items():
            expr = template
            for k, v in fill.items():
                expr = expr.replace(k, v)
            out[key] = expr
        return out

    def close(self) -> None:
        self.http.close()

    def _value(self, key: str, now: float) -> float | None:
        data = self.http.query_range(self.exprs[key], now, now, 1.0, 2)
        values = [float(v[0]) for v in data.values() if v.size and np.isfinite(v[0])]
        if not values:
            return 0.0 if key in _ZERO_IF_ABSENT else None
        return float(sum(values))

    def read(self, now: float) -> LoadSnapshot:
        """The load at `now` (MetricsSourceError when Prometheus cannot be read)."""
        if not math.isfinite(now):
            raise MetricsSourceError(f"time must be finite, got {now}")
        v = {key: self._value(key, now) for key in self.exprs}
        isl = v["isl"]
        return LoadSnapshot(
            window_s=self.cfg.window_s,
            arrivals=v["arrivals"] or 0.0,
            prefill_queue=v["prefill_queue"] or 0.0,
            decode_queue=v["decode_queue"] or 0.0,
            isl=isl if isl is not None and isl > 0 else math.nan,
            decode_running=v["decode_running"],
            kv_usage=v["kv_usage"],
            ttft_p99_ms=v["ttft_p99_ms"],
        )
