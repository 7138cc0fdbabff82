"""The engines' own gauges beside the demand, so the planner can tell a real jump in the request
count from a glitched counter (model.forecast.robust_demand).

Per interval, the peak over the interval of the gauges the reactive path reads
(sources.prometheus_queues, the same PromQL, `metrics.queues` overrides included), each as a
subquery evaluated at the interval's end: `max_over_time((<gauge query>)[<interval>:<res>])`.

    engine_requests   peak of prefill_queue + decode_queue + decode_running (requests waiting
                      and running in the engines)
    engine_kv         peak of kv_usage (the decode engines' KV-cache use, 0..1)

A gauge with no series is unknown (None), never 0: the guard then judges without it. A failed
read leaves the demand as the source read it (gauges unknown) and is logged once per distinct
error: the gauges only confirm, they never hold the tick.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from sla_planner.model.types import DemandSample
from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_http import PrometheusHttp
from sla_planner.sources.prometheus_queues import QueueConfig, QueueReader
from sla_planner.sources.promql import duration

log = logging.getLogger("sla_planner.sources.gauges")

_BUSY = ("prefill_queue", "decode_queue", "decode_running")
_POINTS_PER_INTERVAL = 12  # the subquery's resolution: a twelfth of the interval, >= 1 s


class EngineGauges:
    def __init__(
        self, prom: PrometheusConfig, queues: QueueConfig, http: PrometheusHttp | None = None
    ) -> None:
        self.reader = QueueReader(prom, queues, http)
        self.max_points = prom.max_points_per_query

    def close(self) -> None:
        self.reader.close()

    def peaks(self, start: float, n: int, step_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(engine_requests, engine_kv) per interval of `step_s` from `start`, NaN where
        unknown. Raises MetricsSourceError when Prometheus cannot be read."""
        parts = [self._peak(k, start, n, step_s) for k in _BUSY]
        stacked = np.vstack(parts)
        known = np.isfinite(stacked).any(axis=0)
        busy = np.where(known, np.nansum(stacked, axis=0), math.nan)
        return busy, self._peak("kv_usage", start, n, step_s)

    def _peak(self, key: str, start: float, n: int, step_s: float) -> np.ndarray:
        res = duration(max(step_s / _POINTS_PER_INTERVAL, 1.0))
        expr = f"max_over_time(({self.reader.exprs[key]})[{duration(step_s)}:{res}])"
        data = self.reader.http.query_range(
            expr, start + step_s, start + n * step_s, step_s, self.max_points
        )
        if not data:
            return np.full(n, math.nan)
        values = np.vstack(list(data.values()))
        known = np.isfinite(values).any(axis=0)
        return np.where(known, np.nansum(values, axis=0), math.nan)


class EngineGaugeSource:
    """A MetricsSource whose samples also carry the engines' gauge peaks (module doc)."""

    def __init__(self, source: Any, gauges: EngineGauges) -> None:
        self.source = source
        self.gauges = gauges
        self._last_error: str | None = None

    def time_range(self) -> tuple[float, float] | None:
        return self.source.time_range()  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:  # available_history(), ...
        return getattr(self.source, name)

    def close(self) -> None:
        self.gauges.close()
        close = getattr(self.source, "close", None)
        if close is not None:
            close()

    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        samples: list[DemandSample] = self.source.fetch(start, end, step_s)
        if not samples:
            return samples
        try:
            busy, kv = self.gauges.peaks(samples[0].start, len(samples), step_s)
        except MetricsSourceError as exc:
            if str(exc) != self._last_error:
                log.warning("engine_gauges_unread error=%r: judging demand without them", str(exc))
            self._last_error = str(exc)
            return samples
        self._last_error = None
        return [
            dataclasses.replace(s, engine_requests=_known(busy[i]), engine_kv=_known(kv[i]))
            for i, s in enumerate(samples)
        ]


def _known(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
