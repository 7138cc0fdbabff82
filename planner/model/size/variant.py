"""Size one deployment's pools on one variant (an engine profile per pool) for the demand a
decision plans for (pure).

Two ways, as `PlannerConfig.slo.attainment` says:
- fixed margins (`size_fixed`): each pool the fewest replicas meeting its own latency target at
  the planning quantile, for the forecast step that needs the most;
- to the SLO (`size_to_slo`): the fewest GPUs whose expected request-weighted attainment of
  both pools reaches the error-budget controller's goal (sla_planner.model.size.slo_sizing), at
  each step's rate distribution and burst mixture; None when the goal is out of reach of the
  latency model (the caller falls back to fixed margins).
Either way each pool gets its scorers (expected attainment of any replica count at the planned
demand, and at the forecast's mean) for when a budget binds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sla_planner.model.config import PlannerConfig, PoolLimits
from sla_planner.model.reasons import Binding
from sla_planner.model.size.latency_curves import Curves
from sla_planner.model.size.needs import PoolNeed, VariantNeed
from sla_planner.model.size.planning_demand import PlanningDemand
from sla_planner.model.size.pool_plan import (
    Scorer,
    binding_step,
    decode_scorer,
    prefill_scorer,
    size_decode_for,
    size_prefill_for,
)
from sla_planner.model.size.prefill_latency import z_score
from sla_planner.model.size.sizing import SizingPolicy, SizingResult
from sla_planner.model.size.slo_price import Pricing, price_step, shadow_price
from sla_planner.model.size.slo_sizing import (
    BurstMix,
    DecodeShare,
    GoalSizing,
    PoolModels,
    StepDemand,
    size_step,
)
from sla_planner.model.types import DemandForecast

_BUCKET = math.log(1.01)  # lengths within 1% share one decode table
_SHARES_KEPT = 256


@dataclass(frozen=True)
class Engine:
    """The engine one pool of a variant runs (resolved from its profile)."""

    curves: Curves
    gpu_type: str
    gpus_per_replica: int
    profile: str  # the profile's name, for reports


@dataclass(frozen=True)
class VariantEngines:
    name: str
    prefill: Engine
    decode: Engine


@dataclass(frozen=True)
class FixedPlan:
    """How fixed-margin sizing chose: the binding steps' planned demand."""

    prefill: PlanningDemand
    decode: PlanningDemand
    steps: int
    fallback: bool = False  # the SLO goal was out of reach of the latency model


@dataclass(frozen=True)
class SloPlan:
    """How SLO sizing chose: what the decision's SLO note reports at the final replicas."""

    models: PoolModels
    step: StepDemand  # the first step (the interval decided for)
    mix: BurstMix
    share: DecodeShare
    goal: float
    steps: int
    price: float | None = None  # GPU-hours per expected miss (priced sizing), else the goal's


@dataclass(frozen=True)
class SizingInputs:
    """What sizing reads besides the variant: settings, demand, and the cluster's caps."""

    config: PlannerConfig
    policy: SizingPolicy
    steps: Sequence[PlanningDemand]
    forecasts: Sequence[DemandForecast]
    prefill_scv: float  # measured x margin (or the fixed value)
    caps: Mapping[str, int | None]  # GPUs per type the cluster has (None: unlimited)


