"""The demand each forecast step is planned for: rate at the planning quantile, lengths, and
decode's burst-scaled rate (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sla_planner.model.config import MAX_HORIZON_STEPS, PlannerConfig
from sla_planner.model.size.sizing import SizingPolicy
from sla_planner.model.types import DemandForecast


@dataclass(frozen=True)
class PlanningDemand:
    """Demand one forecast step is planned for (rate at the planning quantile)."""

    step: int  # 0 = the interval the decision is for
    rate_rps: float  # prefill's planned rate
    isl: float
    osl: float
    decode_rate_rps: float  # decode's planned rate (burst-scaled when the policy says so)


def horizon_steps(config: PlannerConfig) -> int:
    """Forecast steps covering [now, now + startup_s + interval_s) (or `horizon_s` when set),
    at least one, at most MAX_HORIZON_STEPS (PlannerConfig rejects more; the cap holds for
    unvalidated configs too)."""
    i = config.interval_s
    if config.horizon_s is not None:
        ratio = config.horizon_s / i if i > 0 else math.inf
        if not ratio < MAX_HORIZON_STEPS:
            return MAX_HORIZON_STEPS
        return max(1, min(math.ceil(ratio - 1e-9), MAX_HORIZON_STEPS))
    ratio = config.startup_s / i if i > 0 else math.inf
    if not ratio < MAX_HORIZON_STEPS:  # inf / NaN included
        return MAX_HORIZON_STEPS
    return min(math.ceil(ratio - 1e-9) + 1, MAX_HORIZON_STEPS)


def finite_pos(x: float | None) -> bool:
    return x is not None and math.isfinite(x) and x > 0


def planning_steps(
    forecasts: Sequence[DemandForecast],
    burst: float,
    policy: SizingPolicy,
    interval_s: float,
    last_isl: float,
    last_osl: float,
) -> list[PlanningDemand] | None:
    """One PlanningDemand per forecast step; None when a step has no usable request count."""
    steps: list[PlanningDemand] = []
    for i, f in enumerate(forecasts):
        # The upper quantile when the forecaster gives one (never below the mean).
        candidates = [x for x in (f.requests, f.requests_upper) if x is not None]
        finite = [x for x in candidates if math.isfinite(x)]
        count = max(finite) if finite else math.nan
        if not math.isfinite(count):
            return None
        isl, osl = f.isl, f.osl
        if policy.lengths_at_quantile:
            isl = f.isl_upper if finite_pos(f.isl_upper) else isl
            osl = f.osl_upper if finite_pos(f.osl_upper) else osl
        isl = isl if finite_pos(isl) else last_isl
        osl = osl if finite_pos(osl) else last_osl
        rate = max(count, 0.0) / interval_s
        steps.append(
            PlanningDemand(
                i,
                rate * (burst if policy.prefill_burst else 1.0),
                isl if finite_pos(isl) else 1.0,
                osl if finite_pos(osl) else 1.0,
                rate * (burst if policy.decode_burst else 1.0),
            )
        )
    return steps
