"""Planner settings shared by the dry run, the simulator and the in-cluster loop.

Validated with pydantic so a bad value is rejected with a message naming the field. Every
number must be finite and inside a sane range: the planner's work per decision grows with
some of them (forecast steps, replica counts), so an absurd value would be an unbounded tick,
not just a strange plan. The bounds are far outside any real deployment; each says why.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

DAY_S = 86400.0
# Replicas per pool when max_replicas is not set (or null): every pool has a finite ceiling,
# so no input (a zero-KV profile, a 1e18-token request, a counter glitch) can ask the cluster
# for a million replicas. 1000 engines is beyond the largest single-model deployments we know
# of; set max_replicas (up to REPLICAS_LIMIT) to go further.
DEFAULT_MAX_REPLICAS = 1000
# Hard bound on any replica setting: the budget split scores every count up to the pool's
# ceiling each decision, so this bounds its work (~0.3 s at 10,000).
REPLICAS_LIMIT = 10_000
# A decision growing a pool beyond this factor in one step is refused as absurd (bad input,
# not demand): the controller's `loop.max_step_factor` default, and the reactive path's
# implausible-reading hold.
DEFAULT_MAX_STEP_FACTOR = 100.0
# Growth up to this many replicas in one step is never called absurd, whatever the factor.
ABSURD_MIN_STEP = 8


def absurd_limit(current: int, factor: float) -> int:
    """Most replicas one decision may ask of a pool running `current` before it is refused as
    absurd (orders of magnitude beyond what runs: bad input, not demand)."""
    return max(math.ceil(factor * max(current, 1)), current + ABSURD_MIN_STEP)


# Forecast steps one decision plans over (ceil(startup_s / interval_s) + 1): each step is sized,
# so this bounds a decision's work (~0.5 s at 1440 steps). A day at 60 s intervals.
MAX_HORIZON_STEPS = 1440
# Times the planner accepts (unix seconds): 1970-01-01 .. 9999-12-31T23:59:59Z, what a
# datetime can show. A time beyond cannot be printed, compared with a trace's dates or sent
# to Prometheus (it ended in 'internal error (year -29719 is out of range)').
MAX_UNIX_S = 253_402_300_799.0


def check_time(t: float, what: str) -> float:
    """`t` when it is a time the planner accepts; else ValueError naming `what`."""
    if not (math.isfinite(t) and 0.0 <= t <= MAX_UNIX_S):
        raise ValueError(
            f"{what} {t:g} is not a time between 1970-01-01 and 9999-12-31 (unix seconds "
            f"0 .. {MAX_UNIX_S:.0f})"
        )
    return t


class ErrorBudgetSettings(BaseModel):
    """Tuning of the error-budget controller (PlannerConfig.error_budget)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aim: float = Field(
        0.9, gt=0, le=1.0, description="budget burn rate aimed at (< 1 keeps room for noise)"
    )
    gain: float = Field(
        0.2, ge=0, le=2.0, allow_inf_nan=False, description="integral gain per window (0: off)"
    )
    prior_misses: float = Field(
        3.0, gt=0, allow_inf_nan=False, description="pseudo-misses on the aim per window"
    )
    short_window_s: float = Field(
        900.0, gt=0, allow_inf_nan=False, description="fast-attack burn window"
    )
    long_window_s: float = Field(21600.0, gt=0, allow_inf_nan=False, description="reported burn")
    max_tighten: float = Field(
        100.0, ge=1.0, allow_inf_nan=False, description="plan for at least B x aim / this"
    )
    max_loosen: float = Field(
        2.0, ge=1.0, allow_inf_nan=False, description="plan for at most B x aim x this"
    )
    # How the budget is spent (sla_planner.model.size.slo_price): "goal" aims every interval
    # at the same planned miss share; "price" prices a miss in GPU-hours and buys, interval
    # by interval, the replicas minimising GPUs + price x expected misses, the controller
    # moving the price.
    sizing: Literal["goal", "price"] = "goal"
    price_window_s: float = Field(
        86400.0,
        gt=0,
        allow_inf_nan=False,
        description="time constant of the reference price (the goal sizing's shadow price)",
    )
    price_max_miss: float = Field(
        5.0,
        ge=1.0,
        le=50.0,
        allow_inf_nan=False,
        description="a priced interval may plan to miss at most this x the budget",
    )


