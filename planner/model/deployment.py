"""One deployment's planner (pure; no I/O, no clock): what it observed, what it needs this tick
on each of its variants, and its decision once the allocator has divided the GPUs.

Like HPA's replica calculator, the controller (or the dry run) feeds it demand and asks at a
time it passes in. Per deployment it holds:
- the demand it knows (`forecast.tracker`: outliers clipped, gaps as gaps, the forecast over
  the decision's horizon);
- sizing, per variant: to the SLO (`slo.attainment` set: the error-budget controller's goal,
  moved by the measured attainment fed to `observe_attainment`) or by fixed margins;
- latency correction (optional): each variant's curves scaled by observed/expected latency of
  the replicas that served (`size.correction`);
- its decision's words: what set each pool's size, what overrode it, the notes.
The scale-down window, scale-to-zero, the budget, priorities and variants are the allocator's
(`allocate.tick`), which a single deployment goes through as a fleet of one.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sla_planner.model.allocate.outcome import Outcome
from sla_planner.model.allocate.split import validate_budget
from sla_planner.model.config import PlannerConfig
from sla_planner.model.explain import cold_limit, planned_note, pool_limit, pool_reason, slo_note
from sla_planner.model.forecast.tracker import DemandForecasterLike, DemandPlan, DemandTracker
from sla_planner.model.reasons import Binding
from sla_planner.model.size import latency_model as lm
from sla_planner.model.size.correction import CorrectedCurves, CorrectionSettings, update_factor
from sla_planner.model.size.error_budget import (
    AttainmentSample,
    BudgetStatus,
    ErrorBudgetController,
)
from sla_planner.model.size.needs import DeploymentNeed, PoolNeed, VariantNeed
from sla_planner.model.size.sizing import SizingPolicy
from sla_planner.model.size.slo_price import Pricing
from sla_planner.model.size.slo_sizing import DEFAULT_SUBWINDOWS, BurstMix, expected_attainment
from sla_planner.model.size.variant import (
    FixedPlan,
    SizingInputs,
    SloPlan,
    SloSizer,
    VariantEngines,
    burst_mix,
    cold_variant,
    size_fixed,
)
from sla_planner.model.types import Decision, DemandForecast, DemandSample, Pool, PoolDecision

_PLANS_KEPT = 64  # decisions remembered to match measured windows with their plan
_OUT_OF_REACH = "SLO goal out of reach of the latency model: fixed-margin sizing"


class DeploymentPlanner:
    def __init__(
        self,
        name: str,
        config: PlannerConfig,
        variants: Sequence[VariantEngines],
        *,
        rank: int = 0,
        idle_window_s: float | None = None,
        forecaster_factory: Callable[[], Any] | None = None,
        policy: SizingPolicy | None = None,
        demand_forecaster: DemandForecasterLike | None = None,
        latency_correction: bool = False,
    ) -> None:
        """`variants`: its engines, the first the default. `latency_correction`: learn each
        pool's observed/expected latency and size with the corrected curves."""
        if not variants:
            raise ValueError(f"deployment {name!r} has no variants")
        self.name = name
        self.config = config
        self.rank = rank
        self.idle_window_s = idle_window_s
        self.policy = policy if policy is not None else SizingPolicy()
        self.base = tuple(variants)
        first = self.base[0]
        # Raises BudgetConfigError when the pool minimums alone exceed max_gpus.
        self.config_warnings = validate_budget(
            config, first.prefill.gpus_per_replica, first.decode.gpus_per_replica
        )
        self.correction = CorrectionSettings() if latency_correction else None
        self.variants = tuple(_corrected(v) for v in variants) if latency_correction else self.base
        self.demand = DemandTracker(config, self.policy, forecaster_factory, demand_forecaster)
        target = config.slo.attainment
        self.error_budget = ErrorBudgetController(target, config.error_budget) if target else None
        self._sizers = {v.name: SloSizer(v) for v in self.variants}
        self._plans: deque[tuple[float, bool, bool]] = deque(maxlen=_PLANS_KEPT)
        self._pending: tuple[list[str], DemandPlan | None] = ([], None)
        self._last: Decision | None = None
        self.seeded = False

    # -- inputs ----------------------------------------------------------------------------
    @property
    def observations(self) -> int:
        return self.demand.observed

    def engines(self, variant: str) -> VariantEngines:
        return next(v for v in self.variants if v.name == variant)

    def observe(self, sample: DemandSample) -> str | None:
        """One interval of demand, in time order (a re-fed interval is ignored); why its count
        was held as suspect data (None: it was taken)."""
        if self.correction is not None:
            self._correct(sample)
        self.demand.observe(sample)
        return self.demand.suspect

    def observe_attainment(self, sample: AttainmentSample) -> None:
        """Measured finished/met requests of a window, in time order (SLO planners only)."""
        if self.error_budget is None:
            return
        limited, above = self._plan_at((sample.start + sample.end) / 2.0)
        self.error_budget.observe(sample, limited, above)

    @property
    def budget_status(self) -> BudgetStatus | None:
        return self.error_budget.status() if self.error_budget is not None else None

    def seed(self) -> None:
        """The cluster's replicas were read into the allocator's state (a restart, a gain of
        leadership): held as the last recommendation while there is no demand history."""
        self.seeded = True

    # -- the need --------------------------------------------------------------------------
    def need(self, now: float, caps: Mapping[str, int | None]) -> DeploymentNeed:
        """This tick's need on every variant; `caps` are the cluster's GPUs per type."""
        cfg = self.config
        notes = self.demand.take_guard_notes()
        plan = self.demand.plan(now, notes)
        self._pending = (notes, plan)
        if plan is None:
            variants = {v.name: cold_variant(v, cfg, caps) for v in self.variants}
            weight = 0.0
        else:
            x = SizingInputs(
                cfg, self.policy, plan.steps, plan.forecasts, self.demand.prefill_scv, caps
            )
            self._calibrate(now, x)
            variants = {v.name: self._size(v, x) for v in self.variants}
            weight = max(d.rate_rps for d in plan.steps)
        target = cfg.slo.attainment
        return DeploymentNeed(
            name=self.name,
            rank=self.rank,
            target=target if target is not None else 1.0,
            weight=weight,
            variants=variants,
            has_history=plan is not None,
            last_request_at=self.demand.last_request_at,
            recent_requests=self.demand.recent_requests,
            idle_window_s=self.idle_window_s,
            scale_down_window_s=cfg.scale_down_window_s,
            budget=cfg.budget,
            notes=tuple(notes),
            forecast=plan.first if plan is not None else None,
        )

    def _mix(self) -> BurstMix:
        d = self.demand
        return burst_mix(self.config, d.ratios, d.subwindows or DEFAULT_SUBWINDOWS)

    def _calibrate(self, now: float, x: SizingInputs) -> None:
        """Priced sizing: the reference price learns this interval's shadow price of the goal
        sizing at the aimed miss share, on the variant running (else the default)."""
        eb = self.error_budget
        if eb is None or not eb.priced:
            return
        name = self._last.variant if self._last is not None else self.variants[0].name
        sizer = self._sizers.get(name) or self._sizers[self.variants[0].name]
        shadow, requests = sizer.shadow(x, self._mix(), eb.aimed_goal, self.demand.measured_scv)
        eb.calibrate(shadow, requests, now)

    def _size(self, v: VariantEngines, x: SizingInputs) -> VariantNeed:
        eb = self.error_budget
        if eb is not None:
            price = eb.price if eb.priced else None
            pricing = Pricing(price, eb.price_floor) if price is not None else None
            sized = self._sizers[v.name].size(
                x, self._mix(), eb.goal, self.demand.measured_scv, pricing
            )
            if sized is not None:
                return sized
            fixed = size_fixed(v, x)
            return VariantNeed(fixed.name, fixed.prefill, fixed.decode, _fallback(fixed.plan))
        return size_fixed(v, x)

    # -- the decision ----------------------------------------------------------------------
    def decision(self, now: float, need: DeploymentNeed, outcome: Outcome) -> Decision:
        """The decision once the allocator has spoken (and, with an SLO, the plan recorded for
        matching measured attainment with it)."""
        notes, plan = self._pending
        notes = list(notes)
        v = need.variants[outcome.variant]
        split = outcome.split
        if plan is None:
            return self._done(self._cold(now, notes, v, outcome), limited=True)
        how = v.plan
        if isinstance(how, SloPlan):
            notes = [n for n in notes if n != plan.burst_note]
            final_p, final_d = outcome.prefill.replicas, outcome.decode.replicas
            expected = expected_attainment(
                how.models, how.step, how.mix, final_p, final_d, how.share
            )
            if how.price is not None and self.error_budget is not None:
                self.error_budget.record_plan(1.0 - expected)
            assert self.error_budget is not None
            notes.append(slo_note(self.error_budget.status(), how, expected))
        else:
            assert isinstance(how, FixedPlan)
            notes.append(planned_note(self.config, how))
        notes.extend(split.notes)
        if isinstance(how, FixedPlan) and how.fallback:
            notes.append(_OUT_OF_REACH)
        d = self._decision(now, notes, v, outcome, plan.first)
        p, q = v.prefill, v.decode
        capped = d.prefill.replicas < p.sized or d.decode.replicas < q.sized
        floor = (p.sized, q.sized) == (p.limits.min_replicas, q.limits.min_replicas)
        above = d.prefill.replicas > _clamp(p) or d.decode.replicas > _clamp(q)
        fallback = isinstance(how, FixedPlan) and how.fallback
        return self._done(d, limited=capped or floor or fallback, above=above and not fallback)

    def _done(self, d: Decision, limited: bool, above: bool = False) -> Decision:
        if self.error_budget is not None:
            self._plans.append((d.timestamp, limited, above))
        self._last = d
        return d

    def _decision(
        self,
        now: float,
        notes: list[str],
        v: VariantNeed,
        outcome: Outcome,
        forecast: DemandForecast,
    ) -> Decision:
        cfg, e = self.config, self.engines(outcome.variant)
        p, q, split = v.prefill, v.decode, outcome.split
        np_, nd = outcome.prefill.replicas, outcome.decode.replicas
        dp, dd = p.demand, q.demand
        assert dp is not None and dd is not None
        ttft = lm.expected_ttft_ms(e.prefill.curves, dp.rate_rps, dp.isl, np_, p.service_scv)
        itl = lm.expected_itl_ms(e.decode.curves, dd.decode_rate_rps, dd.isl, dd.osl, nd)

        def pool(kind: Pool, need: PoolNeed, n: int, latency: float, target: float) -> PoolDecision:
            po = outcome.prefill if kind is Pool.PREFILL else outcome.decode
            return PoolDecision(
                kind,
                n,
                n * need.gpus_per_replica,
                need.sized,
                latency,
                target,
                pool_reason(need, po, split),
                need.binding,
                pool_limit(need, po, split),
                need.gpu_type,
                po.reasons,
            )

        return self._with_fleet(
            Decision(
                timestamp=now,
                prefill=pool(Pool.PREFILL, p, np_, ttft, cfg.slo.ttft_ms),
                decode=pool(Pool.DECODE, q, nd, itl, cfg.slo.itl_ms),
                forecast=forecast,
                budget_gpus=cfg.budget.max_gpus,
                notes=tuple(notes),
            ),
            v,
            outcome,
        )

    def _cold(self, now: float, notes: list[str], v: VariantNeed, outcome: Outcome) -> Decision:
        """No usable demand yet: hold what the cluster runs (if seeded) or the minimums."""
        cfg, split = self.config, outcome.split
        if self.seeded:
            why = "no demand history yet: holding the replicas the cluster runs"
        else:
            why = "no demand history yet: minimum replicas"
        notes.append(why)
        notes.extend(split.notes)
        nan = math.nan

        def pool(kind: Pool, need: PoolNeed, target: float) -> PoolDecision:
            po = outcome.prefill if kind is Pool.PREFILL else outcome.decode
            n, wanted = po.replicas, max(need.limits.min_replicas, outcome_running(po))
            limit = cold_limit(n, wanted, split)
            gpus = n * need.gpus_per_replica
            return PoolDecision(
                kind, n, gpus, wanted, nan, target, why, Binding.NO_HISTORY, limit,
                need.gpu_type, po.reasons,
            )  # fmt: skip

        d = Decision(
            timestamp=now,
            prefill=pool(Pool.PREFILL, v.prefill, cfg.slo.ttft_ms),
            decode=pool(Pool.DECODE, v.decode, cfg.slo.itl_ms),
            forecast=DemandForecast(requests=nan, isl=nan, osl=nan),
            budget_gpus=cfg.budget.max_gpus,
            notes=tuple(notes),
        )
        return self._with_fleet(d, v, outcome)

    def _with_fleet(self, d: Decision, v: VariantNeed, outcome: Outcome) -> Decision:
        from dataclasses import replace

        np_, nd = d.prefill.replicas, d.decode.replicas
        return replace(
            d,
            deployment=self.name,
            variant=outcome.variant,
            rank=self.rank,
            held=outcome.held,
            attainment_of=lambda: v.prefill.at(np_) * v.decode.at(nd),
            cost_per_hour=outcome.cost_per_hour,
            reasons=outcome.reasons,
            summary=outcome.text,
        )

    # -- pieces ----------------------------------------------------------------------------
    def _plan_at(self, t: float) -> tuple[bool, bool]:
        """(limited, above) of the plan in force at `t`: held away from its goal (or
        unknown); held above its goal by the scale-down window."""
        found = (True, False)
        for time, limited, above in self._plans:
            if time <= t + 1e-9:
                found = (limited, above)
        return found

    def _correct(self, sample: DemandSample) -> None:
        """Learn observed/expected latency at the replicas the last decision ran (expected from
        each pool's uncorrected profile, so the factor is observed / profiled)."""
        d, s = self._last, self.correction
        if d is None or s is None or sample.requests < s.min_requests or sample.duration_s <= 0:
            return
        e = self.engines(d.variant)
        pc, dc = e.prefill.curves, e.decode.curves
        assert isinstance(pc, CorrectedCurves) and isinstance(dc, CorrectedCurves)
        rate, isl, osl = sample.rate, sample.isl_mean, sample.osl_mean
        if sample.ttft_mean_ms is not None and d.prefill.replicas > 0:
            exp_t = lm.expected_ttft_ms(pc.base, rate, isl, d.prefill.replicas)
            pc.prefill_factor = update_factor(
                pc.prefill_factor, sample.ttft_mean_ms, exp_t, s.alpha, s.bounds
            )
        if sample.itl_mean_ms is not None and d.decode.replicas > 0:
            exp_i = lm.expected_itl_ms(dc.base, rate, isl, osl, d.decode.replicas)
            dc.decode_factor = update_factor(
                dc.decode_factor, sample.itl_mean_ms, exp_i, s.alpha, s.bounds
            )

    @property
    def factors(self) -> dict[str, tuple[float, float]]:
        """Per variant, the learned (prefill, decode) latency factors (1.0: the profile)."""
        out = {}
        for v in self.variants:
            pc, dc = v.prefill.curves, v.decode.curves
            out[v.name] = (
                getattr(pc, "prefill_factor", 1.0),
                getattr(dc, "decode_factor", 1.0),
            )
        return out


def outcome_running(po: Any) -> int:
    """What the pool asked for while cold: what runs (seeded), or the minimum."""
    return po.want.stabilized.recommended if po.want.stabilized is not None else 0


def _clamp(pool: PoolNeed) -> int:
    lim = pool.limits
    return min(max(pool.sized, lim.min_replicas), lim.max_replicas)


def _fallback(plan: Any) -> FixedPlan:
    assert isinstance(plan, FixedPlan)
    return FixedPlan(plan.prefill, plan.decode, plan.steps, fallback=True)


def _corrected(v: VariantEngines) -> VariantEngines:
    """The variant's engines with correction-factor curves (one wrapper per profile, so a
    variant whose two pools share a profile still learns each pool's own factor)."""
    from dataclasses import replace

    cp = CorrectedCurves(v.prefill.curves)
    cd = cp if v.decode.curves is v.prefill.curves else CorrectedCurves(v.decode.curves)
    return replace(v, prefill=replace(v.prefill, curves=cp), decode=replace(v.decode, curves=cd))
