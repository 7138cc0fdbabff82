"""Plain data passed between the planner's parts. No I/O here."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from sla_planner.model.reasons import Binding, FleetReason, Limit

# The name of the one deployment a single-deployment config plans (a fleet of one), and of its
# one variant.
DEFAULT_DEPLOYMENT = "default"
DEFAULT_VARIANT = "default"


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
    `clipped` names the fields the demand guard clipped (model.forecast.robust_demand): the forecasters
    learn those values as a level but not as a forecast error.
    `engine_requests` / `engine_kv`: the engines' own gauges over the interval, their peaks
    (requests running + waiting, summed over the engines; the decode engines' KV-cache use,
    0..1); None when the source does not read them. The demand guard checks a jump in the
    count against them.
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
    engine_requests: float | None = None
    engine_kv: float | None = None

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
    gpu_type: str = ""  # the GPU type its replicas run on ("" when the policy does not say)
    reasons: tuple[FleetReason, ...] = ()  # the allocator's codes (priority, budget, ...)

    @property
    def gpus_per_replica(self) -> int:
        return self.gpus // self.replicas if self.replicas > 0 else 1


@dataclass(frozen=True)
class Held:
    """An old variant's replicas kept serving during a switch, until the new ones are ready."""

    variant: str
    prefill: int
    decode: int
    prefill_type: str
    decode_type: str
    prefill_gpus: int  # GPUs, not replicas
    decode_gpus: int
    until: float

    def gpus_by_type(self) -> dict[str, int]:
        out = {self.prefill_type: self.prefill_gpus}
        out[self.decode_type] = out.get(self.decode_type, 0) + self.decode_gpus
        return out


@dataclass(frozen=True)
class Decision:
    """One deployment's decision for the interval starting at `timestamp`."""

    timestamp: float  # unix seconds: start of the interval the decision is for
    prefill: PoolDecision
    decode: PoolDecision
    forecast: DemandForecast
    budget_gpus: int | None  # the deployment's own GPU cap (max_gpus), None: none
    notes: tuple[str, ...] = field(default_factory=tuple)
    deployment: str = DEFAULT_DEPLOYMENT
    variant: str = DEFAULT_VARIANT
    rank: int = 0  # priority rank, 0 first
    held: Held | None = None  # old variant's replicas still counted (a switch in progress)
    # The model's expected attainment at the planned demand, computed when first read (the
    # single-deployment outputs never read it).
    attainment_of: Callable[[], float] | None = field(default=None, repr=False, compare=False)
    cost_per_hour: float = math.nan  # every GPU it holds, old variant included
    reasons: tuple[FleetReason, ...] = ()  # the deployment's codes (variant switch, ...)
    summary: str = ""  # the deployment's own why (a variant switch, an SLO out of reach)

    @property
    def total_gpus(self) -> int:
        return self.prefill.gpus + self.decode.gpus

    @property
    def name(self) -> str:
        return self.deployment

    @functools.cached_property
    def expected_attainment(self) -> float:
        return self.attainment_of() if self.attainment_of is not None else math.nan

    def gpus_by_type(self) -> dict[str, int]:
        """GPUs per type it holds, the old side of a switch included."""
        out: dict[str, int] = dict(self.held.gpus_by_type()) if self.held else {}
        for pool in (self.prefill, self.decode):
            out[pool.gpu_type] = out.get(pool.gpu_type, 0) + pool.gpus
        return out


@dataclass(frozen=True)
class Preemption:
    victim: str
    gpu_type: str
    gpus: int  # GPUs it gave up this tick
    beneficiaries: tuple[str, ...]  # higher-class deployments that grew on that type


@dataclass(frozen=True)
class FleetDecision:
    """Every deployment's decision at one tick (a single deployment is a fleet of one)."""

    timestamp: float
    deployments: tuple[Decision, ...]
    budget: Mapping[str, int | None]  # GPUs per type (None: unlimited)
    preemptions: tuple[Preemption, ...] = ()
    # Deployments left out because their planning failed (they hold what they run), and why.
    errors: Mapping[str, Exception] = field(default_factory=dict)

    def used(self) -> dict[str, int]:
        out = {t: 0 for t in self.budget}
        for d in self.deployments:
            for t, g in d.gpus_by_type().items():
                out[t] = out.get(t, 0) + g
        return out

    def by_name(self, name: str) -> Decision:
        return next(d for d in self.deployments if d.deployment == name)

    @property
    def only(self) -> Decision:
        """The decision of a fleet of one."""
        if len(self.deployments) != 1:
            raise ValueError(f"{len(self.deployments)} deployments: name the one you want")
        return self.deployments[0]