class ReactiveSettings(BaseModel):
    """PlannerConfig.reactive: the fast path's thresholds and period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    interval_s: float = Field(5.0, gt=0, le=600, allow_inf_nan=False, description="check period")
    # Tuned on day 2 of the Azure week: at 1x (a queue worth one TTFT target) the rule fired
    # 143 times a day on ordinary M/G/n queueing at 85-90% utilisation, +2.7% GPU-hours for
    # attainment the error budget did not ask for; at 5x it fires on real bursts only.
    prefill_backlog: float = Field(
        5.0, gt=0, allow_inf_nan=False, description="trigger: queue clearing time / TTFT target"
    )
    ttft_factor: float = Field(
        5.0, gt=0, allow_inf_nan=False, description="trigger: p99 TTFT / target (with a queue)"
    )
    kv_high: float = Field(0.95, gt=0, le=1.0, description="trigger: decode KV cache use")
    utilisation: float = Field(
        0.9, gt=0, le=1.0, description="share of capacity the raised pool is sized to"
    )
    drain_s: float = Field(60.0, gt=0, allow_inf_nan=False, description="clear a backlog within")
    max_step: float = Field(2.0, gt=1.0, le=10.0, description="most a reaction multiplies a pool")
    # Reactions stack (a burst can outlast one step), so one step's bound alone let a broken
    # signal double a pool every check up to max_replicas. The demand guard never lets one
    # interval move the plan by more than ~10x, and real traffic peaks within 3.3x of its
    # recent scale (model.forecast.robust_demand); the plan is already sized for the planning
    # quantile and bursts, so a burst needing more than 4x it is not one the fast path should
    # chase before the planner has seen it. At least one replica over the plan always passes.
    max_over_plan: float = Field(
        4.0,
        ge=1.0,
        le=100.0,
        allow_inf_nan=False,
        description="reactions take a pool to at most this x the plan's replicas (+1 at least)",
    )


class _Strict(BaseModel):
    # allow_inf_nan=False: `interval_s: .inf` or a NaN target is an error, never a value.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SLO(_Strict):
    """The operator's objective: `attainment` of requests meet TTFT <= ttft_ms AND mean
    ITL <= itl_ms. None: no attainment target, fixed-margin sizing (each pool sized for its own
    latency target with the forecast's margin)."""

    # Latency targets, not timeouts: ten minutes to a first token or a minute per token is no
    # SLA a planner can size for.
    ttft_ms: float = Field(
        200.0, gt=0, le=600_000, description="time-to-first-token target, ms (<= 10 min)"
    )
    itl_ms: float = Field(25.0, gt=0, le=60_000, description="inter-token latency target, ms")
    # Below 0.5 a planner would be told that most requests may miss: a typo, not an SLO.
    attainment: float | None = Field(
        0.99, ge=0.5, lt=1.0, description="share of requests to meet both targets (null: off)"
    )


SLA = SLO  # the old name (configs and code written before SLO targeting)


class PoolLimits(_Strict):
    min_replicas: int = Field(1, ge=0, le=REPLICAS_LIMIT)
    # Never unbounded: omitted or null means DEFAULT_MAX_REPLICAS.
    max_replicas: int = Field(DEFAULT_MAX_REPLICAS, ge=0, le=REPLICAS_LIMIT)

    @field_validator("max_replicas", mode="before")
    @classmethod
    def _default_ceiling(cls, value: Any) -> Any:
        return DEFAULT_MAX_REPLICAS if value is None else value

    @model_validator(mode="after")
    def _order(self) -> PoolLimits:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas}); "
                f"raise max_replicas (up to {REPLICAS_LIMIT}) or lower min_replicas"
            )
        return self


class Budget(_Strict):
    max_gpus: int | None = Field(
        None, ge=1, le=1_000_000, description="global GPU cap across both pools"
    )
    # GPUs of prefill per GPU of decode; outside 1:1000..1000:1 it is a typo, not a design.
    min_prefill_decode_ratio: float | None = Field(None, gt=0, le=1000)
    max_prefill_decode_ratio: float | None = Field(None, gt=0, le=1000)

    @model_validator(mode="after")
    def _order(self) -> Budget:
        lo, hi = self.min_prefill_decode_ratio, self.max_prefill_decode_ratio
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(
                f"min_prefill_decode_ratio ({lo}) exceeds max_prefill_decode_ratio ({hi}); swap them"
            )
        return self


