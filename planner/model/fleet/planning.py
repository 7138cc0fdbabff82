"""Per deployment: the single-deployment Planner's forecast, sized on every variant (pure).

One `Planner` per deployment observes its demand and forecasts it exactly as a lone
deployment would (`Planner.planning_demand`). Each variant's pools are then sized with the
same calls the Planner makes (`sla_planner.model.size.pool_plan`), and scored over every replica
count the cluster could give them, so the allocator can compare variants and deployments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sla_planner.model.config import SLA, PlannerConfig, PoolLimits
from sla_planner.model.fleet.config import Deployment, FleetConfig
from sla_planner.model.fleet.types import DeploymentNeed, PoolNeed, VariantNeed
from sla_planner.model.old_planner import DemandForecasterLike, Planner
from sla_planner.model.size.planning_demand import PlanningDemand
from sla_planner.model.size.pool_plan import (
    binding_step,
    decode_scorer,
    prefill_scorer,
    size_decode_for,
    size_prefill_for,
)
from sla_planner.model.size.sizing import SizingPolicy, SizingResult
from sla_planner.model.types import DemandForecast, DemandSample


@dataclass(frozen=True)
class PoolEngine:
    """The engine one pool of a variant runs (resolved from its profile)."""

    curves: Any  # ProfileCurves
    gpu_type: str
    gpus_per_replica: int
    profile: str  # the profile's name, for reports


@dataclass(frozen=True)
class VariantEngines:
    name: str
    prefill: PoolEngine
    decode: PoolEngine


def planner_config(deployment: Deployment, fleet: FleetConfig) -> PlannerConfig:
    """The single-deployment settings a fleet deployment is planned with (no budget: the
    fleet's allocator owns it)."""
    return PlannerConfig(
        sla=SLA(ttft_ms=deployment.slo.ttft_ms, itl_ms=deployment.slo.itl_ms),
        interval_s=fleet.interval_s,
        startup_s=fleet.startup_s,
        prefill=deployment.prefill,
        decode=deployment.decode,
        forecaster=deployment.forecaster or fleet.forecaster,
        scale_down_window_s=fleet.scale_down_window_s,
    )


class DeploymentPlanner:
    """Observes one deployment's demand; sizes it on each variant when asked for its need."""

    def __init__(
        self,
        deployment: Deployment,
        fleet: FleetConfig,
        variants: Sequence[VariantEngines],
        forecaster_factory: Callable[[], Any] | None = None,
        policy: SizingPolicy | None = None,
        demand_forecaster: DemandForecasterLike | None = None,
    ) -> None:
        if not variants:
            raise ValueError(f"deployment {deployment.name!r} has no variants")
        self.deployment = deployment
        self.config = planner_config(deployment, fleet)
        self.rank = fleet.rank(deployment)
        self.idle_window_s = fleet.idle_window(deployment)
        self.variants = tuple(variants)
        first = self.variants[0]
        self.planner = Planner(
            self.config,
            first.prefill.curves,
            forecaster_factory,
            decode_curves=first.decode.curves,
            policy=policy,
            demand_forecaster=demand_forecaster,
        )
        self._last_request_at: float | None = None
        self._recent = 0.0

    @property
    def name(self) -> str:
        return self.deployment.name

    def observe(self, sample: DemandSample) -> None:
        self.planner.observe(sample)
        n = sample.requests
        self._recent = float(n) if math.isfinite(n) and n > 0 else 0.0
        if self._recent > 0:
            self._last_request_at = sample.start + sample.duration_s

    def need(self, now: float, gpus: Mapping[str, int]) -> DeploymentNeed:
        """This tick's need; `gpus` are the cluster's GPUs per type (they cap the curves)."""
        view = self.planner.planning_demand(now)
        forecast = None
        if view is None:
            variants = {v.name: self._cold_variant(v, gpus) for v in self.variants}
            weight, notes = 0.0, ("no demand history yet",)
        else:
            steps, forecasts, notes = view
            forecast = forecasts[0]
            means = [_at_mean(d, f) for d, f in zip(steps, forecasts, strict=True)]
            variants = {v.name: self._sized_variant(v, steps, means, gpus) for v in self.variants}
            weight = max(d.rate_rps for d in steps)
        return DeploymentNeed(
            name=self.name,
            rank=self.rank,
            target=self.deployment.slo.attainment,
            weight=weight,
            variants=variants,
            has_history=view is not None,
            last_request_at=self._last_request_at,
            recent_requests=self._recent,
            idle_window_s=self.idle_window_s,
            notes=notes,
            forecast=forecast,
        )

    # -- pieces ----------------------------------------------------------------------------
    def _sized_variant(
        self,
        v: VariantEngines,
        steps: Sequence[PlanningDemand],
        means: Sequence[PlanningDemand],
        gpus: Mapping[str, int],
    ) -> VariantNeed:
        cfg, policy, scv = self.config, self.planner.policy, self.planner.prefill_scv
        sp = [size_prefill_for(v.prefill.curves, d, cfg, policy, scv) for d in steps]
        sd = [size_decode_for(v.decode.curves, d, cfg, policy) for d in steps]
        kp, kd = binding_step(sp), binding_step(sd)
        dp, dd = steps[kp], steps[kd]
        p_scores = (
            prefill_scorer(v.prefill.curves, dp, cfg.sla.ttft_ms, scv),
            prefill_scorer(v.prefill.curves, means[kp], cfg.sla.ttft_ms, scv),
        )
        d_scores = (
            decode_scorer(v.decode.curves, dd, cfg.sla.itl_ms),
            decode_scorer(v.decode.curves, means[kd], cfg.sla.itl_ms),
        )
        return VariantNeed(
            v.name,
            _pool(v.prefill, sp[kp], p_scores, cfg.prefill, gpus, dp, scv),
            _pool(v.decode, sd[kd], d_scores, cfg.decode, gpus, dd),
        )

    def _cold_variant(self, v: VariantEngines, gpus: Mapping[str, int]) -> VariantNeed:
        def flat(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
            ones = np.ones(hi - lo + 1)
            return ones, ones

        def cold(limits: PoolLimits) -> SizingResult:
            n = limits.min_replicas
            return SizingResult(n, math.nan, math.nan, "cold", "no demand history yet")

        cfg = self.config
        return VariantNeed(
            v.name,
            _pool(v.prefill, cold(cfg.prefill), (flat, flat), cfg.prefill, gpus),
            _pool(v.decode, cold(cfg.decode), (flat, flat), cfg.decode, gpus),
        )


def pool_cap(engine: PoolEngine, limits: PoolLimits, gpus: Mapping[str, int]) -> int:
    """Most replicas a pool can get: its max_replicas and its GPU type's whole count."""
    cap = gpus.get(engine.gpu_type, 0) // engine.gpus_per_replica
    return cap if limits.max_replicas is None else min(cap, limits.max_replicas)


def _at_mean(d: PlanningDemand, f: DemandForecast) -> PlanningDemand:
    """The step at the forecast's mean request count instead of its upper quantile."""
    upper = max(x for x in (f.requests, f.requests_upper) if x is not None and math.isfinite(x))
    ratio = f.requests / upper if upper > 0 and math.isfinite(f.requests) else 1.0
    return replace(d, rate_rps=d.rate_rps * ratio, decode_rate_rps=d.decode_rate_rps * ratio)


Scorer = Callable[[int, int], tuple[Any, Any]]


def _curve(x: Any) -> np.ndarray:
    # More replicas never attain less; enforced so the allocator's search is well posed.
    return np.maximum.accumulate(np.clip(np.nan_to_num(np.asarray(x, float)), 0.0, 1.0))


def _pool(
    engine: PoolEngine,
    sized: SizingResult,
    scorers: tuple[Scorer, Scorer],
    limits: PoolLimits,
    gpus: Mapping[str, int],
    demand: PlanningDemand | None = None,
    scv: float = 1.0,
) -> PoolNeed:
    """`scorers`: at the planned demand and at the forecast's mean."""
    cap = pool_cap(engine, limits, gpus)
    att, served = scorers[0](0, cap)
    at_mean, _ = scorers[1](0, cap)
    return PoolNeed(
        engine.gpu_type,
        engine.gpus_per_replica,
        sized.replicas,
        _curve(att),
        _curve(served),
        sized.binding,
        sized.reason,
        limits,
        demand,
        scv,
        _curve(at_mean),
    )
