"""The planning core: forecast -> size -> stabilise -> fit the budget (pure; no I/O, no clock).

Like HPA's replica calculator: the controller (sla_planner.controller.controller) or the dry run feeds it demand
samples and asks for a decision at a time it passes in.

Timing of a decision made at `now` for the interval [now, now + interval):
- replicas asked for now are ready only after startup_s, while a scale-down frees capacity at
  once; so the pools must cover every interval from now until the next decision's replicas
  can be ready: h = ceil(startup_s / interval_s) + 1 forecast steps, [now, now + startup +
  interval). Each pool is sized for the step that needs the most replicas, at the forecast's
  upper quantile `planning_quantile` of the request count;
- then HPA-style scale-down stabilisation of those recommendations, then the budget, pool
  limits and ratio bounds (hard limits win over stabilisation, as HPA applies min/max last).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from sla_planner.model.allocate.split import Allocation, PoolRequest, fit_budget, validate_budget
from sla_planner.model.config import PlannerConfig
from sla_planner.model.forecast.burst import BurstTracker
from sla_planner.model.forecast.prompt_variability import PromptScvTracker
from sla_planner.model.forecast.robust_demand import DemandGuard
from sla_planner.model.old_explain import pool_limit, pool_reason
from sla_planner.model.reasons import Binding, Limit
from sla_planner.model.size import latency_model as lm
from sla_planner.model.size.planning_demand import (
    PlanningDemand,
    finite_pos,
    horizon_steps,
    planning_steps,
)
from sla_planner.model.size.pool_plan import (
    binding_step,
    decode_scorer,
    prefill_scorer,
    size_decode_for,
    size_prefill_for,
)
from sla_planner.model.size.sizing import SizingPolicy, SizingResult
from sla_planner.model.stabilise.stabilization import Stabilized, Stabilizer
from sla_planner.model.types import Decision, DemandForecast, DemandSample, Pool, PoolDecision

# Stale data beyond this many intervals is not extrapolated further (forecast cost and sense).
_MAX_STALE_STEPS = 60


class DemandForecasterLike(Protocol):
    def observe(self, sample: DemandSample) -> None: ...

    def forecast(self, horizon: int, quantile: float) -> list[DemandForecast]: ...


class Planner:
    def __init__(
        self,
        config: PlannerConfig,
        curves: Any,
        forecaster_factory: Callable[[], Any] | None = None,
        decode_curves: Any | None = None,
        policy: SizingPolicy | None = None,
        demand_forecaster: DemandForecasterLike | None = None,
    ) -> None:
        """`curves` are ProfileCurves for prefill (and decode unless `decode_curves` is given).

        `forecaster_factory` makes one per-series Forecaster (default: the registry's
        `config.forecaster`); `demand_forecaster` replaces the whole DemandForecaster.
        Raises BudgetConfigError when the pool minimums alone exceed the budget.
        """
        self.config = config
        self.prefill_curves = curves
        self.decode_curves = decode_curves if decode_curves is not None else curves
        self.policy = policy if policy is not None else SizingPolicy()
        self.gpus_prefill = int(getattr(self.prefill_curves, "gpus_per_replica", 1))
        self.gpus_decode = int(getattr(self.decode_curves, "gpus_per_replica", 1))
        self.config_warnings = validate_budget(config, self.gpus_prefill, self.gpus_decode)
        if demand_forecaster is None:
            demand_forecaster = _make_demand_forecaster(config, forecaster_factory)
        self._demand = demand_forecaster
        self._stabilizer = Stabilizer(config.scale_down_window_s)
        self._burst = (
            BurstTracker(config.burst_window, config.burst_quantile, config.burst_fallback)
            if config.burst_quantile is not None
            else None
        )
        self._scv = PromptScvTracker()
        # Outliers clipped before anything learns from them; their notes go on the next decision.
        self._guard = DemandGuard()
        self._guard_notes: deque[str] = deque(maxlen=8)
        self._observed = 0  # samples fed (gap fillers excluded)
        self._next_start: float | None = None  # end of the last observed interval
        self._last_isl = math.nan
        self._last_osl = math.nan
        self._seeded: tuple[int, int] | None = None
        self._last_forecasts: list[DemandForecast] = []  # of the last planning_demand

    # -- inputs ----------------------------------------------------------------------------
    @property
    def observations(self) -> int:
        return self._observed

    def observe(self, sample: DemandSample) -> None:
        """Feed one interval of demand, in time order. Re-fed intervals are ignored; a skipped
        interval is fed to the forecaster as a gap (NaN)."""
        step = self.config.interval_s
        if self._next_start is not None:
            if sample.start < self._next_start - 1e-6 * step:
                return  # already seen (overlapping fetches)
            missing = round((sample.start - self._next_start) / step)
            for k in range(min(missing, self.config.history_window)):
                gap_start = self._next_start + k * step
                self._demand.observe(DemandSample(gap_start, step, math.nan, math.nan, math.nan))
        sample, clipped = self._guard.clip(sample)
        self._guard_notes.extend(clipped)
        self._demand.observe(sample)
        if self._burst is not None:
            self._burst.observe(sample)
        self._scv.observe(sample.requests, sample.isl_mean, sample.isl_scv)
        self._observed += 1
        duration = sample.duration_s if sample.duration_s > 0 else step
        self._next_start = sample.start + duration
        if finite_pos(sample.isl_mean):
            self._last_isl = sample.isl_mean
        if finite_pos(sample.osl_mean):
            self._last_osl = sample.osl_mean

    def seed(self, prefill: int, decode: int, now: float) -> None:
        """Resume from the cluster: the replicas running now count as a recommendation at `now`
        (no scale-down below them within the stabilisation window; held while cold)."""
        self._stabilizer.seed(Pool.PREFILL, int(prefill), now)
        self._stabilizer.seed(Pool.DECODE, int(decode), now)
        self._seeded = (int(prefill), int(decode))

    # -- the decision ----------------------------------------------------------------------
    def decide(self, now: float) -> Decision:
        cfg = self.config
        notes: list[str] = list(self._guard_notes)
        self._guard_notes.clear()
        plan = self._planning_demand(now, notes)
        if plan is None:
            return self._cold_decision(now, notes)
        steps, first = plan

        sized_p = [self._size_prefill(d) for d in steps]
        sized_d = [self._size_decode(d) for d in steps]
        kp, kd = binding_step(sized_p), binding_step(sized_d)
        dp, dd = steps[kp], steps[kd]
        notes.append(
            f"planned for q{cfg.planning_quantile:g} over {len(steps)} steps: prefill "
            f"{dp.rate_rps:.2f} req/s x {dp.isl:.0f} tok (step {dp.step}), decode "
            f"{dd.decode_rate_rps:.2f} req/s x {dd.osl:.0f} out tok (step {dd.step})"
        )

        fitted = self._fit(sized_p[kp].replicas, sized_d[kd].replicas, dp, dd)
        final, stab_p, stab_d = self._stabilize(fitted, now, dp, dd)
        notes.extend(final.notes)
        return self._decision(
            now, first, notes, fitted, final, (sized_p[kp], dp, stab_p), (sized_d[kd], dd, stab_d)
        )

    def _stabilize(
        self, fitted: Allocation, now: float, dp: PlanningDemand | None, dd: PlanningDemand | None
    ) -> tuple[Allocation, Stabilized, Stabilized]:
        """Apply the scale-down window to the fitted replicas; re-fit if the held pair no
        longer fits the budget or ratio (hard limits win over holding)."""
        stab_p = self._stabilizer.apply(Pool.PREFILL, fitted.prefill, now)
        stab_d = self._stabilizer.apply(Pool.DECODE, fitted.decode, now)
        if (stab_p.replicas, stab_d.replicas) == (fitted.prefill, fitted.decode):
            return fitted, stab_p, stab_d
        if dp is None or dd is None:
            refit = fit_budget(
                PoolRequest(stab_p.replicas, self.config.prefill, self.gpus_prefill),
                PoolRequest(stab_d.replicas, self.config.decode, self.gpus_decode),
                self.config.budget,
            )
        else:
            refit = self._fit(stab_p.replicas, stab_d.replicas, dp, dd)
        return refit, stab_p, stab_d

    def planning_demand(
        self, now: float
    ) -> tuple[list[PlanningDemand], list[DemandForecast], tuple[str, ...]] | None:
        """The demand each forecast step is planned for at `now` (what decide() sizes), the
        forecast of each step and the notes explaining them; None while there is no usable
        history. The fleet planner sizes every variant of a deployment from this."""
        notes: list[str] = []
        plan = self._planning_demand(now, notes)
        if plan is None:
            return None
        steps, _ = plan
        return steps, self._last_forecasts[: len(steps)], tuple(notes)

    # -- pieces ----------------------------------------------------------------------------
    def _planning_demand(
        self, now: float, notes: list[str]
    ) -> tuple[list[PlanningDemand], DemandForecast] | None:
        cfg = self.config
        if self._observed == 0 or self._next_start is None:
            return None
        stale = max(0, round((now - self._next_start) / cfg.interval_s))
        if stale > 0:
            notes.append(f"demand data ends {stale} interval(s) before now: forecasting across")
        stale = min(stale, _MAX_STALE_STEPS)
        h = horizon_steps(cfg)
        forecasts = self._demand.forecast(stale + h, cfg.planning_quantile)[stale:]
        self._last_forecasts = forecasts
        if not forecasts:
            return None
        burst = self._burst.factor if self._burst is not None else 1.0
        if self._burst is not None and burst > 1.0:
            notes.append(
                f"decode planned for bursts x{burst:.2f} (p{cfg.burst_quantile * 100:g} of the "
                f"last {self._burst.samples} peak/mean rate ratios)"
                if self._burst.samples
                else f"decode planned for bursts x{burst:.2f} (burst_fallback: no peak rates)"
            )
        steps = planning_steps(
            forecasts, burst, self.policy, cfg.interval_s, self._last_isl, self._last_osl
        )
        if steps is None:
            return None  # nothing usable yet (e.g. only gaps observed)
        if self._observed < 3:
            notes.append(f"warming up: forecasting from {self._observed} observation(s)")
        return steps, forecasts[0]

    @property
    def prefill_scv(self) -> float:
        """Prefill service SCV the sizing uses now: measured x margin, else the fixed value."""
        p = self.policy
        measured = self._scv.scv
        if measured is None or p.prefill_scv_margin is None:
            return p.prefill_service_scv
        return measured * p.prefill_scv_margin

    def _size_prefill(self, d: PlanningDemand) -> SizingResult:
        return size_prefill_for(self.prefill_curves, d, self.config, self.policy, self.prefill_scv)

    def _size_decode(self, d: PlanningDemand) -> SizingResult:
        return size_decode_for(self.decode_curves, d, self.config, self.policy)

    def _fit(self, want_p: int, want_d: int, dp: PlanningDemand, dd: PlanningDemand) -> Allocation:
        cfg = self.config
        scorer_p = prefill_scorer(self.prefill_curves, dp, cfg.sla.ttft_ms, self.prefill_scv)
        scorer_d = decode_scorer(self.decode_curves, dd, cfg.sla.itl_ms)
        return fit_budget(
            PoolRequest(want_p, cfg.prefill, self.gpus_prefill, scorer_p),
            PoolRequest(want_d, cfg.decode, self.gpus_decode, scorer_d),
            cfg.budget,
        )

    def _decision(
        self,
        now: float,
        forecast: DemandForecast,
        notes: list[str],
        fitted: Allocation,
        alloc: Allocation,
        prefill: tuple[SizingResult, PlanningDemand, Stabilized],
        decode: tuple[SizingResult, PlanningDemand, Stabilized],
    ) -> Decision:
        cfg = self.config
        sp, dp, stp = prefill
        sd, dd, std = decode
        ttft = lm.expected_ttft_ms(
            self.prefill_curves, dp.rate_rps, dp.isl, alloc.prefill, self.prefill_scv
        )
        itl = lm.expected_itl_ms(
            self.decode_curves, dd.decode_rate_rps, dd.isl, dd.osl, alloc.decode
        )
        why_p = (sp, fitted.prefill, stp, alloc.prefill, fitted, alloc, cfg.prefill.max_replicas)
        why_d = (sd, fitted.decode, std, alloc.decode, fitted, alloc, cfg.decode.max_replicas)
        return Decision(
            timestamp=now,
            prefill=PoolDecision(
                pool=Pool.PREFILL,
                replicas=alloc.prefill,
                gpus=alloc.prefill_gpus,
                wanted_replicas=sp.replicas,
                expected_latency_ms=ttft,
                target_ms=cfg.sla.ttft_ms,
                reason=pool_reason(*why_p),
                binding=Binding(sp.binding),
                limit=pool_limit(*why_p),
            ),
            decode=PoolDecision(
                pool=Pool.DECODE,
                replicas=alloc.decode,
                gpus=alloc.decode_gpus,
                wanted_replicas=sd.replicas,
                expected_latency_ms=itl,
                target_ms=cfg.sla.itl_ms,
                reason=pool_reason(*why_d),
                binding=Binding(sd.binding),
                limit=pool_limit(*why_d),
            ),
            forecast=forecast,
            budget_gpus=cfg.budget.max_gpus,
            notes=tuple(notes),
        )

    def _cold_decision(self, now: float, notes: list[str]) -> Decision:
        """No usable demand yet: hold what the cluster runs (if seeded) or the minimums."""
        cfg = self.config
        if self._seeded is not None:
            want_p, want_d = self._seeded
            why = "no demand history yet: holding the replicas the cluster runs"
        else:
            want_p, want_d = cfg.prefill.min_replicas, cfg.decode.min_replicas
            why = "no demand history yet: minimum replicas"
        notes.append(why)
        fitted = fit_budget(
            PoolRequest(want_p, cfg.prefill, self.gpus_prefill),
            PoolRequest(want_d, cfg.decode, self.gpus_decode),
            cfg.budget,
        )
        alloc, _, _ = self._stabilize(fitted, now, None, None)
        notes.extend(alloc.notes)
        nan = math.nan

        def pool(p: Pool, replicas: int, gpus: int, wanted: int, target: float) -> PoolDecision:
            limit = _cold_limit(replicas, wanted, alloc)
            return PoolDecision(
                p, replicas, gpus, wanted, nan, target, why, Binding.NO_HISTORY, limit
            )

        return Decision(
            timestamp=now,
            prefill=pool(Pool.PREFILL, alloc.prefill, alloc.prefill_gpus, want_p, cfg.sla.ttft_ms),
            decode=pool(Pool.DECODE, alloc.decode, alloc.decode_gpus, want_d, cfg.sla.itl_ms),
            forecast=DemandForecast(requests=nan, isl=nan, osl=nan),
            budget_gpus=cfg.budget.max_gpus,
            notes=tuple(notes),
        )


def _cold_limit(replicas: int, wanted: int, alloc: Allocation) -> Limit:
    """What overrode the replicas held without demand history (see decision_reasons)."""
    if replicas == wanted:
        return Limit.NONE
    if replicas > wanted:
        return Limit.RATIO_RAISED if alloc.ratio_adjusted else Limit.STABILISATION
    if alloc.budget_limited:
        return Limit.BUDGET
    return Limit.RATIO_BOUNDS if alloc.ratio_adjusted else Limit.MAX_REPLICAS


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
