"""Plain data passed between the planner's parts. No I/O here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from sla_planner.model.pool_reasons import Binding, Limit


class Pool(str, Enum):
    PREFILL = "prefill"
    DECODE = "decode"


@dataclass(frozen=True)
class DemandSample:
    """Demand observed in one interval [start, start + duration_s).

    `requests` is a count in the interval (not a rate). ISL/OSL are means over the
    interval's requests and are NaN when the interval had no requests. Observed
    latencies are None when the source does not have them. `peak_rate` is the highest
    request rate (req/s) over the interval's sub-windows (e.g. 10 s): the burst inside the
    interval that its mean hides; None when the source cannot resolve below the interval.
    `incomplete` says why the interval's data is known to be incomplete (a scrape gap, NaN
    samples): its counts are then a lower bound, never evidence of a demand drop.
    `clipped` names the fields the demand guard clipped (model.robust_demand): the forecasters
    learn those values as a level but not as a forecast error.
    """

    start: float  # unix seconds, bin start
    duration_s: float
    requests: float
    isl_mean: float
    osl_mean: float
    ttft_mean_ms: float | None = None
    ttft_p95_ms: float | None = None
    itl_mean_ms: float | None = None
    itl_p95_ms: float | None = None
    peak_rate: float | None = None
    peak_window_s: float | None = None
    isl_scv: float | None = None
    incomplete: str | None = None
    clipped: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.duration_s if self.duration_s > 0 else math.nan


@dataclass(frozen=True)
class DemandForecast:
    """Forecast demand for one future interval, at the quantile the sizer should plan for."""

    requests: float  # count per interval, mean forecast
    isl: float  # mean input tokens per request
    osl: float  # mean output tokens per request
    requests_upper: float | None = None  # count at the planning quantile (>= requests)
    isl_upper: float | None = None
    osl_upper: float | None = None


@dataclass(frozen=True)
class PoolDecision:
    pool: Pool
    replicas: int  # after budget and stabilisation
    gpus: int  # replicas * gpus_per_replica
    wanted_replicas: int  # what SLA sizing alone asked for
    expected_latency_ms: float  # TTFT for prefill, ITL for decode, at `replicas`
    target_ms: float
    reason: str = ""
    binding: Binding | None = None  # what set sizing's size (None: not from the planner)
    limit: Limit | None = None  # what overrode it (Limit.NONE: nothing)


@dataclass(frozen=True)
class Decision:
    timestamp: float  # unix seconds: start of the interval the decision is for
    prefill: PoolDecision
    decode: PoolDecision
    forecast: DemandForecast
    budget_gpus: int | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total_gpus(self) -> int:
        return self.prefill.gpus + self.decode.gpus
