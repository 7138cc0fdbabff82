"""The planner aimed at an SLO attainment target (pure; no I/O, no clock).

`SloPlanner` is the `Planner` with its sizing step replaced: instead of per-pool fixed
margins, both pools get the fewest GPUs whose expected request-weighted attainment reaches the
error-budget controller's goal (sla_planner.model.size.slo_sizing, sla_planner.model.size.error_budget).
Everything else is the Planner's: forecasting, the horizon (each pool sized for the worst step
of [now, now + startup + interval)), the GPU budget and ratio bounds, HPA's scale-down window.

Measured attainment comes in with `observe_attainment(AttainmentSample)` -- from the
discrete-event judge in a closed-loop dry run, from the engines' histograms in a cluster --
and is compared with what the plan in force at the time expected.

`make_planner` picks the planner a config asks for: `slo.attainment: null` is the fixed-margin
Planner, unchanged.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sla_planner.model.config import PlannerConfig
from sla_planner.model.forecast.burst import excess_burst
from sla_planner.model.old_planner import Planner
from sla_planner.model.size.error_budget import (
    AttainmentSample,
    BudgetStatus,
    ErrorBudgetController,
)
from sla_planner.model.size.planning_demand import PlanningDemand
from sla_planner.model.size.prefill_latency import z_score
from sla_planner.model.size.sizing import SizingPolicy, SizingResult
from sla_planner.model.size.slo_sizing import (
    DEFAULT_SUBWINDOWS,
    BurstMix,
    DecodeShare,
    GoalSizing,
    PoolModels,
    StepDemand,
    expected_attainment,
    size_step,
)
from sla_planner.model.types import Decision, DemandForecast, DemandSample

_PLANS_KEPT = 64  # decisions remembered to match measured windows with their plan
_BUCKET = math.log(1.01)  # lengths within 1% share one decode table
_SHARES_KEPT = 256


class SloPlanner(Planner):
    def __init__(self, config: PlannerConfig, curves: Any, *args: Any, **kwargs: Any) -> None:
        """Same arguments as Planner; `config.slo.attainment` must be set."""
        super().__init__(config, curves, *args, **kwargs)
        target = config.slo.attainment
        if target is None:
            raise ValueError("SloPlanner needs slo.attainment; use Planner for fixed margins")
        self.error_budget = ErrorBudgetController(target, config.error_budget)
        self._plans: deque[tuple[float, bool, bool]] = deque(maxlen=_PLANS_KEPT)
        self._ratios: deque[float] = deque(maxlen=config.burst_window)
        self._subwindows = DEFAULT_SUBWINDOWS
        self._shares: dict[tuple[int, int], DecodeShare] = {}

    # -- inputs ----------------------------------------------------------------------------
    def observe(self, sample: DemandSample) -> None:
        before = self.observations
        super().observe(sample)
        if self.observations == before:
            return  # a re-fed interval
        r = excess_burst(sample)
        if r is not None and sample.peak_window_s:
            self._ratios.append(r)
            self._subwindows = max(2, round(sample.duration_s / sample.peak_window_s))

    def observe_attainment(self, sample: AttainmentSample) -> None:
        """Measured finished/met requests of a window, in time order."""
        limited, above = self._plan_at((sample.start + sample.end) / 2.0)
        self.error_budget.observe(sample, limited, above)

    @property
    def budget_status(self) -> BudgetStatus:
        return self.error_budget.status()

    def _plan_at(self, t: float) -> tuple[bool, bool]:
        """(limited, above) of the plan in force at `t`: held away from its goal (or
        unknown); held above its goal by the scale-down window."""
        found = (True, False)
        for time, limited, above in self._plans:
            if time <= t + 1e-9:
                found = (limited, above)
        return found

    # -- the decision ----------------------------------------------------------------------
    def decide(self, now: float) -> Decision:
        notes: list[str] = list(self._guard_notes)
        self._guard_notes.clear()
        plan = self._planning_demand(now, notes)
        if plan is None:
            decision = self._cold_decision(now, notes)
            self._record(decision, limited=True)
            return decision
        planned, first = plan
        notes = [n for n in notes if not n.startswith("decode planned for bursts")]
        forecasts = self._last_forecasts  # the means and upper quantiles of every step
        models, mix = self._models(), self._mix()
        steps = [self._step(f, d) for f, d in zip(forecasts, planned, strict=True)]
        shares = [self._decode_share(models, s) for s in steps]
        goal = self.error_budget.goal
        sized = [size_step(models, s, mix, goal, ds) for s, ds in zip(steps, shares, strict=True)]
        if not all(s.reachable for s in sized):
            self._guard_notes.extendleft(
                reversed([n for n in notes if n.startswith("demand guard")])
            )
            decision = super().decide(now)
            self._record(decision, limited=True)
            why = "SLO goal out of reach of the latency model: fixed-margin sizing"
            return _with_notes(decision, (why,))
        kp = max(range(len(sized)), key=lambda i: (sized[i].prefill, -i))
        kd = max(range(len(sized)), key=lambda i: (sized[i].decode, -i))
        want_p, want_d = sized[kp].prefill, sized[kd].decode
        dp, dd = planned[kp], planned[kd]
        fitted = self._fit(want_p, want_d, dp, dd)
        final, stab_p, stab_d = self._stabilize(fitted, now, dp, dd)
        expected = expected_attainment(
            models, steps[0], mix, final.prefill, final.decode, shares[0]
        )
        capped = final.prefill < want_p or final.decode < want_d
        floor = (want_p, want_d) == (models.min_prefill, models.min_decode)
        notes.append(self._slo_note(goal, expected, len(steps)))
        notes.extend(final.notes)
        sp = _result(want_p, sized[kp], steps[kp], goal, "prefill")
        sd = _result(want_d, sized[kd], steps[kd], goal, "decode")
        decision = self._decision(
            now, first, notes, fitted, final, (sp, dp, stab_p), (sd, dd, stab_d)
        )
        # Held above the goal's plan by the scale-down window (HPA's stabilisation).
        above = final.prefill > fitted.prefill or final.decode > fitted.decode
        self._record(decision, limited=capped or floor, above=above)
        return decision

    def _record(self, d: Decision, limited: bool, above: bool = False) -> None:
        self._plans.append((d.timestamp, limited, above))

    def _models(self) -> PoolModels:
        cfg, p = self.config, self.policy
        measured = self._scv.scv
        scv = measured if measured is not None else p.prefill_service_scv
        return PoolModels(
            self.prefill_curves,
            self.decode_curves,
            cfg.slo.ttft_ms,
            cfg.slo.itl_ms,
            scv,
            self.gpus_prefill,
            self.gpus_decode,
            cfg.prefill.min_replicas,
            cfg.decode.min_replicas,
        )

    def _decode_share(self, models: PoolModels, step: StepDemand) -> DecodeShare:
        """DecodeShare depends only on the mean lengths: tabulated once per 1% bucket of ISL
        and OSL (at the bucket's own value, so a result does not depend on call order)."""
        key = (
            round(math.log(max(step.isl, 1.0)) / _BUCKET),
            round(math.log(max(step.osl, 1.0)) / _BUCKET),
        )
        ds = self._shares.get(key)
        if ds is None:
            if len(self._shares) >= _SHARES_KEPT:
                self._shares.clear()
            rep = replace(step, isl=math.exp(key[0] * _BUCKET), osl=math.exp(key[1] * _BUCKET))
            ds = self._shares[key] = DecodeShare(models, rep)
        return ds

    def _mix(self) -> BurstMix:
        """Sub-interval bursts: the recent peak/mean ratios, else burst_fallback."""
        cfg = self.config
        if cfg.burst_quantile is None:
            return BurstMix()
        ratios = list(self._ratios) or [cfg.burst_fallback]
        return BurstMix.from_ratios(ratios, self._subwindows)

    def _step(self, f: DemandForecast, d: PlanningDemand) -> StepDemand:
        """The step's rate as a distribution: the mean, and an sd from the upper quantile."""
        i = self.config.interval_s
        mean = f.requests if math.isfinite(f.requests) else d.rate_rps * i
        upper = f.requests_upper
        z = z_score(self.config.planning_quantile)
        sd = (upper - mean) / z if upper is not None and math.isfinite(upper) and z > 0 else 0.0
        return StepDemand(max(mean, 0.0) / i, max(sd, 0.0) / i, d.isl, d.osl)

    def _slo_note(self, goal: float, expected: float, n_steps: int) -> str:
        st = self.error_budget.status()
        measured = (
            f"measured {st.cumulative_attainment:.3%} so far, burn {st.burn_short:.2f} (short) / "
            f"{st.burn_long:.2f} (long)"
            if st.finished > 0
            else "nothing measured yet"
        )
        return (
            f"SLO {st.target:.3%}: sized to {goal:.4%} expected attainment over {n_steps} "
            f"steps (margin x{st.margin:.2f}); {expected:.4%} "
            f"expected this interval at the chosen replicas; {measured}"
        )


def _result(
    replicas: int, sized: GoalSizing, step: StepDemand, goal: float, pool: str
) -> SizingResult:
    why = (
        f"{step.rate_mean:.2f} +- {step.rate_sd:.2f} req/s x {step.isl:.0f}/{step.osl:.0f} tok: "
        f"fewest GPUs with {goal:.3%} expected attainment of both pools ({pool} {replicas})"
    )
    return SizingResult(replicas, math.nan, math.nan, "slo", why)


def _with_notes(d: Decision, extra: tuple[str, ...]) -> Decision:
    return replace(d, notes=(*d.notes, *extra))


def make_planner(
    config: PlannerConfig,
    curves: Any,
    forecaster_factory: Callable[[], Any] | None = None,
    decode_curves: Any | None = None,
    policy: SizingPolicy | None = None,
) -> Planner:
    """The planner `config` asks for: SloPlanner when slo.attainment is set, else the
    fixed-margin Planner (exactly the planner before SLO targeting)."""
    cls = SloPlanner if config.slo.attainment is not None else Planner
    return cls(config, curves, forecaster_factory, decode_curves=decode_curves, policy=policy)


__all__ = ["SloPlanner", "make_planner"]
