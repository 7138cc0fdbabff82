"""One deployment's demand as the planner knows it: what was observed (outliers clipped, gaps
as gaps), the forecast over the decision's horizon, and the demand each step is planned for
(pure; no I/O, no clock).

Timing of a decision made at `now` for the interval [now, now + interval): replicas asked for
now are ready only after startup_s, while a scale-down frees capacity at once; so the pools
must cover every interval from now until the next decision's replicas can be ready:
h = ceil(startup_s / interval_s) + 1 forecast steps, [now, now + startup + interval).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sla_planner.model.config import PlannerConfig
from sla_planner.model.forecast.burst import BurstTracker, excess_burst
from sla_planner.model.forecast.prompt_variability import PromptScvTracker
from sla_planner.model.forecast.robust_demand import DemandGuard
from sla_planner.model.size.planning_demand import (
    PlanningDemand,
    finite_pos,
    horizon_steps,
    planning_steps,
)
from sla_planner.model.size.sizing import SizingPolicy
from sla_planner.model.types import DemandForecast, DemandSample

# Stale data beyond this many intervals is not extrapolated further (forecast cost and sense).
_MAX_STALE_STEPS = 60


class DemandForecasterLike(Protocol):
    def observe(self, sample: DemandSample) -> None: ...

    def forecast(self, horizon: int, quantile: float) -> list[DemandForecast]: ...


@dataclass(frozen=True)
class DemandPlan:
    """The demand a decision plans for: one PlanningDemand per forecast step, the forecast of
    each step (means and upper quantiles) and the notes explaining them."""

    steps: list[PlanningDemand]
    forecasts: list[DemandForecast]
    notes: tuple[str, ...]
    burst_note: str | None  # how decode's planned rate was raised for bursts (None: not)

    @property
    def first(self) -> DemandForecast:
        return self.forecasts[0]


class DemandTracker:
    def __init__(
        self,
        config: PlannerConfig,
        policy: SizingPolicy,
        forecaster_factory: Callable[[], Any] | None = None,
        demand_forecaster: DemandForecasterLike | None = None,
    ) -> None:
        self.config = config
        self.policy = policy
        self._demand = demand_forecaster or _make_demand_forecaster(config, forecaster_factory)
        self._burst = (
            BurstTracker(config.burst_window, config.burst_quantile, config.burst_fallback)
            if config.burst_quantile is not None
            else None
        )
        self._scv = PromptScvTracker()
        # Outliers clipped before anything learns from them; their notes go on the next decision.
        self._guard = DemandGuard()
        self.guard_notes: deque[str] = deque(maxlen=8)
        # Why the last sample observed had its count held as suspect (None: it had not).
        self.suspect: str | None = None
        self.observed = 0  # samples fed (gap fillers excluded)
        self._next_start: float | None = None  # end of the last observed interval
        self._last_isl = math.nan
        self._last_osl = math.nan
        # Peak/mean ratios beyond Poisson noise, and sub-windows per interval (the SLO sizing's
        # burst mixture).
        self.ratios: deque[float] = deque(maxlen=config.burst_window)
        self.subwindows: int | None = None
        self.last_request_at: float | None = None
        self.recent_requests = 0.0

    def observe(self, sample: DemandSample) -> bool:
        """Feed one interval of demand, in time order; False for a re-fed interval (ignored).
        A skipped interval is fed to the forecaster as a gap (NaN)."""
        step = self.config.interval_s
        self.suspect = None
        if self._next_start is not None:
            if sample.start < self._next_start - 1e-6 * step:
                return False  # already seen (overlapping fetches)
            missing = round((sample.start - self._next_start) / step)
            for k in range(min(missing, self.config.history_window)):
                gap_start = self._next_start + k * step
                self._demand.observe(DemandSample(gap_start, step, math.nan, math.nan, math.nan))
        raw = sample
        sample, clipped = self._guard.clip(sample)
        self.guard_notes.extend(clipped)
        self.suspect = self._guard.suspect
        self._demand.observe(sample)
        if self._burst is not None:
            self._burst.observe(sample)
        self._scv.observe(sample.requests, sample.isl_mean, sample.isl_scv)
        self.observed += 1
        duration = sample.duration_s if sample.duration_s > 0 else step
        self._next_start = sample.start + duration
        if finite_pos(sample.isl_mean):
            self._last_isl = sample.isl_mean
        if finite_pos(sample.osl_mean):
            self._last_osl = sample.osl_mean
        r = excess_burst(raw)
        if r is not None and raw.peak_window_s:
            self.ratios.append(r)
            self.subwindows = max(2, round(raw.duration_s / raw.peak_window_s))
        n = raw.requests
        self.recent_requests = float(n) if math.isfinite(n) and n > 0 else 0.0
        if self.recent_requests > 0:
            self.last_request_at = raw.start + duration
        return True

    def take_guard_notes(self) -> list[str]:
        notes = list(self.guard_notes)
        self.guard_notes.clear()
        return notes

    @property
    def measured_scv(self) -> float | None:
        return self._scv.scv

    @property
    def prefill_scv(self) -> float:
        """Prefill service SCV the sizing uses now: measured x margin, else the fixed value."""
        p = self.policy
        measured = self._scv.scv
        if measured is None or p.prefill_scv_margin is None:
            return p.prefill_service_scv
        return measured * p.prefill_scv_margin

    def plan(self, now: float, notes: list[str]) -> DemandPlan | None:
        """The demand each forecast step is planned for at `now`; None while there is no
        usable history (`notes` gets what was said on the way)."""
        cfg = self.config
        if self.observed == 0 or self._next_start is None:
            return None
        stale = max(0, round((now - self._next_start) / cfg.interval_s))
        if stale > 0:
            notes.append(f"demand data ends {stale} interval(s) before now: forecasting across")
        stale = min(stale, _MAX_STALE_STEPS)
        forecasts = self._demand.forecast(stale + horizon_steps(cfg), cfg.planning_quantile)
        forecasts = forecasts[stale:]
        if not forecasts:
            return None
        burst = self._burst.factor if self._burst is not None else 1.0
        burst_note = None
        if self._burst is not None and burst > 1.0:
            burst_note = (
                f"decode planned for bursts x{burst:.2f} (p{cfg.burst_quantile * 100:g} of the "
                f"last {self._burst.samples} peak/mean rate ratios)"
                if self._burst.samples
                else f"decode planned for bursts x{burst:.2f} (burst_fallback: no peak rates)"
            )
            notes.append(burst_note)
        steps = planning_steps(
            forecasts, burst, self.policy, cfg.interval_s, self._last_isl, self._last_osl
        )
        if steps is None:
            return None  # nothing usable yet (e.g. only gaps observed)
        if self.observed < 3:
            notes.append(f"warming up: forecasting from {self.observed} observation(s)")
        return DemandPlan(steps, forecasts[: len(steps)], tuple(notes), burst_note)


def _make_demand_forecaster(
    config: PlannerConfig, factory: Callable[[], Any] | None
) -> DemandForecasterLike:
    from sla_planner.model.forecast.demand_forecaster import DemandForecaster

    if factory is None:
        from sla_planner.forecasters.registry import make_forecaster

        name, interval = config.forecaster, config.interval_s

        def factory() -> Any:
            return make_forecaster(name, interval_s=interval)

    return DemandForecaster(factory)
