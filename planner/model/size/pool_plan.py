"""One pool's share of a decision: size it for a planned demand, and score replica counts (pure).

Every deployment of the `Planner` (a single deployment is a fleet of one) sizes each pool with
these calls and scores candidate replica counts with the same attainment curves, whatever
profile (variant) it is planned on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sla_planner.model.config import PlannerConfig
from sla_planner.model.size import latency_model as lm
from sla_planner.model.size.latency_curves import Curves
from sla_planner.model.size.planning_demand import PlanningDemand
from sla_planner.model.size.sizing import SizingPolicy, SizingResult, size_decode, size_prefill

# (lo, hi) -> (attainment, served fraction) for replicas lo..hi, each an array of hi - lo + 1.
Scorer = Callable[[int, int], tuple[Sequence[float], Sequence[float]]]


def size_prefill_for(
    curves: Curves, d: PlanningDemand, config: PlannerConfig, policy: SizingPolicy, scv: float
) -> SizingResult:
    """Fewest prefill replicas meeting the TTFT target for one planned step."""
    return size_prefill(
        curves,
        d.rate_rps,
        d.isl,
        config.sla.ttft_ms,
        min_replicas=config.prefill.min_replicas,
        quantile=policy.ttft_quantile,
        max_utilization=policy.prefill_max_utilization,
        service_scv=scv,
        target_fraction=policy.ttft_target_fraction,
        with_latency=False,
    )


def size_decode_for(
    curves: Curves, d: PlanningDemand, config: PlannerConfig, policy: SizingPolicy
) -> SizingResult:
    """Fewest decode replicas meeting the ITL target for one planned step."""
    return size_decode(
        curves,
        d.decode_rate_rps,
        d.isl,
        d.osl,
        config.sla.itl_ms,
        min_replicas=config.decode.min_replicas,
        quantile=policy.itl_quantile,
        target_fraction=policy.itl_target_fraction,
        with_latency=False,
    )


def binding_step(sized: Sequence[SizingResult]) -> int:
    """The step that needs the most replicas (the earliest of equals)."""
    return max(range(len(sized)), key=lambda i: (sized[i].replicas, -i))


def prefill_scorer(curves: Curves, d: PlanningDemand, ttft_ms: float, scv: float) -> Scorer:
    """(attainment, served share) of prefill replicas lo..hi at the planned demand `d`."""

    def score(lo: int, hi: int) -> tuple[Any, Any]:
        return (
            lm.ttft_attainment_curve(curves, d.rate_rps, d.isl, lo, hi, ttft_ms, scv),
            lm.prefill_served_curve(curves, d.rate_rps, d.isl, lo, hi),
        )

    return score


def decode_scorer(curves: Curves, d: PlanningDemand, itl_ms: float) -> Scorer:
    """(attainment, served share) of decode replicas lo..hi at the planned demand `d`."""

    def score(lo: int, hi: int) -> tuple[Any, Any]:
        return (
            lm.itl_attainment_curve(curves, d.decode_rate_rps, d.isl, d.osl, lo, hi, itl_ms),
            lm.decode_served_curve(curves, d.decode_rate_rps, d.isl, d.osl, lo, hi),
        )

    return score