class PlannerConfig(_Strict):
    # `sla:` is the old name (configs written before SLO targeting); errors name what was written.
    slo: SLO = Field(SLO(), validation_alias=AliasChoices("slo", "sla"))
    # 1 s .. 1 day: below a second no metrics source resolves demand; above a day the planner
    # is a static sizing tool, and the dry run's 10 s simulation bins would number millions.
    interval_s: float = Field(60.0, ge=1.0, le=DAY_S, description="decision interval, seconds")
    startup_s: float = Field(
        120.0, ge=0, le=DAY_S, description="time for a new replica to become ready (<= 1 day)"
    )
    budget: Budget = Budget()
    prefill: PoolLimits = PoolLimits()
    decode: PoolLimits = PoolLimits()
    forecaster: str = "default"
    # Quantile of the demand forecast the sizer provisions for (a safety margin). 0.99 was
    # tuned on days 2-4 of the Azure 2024 week (benchmarks/tune_sizing.py); at 0.9 the
    # request-weighted attainment fell to ~98%.
    planning_quantile: float = Field(0.99, gt=0, lt=1)
    # Forecast steps each decision sizes for: [now, now + horizon_s). None: startup_s +
    # interval_s, the shortest horizon whose last step is one this decision's new replicas are
    # the first to serve (a shorter one sizes nothing they arrive for).
    horizon_s: float | None = Field(None, gt=0, le=DAY_S, description="forecast horizon, s")
    # Like HPA's --horizontal-pod-autoscaler-downscale-stabilization: scale down only to the
    # highest recommendation seen within this window.
    scale_down_window_s: float = Field(300.0, ge=0, le=7 * DAY_S)
    # Up to ~10 weeks of minutes: the history is fetched and kept in memory.
    history_window: int = Field(
        1440, ge=8, le=100_000, description="intervals of history kept for forecasting"
    )
    # Plan for bursts inside an interval (planner/model/forecast/burst.py): the planned decode rate is scaled
    # by this quantile of the recent peak/mean rate ratios (DemandSample.peak_rate). None plans
    # for interval means only.
    burst_quantile: float | None = Field(0.9, gt=0, lt=1)
    burst_window: int = Field(
        60, ge=1, le=100_000, description="intervals of peak/mean ratios kept"
    )
    # The factor assumed while a source gives no peak rates (Prometheus without
    # peak_window_s): 1.1 is the p90 measured on the Azure 2024 week at 10 s sub-windows.
    burst_fallback: float = Field(1.1, ge=1.0, le=4.0)
    # How the planner corrects its margin from measured attainment (slo.attainment set).
    error_budget: ErrorBudgetSettings = ErrorBudgetSettings()
    # The fast path between predictive ticks (sla_planner.model.reactive): scale up at once
    # on a burst beyond the plan.
    reactive: ReactiveSettings = ReactiveSettings()

    @model_validator(mode="before")
    @classmethod
    def _one_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "sla" in data and "slo" in data:
            raise ValueError("give slo or its old name sla, not both")
        return data

    @property
    def sla(self) -> SLO:
        """The SLO under its old name (code written before SLO targeting reads config.sla)."""
        return self.slo

    @model_validator(mode="after")
    def _bounded_horizon(self) -> PlannerConfig:
        steps = math.ceil(self.startup_s / self.interval_s - 1e-9) + 1
        if self.horizon_s is not None:
            steps = math.ceil(self.horizon_s / self.interval_s - 1e-9)
        if steps > MAX_HORIZON_STEPS:
            what = (
                f"horizon_s ({self.horizon_s:g})"
                if self.horizon_s is not None
                else f"startup_s ({self.startup_s:g})"
            )
            raise ValueError(
                f"{what} / interval_s ({self.interval_s:g}) asks for a "
                f"{steps}-step forecast each decision (at most {MAX_HORIZON_STEPS}); raise "
                "interval_s or lower "
                + ("horizon_s" if self.horizon_s is not None else "startup_s")
            )
        return self


class Hysteresis(_Strict):
    """A deployment moves to another variant only when, on every tick for `hold_s` seconds,
    that one saves at least `min_saving` of the current cost; or, for `rescue_hold_s`, the
    current one cannot meet the SLO (within the budget its class can have) and that one can."""

    min_saving: float = Field(0.15, ge=0, lt=1)
    hold_s: float = Field(600.0, ge=0, le=7 * 86400)
    rescue_hold_s: float = Field(120.0, ge=0, le=7 * 86400)
