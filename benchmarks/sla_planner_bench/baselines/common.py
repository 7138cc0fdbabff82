"""What every baseline policy shares: the policy protocol's decision (a fleet of one) built from
replica counts, pool limits, budget scaling."""

from __future__ import annotations

import math

from sla_planner.model.config import PlannerConfig
from sla_planner.model.types import Decision, DemandForecast, FleetDecision, Pool, PoolDecision

_NAN = math.nan


def make_decision(
    cfg: PlannerConfig,
    now: float,
    prefill: int,
    decode: int,
    gpus: tuple[int, int],
    reason: str,
    forecast: DemandForecast | None = None,
) -> FleetDecision:
    """A single deployment's decision, as every `Policy` returns it: a fleet of one (its GPU
    type unlimited, `cfg.budget.max_gpus` its cap)."""
    fc = forecast or DemandForecast(_NAN, _NAN, _NAN)
    d = Decision(
        timestamp=now,
        prefill=PoolDecision(
            Pool.PREFILL, prefill, prefill * gpus[0], prefill, _NAN, cfg.sla.ttft_ms, reason
        ),
        decode=PoolDecision(
            Pool.DECODE, decode, decode * gpus[1], decode, _NAN, cfg.sla.itl_ms, reason
        ),
        forecast=fc,
        budget_gpus=cfg.budget.max_gpus,
    )
    return FleetDecision(now, (d,), {"": None})


def pool_limits(cfg: PlannerConfig, pool: Pool, n: int) -> int:
    lim = cfg.prefill if pool is Pool.PREFILL else cfg.decode
    n = max(n, lim.min_replicas)
    return min(n, lim.max_replicas) if lim.max_replicas is not None else n


def scale_to_budget(
    prefill: int, decode: int, gp: int, gd: int, max_gpus: int | None
) -> tuple[int, int]:
    """Dynamo's budget rule: both pools shrink by the same factor; prefill first (at least
    one), decode takes what is left (at least one)."""
    if max_gpus is None or prefill * gp + decode * gd <= max_gpus:
        return prefill, decode
    factor = max_gpus / (prefill * gp + decode * gd)
    p = max(1, math.floor(prefill * factor))
    d = max(1, math.floor((max_gpus - p * gp) / gd))
    return p, d