def pool_cap(engine: Engine, limits: PoolLimits, caps: Mapping[str, int | None]) -> int:
    """Most replicas a pool can get: its max_replicas and its GPU type's whole count."""
    count = caps.get(engine.gpu_type)
    top = limits.max_replicas
    return top if count is None else min(top, count // engine.gpus_per_replica)


def at_mean(d: PlanningDemand, f: DemandForecast) -> PlanningDemand:
    """The step at the forecast's mean request count instead of its upper quantile."""
    vals = [x for x in (f.requests, f.requests_upper) if x is not None and math.isfinite(x)]
    upper = max(vals) if vals else math.nan
    ratio = f.requests / upper if upper > 0 and math.isfinite(f.requests) else 1.0
    return replace(d, rate_rps=d.rate_rps * ratio, decode_rate_rps=d.decode_rate_rps * ratio)


def _pool(
    engine: Engine,
    result: SizingResult,
    limits: PoolLimits,
    caps: Mapping[str, int | None],
    scorers: tuple[Scorer, Scorer] | None,
    demand: PlanningDemand | None,
    scv: float = 1.0,
) -> PoolNeed:
    planned, mean = scorers if scorers is not None else (None, None)
    return PoolNeed(
        engine.gpu_type,
        engine.gpus_per_replica,
        result,
        limits,
        pool_cap(engine, limits, caps),
        planned,
        mean,
        demand,
        scv,
    )


def _scored(
    v: VariantEngines, kp: int, kd: int, x: SizingInputs, sp: SizingResult, sd: SizingResult
) -> tuple[PoolNeed, PoolNeed]:
    cfg, scv = x.config, x.prefill_scv
    dp, dd = x.steps[kp], x.steps[kd]
    ttft, itl = cfg.slo.ttft_ms, cfg.slo.itl_ms
    mp, md = at_mean(dp, x.forecasts[kp]), at_mean(dd, x.forecasts[kd])
    p = _pool(
        v.prefill,
        sp,
        cfg.prefill,
        x.caps,
        (prefill_scorer(v.prefill.curves, dp, ttft, scv), prefill_scorer(v.prefill.curves, mp, ttft, scv)),
        dp,
        scv,
    )  # fmt: skip
    d = _pool(
        v.decode,
        sd,
        cfg.decode,
        x.caps,
        (decode_scorer(v.decode.curves, dd, itl), decode_scorer(v.decode.curves, md, itl)),
        dd,
    )
    return p, d


def size_fixed(v: VariantEngines, x: SizingInputs) -> VariantNeed:
    """Each pool for its own latency target at the step that needs the most replicas."""
    cfg, policy = x.config, x.policy
    sp = [size_prefill_for(v.prefill.curves, d, cfg, policy, x.prefill_scv) for d in x.steps]
    sd = [size_decode_for(v.decode.curves, d, cfg, policy) for d in x.steps]
    kp, kd = binding_step(sp), binding_step(sd)
    p, d = _scored(v, kp, kd, x, sp[kp], sd[kd])
    return VariantNeed(v.name, p, d, FixedPlan(x.steps[kp], x.steps[kd], len(x.steps)))


def cold_variant(
    v: VariantEngines, config: PlannerConfig, caps: Mapping[str, int | None]
) -> VariantNeed:
    """No demand history yet: sizing asks for the minimums, every count attains alike."""

    def cold(limits: PoolLimits) -> SizingResult:
        n = limits.min_replicas
        return SizingResult(n, math.nan, math.nan, Binding.NO_HISTORY, "no demand history yet")

    return VariantNeed(
        v.name,
        _pool(v.prefill, cold(config.prefill), config.prefill, caps, None, None),
        _pool(v.decode, cold(config.decode), config.decode, caps, None, None),
    )


class SloSizer:
    """Sizing to the error budget's goal on one variant; keeps its decode tables between
    decisions (they depend only on the mean lengths)."""

    def __init__(self, v: VariantEngines) -> None:
        self.variant = v
        self._shares: dict[tuple[int, int], DecodeShare] = {}

    def models(
        self, config: PlannerConfig, measured_scv: float | None, policy: SizingPolicy
    ) -> PoolModels:
        v = self.variant
        scv = measured_scv if measured_scv is not None else policy.prefill_service_scv
        return PoolModels(
            v.prefill.curves,
            v.decode.curves,
            config.slo.ttft_ms,
            config.slo.itl_ms,
            scv,
            v.prefill.gpus_per_replica,
            v.decode.gpus_per_replica,
            config.prefill.min_replicas,
            config.decode.min_replicas,
        )

    def share(self, models: PoolModels, step: StepDemand) -> DecodeShare:
        """Tabulated once per 1% bucket of ISL and OSL (at the bucket's own value, so a result
        does not depend on call order)."""
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

    def size(
        self,
        x: SizingInputs,
        mix: BurstMix,
        goal: float,
        measured_scv: float | None,
        pricing: Pricing | None = None,
    ) -> VariantNeed | None:
        """Each step to the goal, or (`pricing` given) at the price of a miss; each pool the
        most any step needs. None: out of the latency model's reach."""
        price = pricing.price if pricing is not None else None
        models = self.models(x.config, measured_scv, x.policy)
        steps = [step_demand(f, d, x.config) for f, d in zip(x.forecasts, x.steps, strict=True)]
        shares = [self.share(models, s) for s in steps]

        def one(s: StepDemand, ds: DecodeShare) -> GoalSizing:
            if pricing is not None:
                return price_step(models, s, mix, pricing.price, ds, pricing.floor)
            return size_step(models, s, mix, goal, ds)

        sized = [one(s, ds) for s, ds in zip(steps, shares, strict=True)]
        if not all(s.reachable for s in sized):
            return None
        kp = max(range(len(sized)), key=lambda i: (sized[i].prefill, -i))
        kd = max(range(len(sized)), key=lambda i: (sized[i].decode, -i))
        sp = _result(sized[kp].prefill, steps[kp], goal, "prefill", price)
        sd = _result(sized[kd].decode, steps[kd], goal, "decode", price)
        p, d = _scored(self.variant, kp, kd, x, sp, sd)
        plan = SloPlan(models, steps[0], mix, shares[0], goal, len(steps), price)
        return VariantNeed(self.variant.name, p, d, plan)

    def shadow(
        self, x: SizingInputs, mix: BurstMix, goal: float, measured_scv: float | None
    ) -> tuple[float, float]:
        """(shadow price of the goal sizing at `goal`, requests planned) of the interval
        decided for: what the error budget calibrates its reference price from."""
        models = self.models(x.config, measured_scv, x.policy)
        s = step_demand(x.forecasts[0], x.steps[0], x.config)
        price = shadow_price(models, s, mix, goal, self.share(models, s))
        return price, s.rate_mean * x.config.interval_s


def step_demand(f: DemandForecast, d: PlanningDemand, config: PlannerConfig) -> StepDemand:
    """The step's rate as a distribution: the mean, and an sd from the upper quantile."""
    i = config.interval_s
    mean = f.requests if math.isfinite(f.requests) else d.rate_rps * i
    upper = f.requests_upper
    z = z_score(config.planning_quantile)
    sd = (upper - mean) / z if upper is not None and math.isfinite(upper) and z > 0 else 0.0
    return StepDemand(max(mean, 0.0) / i, max(sd, 0.0) / i, d.isl, d.osl)


def burst_mix(config: PlannerConfig, ratios: Sequence[float], subwindows: int) -> BurstMix:
    """Sub-interval bursts: the recent peak/mean ratios, else burst_fallback."""
    if config.burst_quantile is None:
        return BurstMix()
    return BurstMix.from_ratios(list(ratios) or [config.burst_fallback], subwindows)


def _result(
    replicas: int, step: StepDemand, goal: float, pool: str, price: float | None = None
) -> SizingResult:
    demand = f"{step.rate_mean:.2f} +- {step.rate_sd:.2f} req/s x {step.isl:.0f}/{step.osl:.0f} tok"
    if price is not None:
        how = f"fewest GPUs + {price:.3g} GPU-h per expected miss of both pools"
    else:
        how = f"fewest GPUs with {goal:.3%} expected attainment of both pools"
    return SizingResult(
        replicas, math.nan, math.nan, Binding.SLO, f"{demand}: {how} ({pool} {replicas})"
    )
