"""Why a pool got the replicas it got: the Limit code, and the free text (most important first)
for logs and the API (pure)."""

from __future__ import annotations

from sla_planner.model.allocate.outcome import PoolOutcome
from sla_planner.model.allocate.split import Allocation
from sla_planner.model.reasons import FleetReason, Limit
from sla_planner.model.size.needs import PoolNeed

_BY_PRIORITY = {FleetReason.PREEMPTED, FleetReason.PRIORITY_LIMITED, FleetReason.BUDGET_LIMITED}


def _fitted(pool: PoolNeed) -> int:
    """Sizing's want within the pool's limits (what the budget fit starts from)."""
    lim = pool.limits
    return min(max(pool.sized, lim.min_replicas), lim.max_replicas)


def pool_limit(pool: PoolNeed, po: PoolOutcome, split: Allocation) -> Limit:
    """What overrode sizing (the most important when several did); Limit.NONE when nothing."""
    want, got = pool.sized, po.replicas
    stab = po.want.stabilized
    if stab is None:  # scaled to zero: the idle window, not a limit
        return Limit.NONE
    if got < want:
        if split.budget_limited or _BY_PRIORITY & set(po.reasons):
            return Limit.BUDGET
        if got >= pool.limits.max_replicas:
            return Limit.MAX_REPLICAS
        return Limit.RATIO_BOUNDS
    if got > _fitted(pool) and stab.held:
        return Limit.STABILISATION
    if got > want and split.ratio_adjusted:
        return Limit.RATIO_RAISED
    return Limit.NONE


_LOWERED = {
    Limit.BUDGET: "budget-limited",
    Limit.MAX_REPLICAS: "at max_replicas",
    Limit.RATIO_BOUNDS: "limited by ratio bounds",
}


def pool_reason(pool: PoolNeed, po: PoolOutcome, split: Allocation) -> str:
    """Most important first: what overrode sizing, then why sizing asked for what it did."""
    parts: list[str] = []
    want, got = pool.sized, po.replicas
    stab = po.want.stabilized
    limit = pool_limit(pool, po, split)
    if po.head:
        parts.append(f"{po.head}: wanted {want}, got {got}")
    elif limit in _LOWERED:
        parts.append(f"{_LOWERED[limit]}: wanted {want}, got {got}")
    if po.want.text:
        parts.append(po.want.text)
    if stab is not None and got > _fitted(pool) and stab.held:
        until = (
            f" for {stab.hold_until - stab.history[-1].time:.0f} s more" if stab.hold_until else ""
        )
        parts.append(
            f"holding scale-down (stabilisation window): sized {want}, keeping {got}{until}"
        )
    elif got > want and split.ratio_adjusted:
        parts.append(f"raised for ratio bounds: wanted {want}, got {got}")
    parts.append(f"{pool.binding}: {pool.reason}")
    return "; ".join(parts)


def cold_limit(replicas: int, wanted: int, split: Allocation) -> Limit:
    """What overrode the replicas held without demand history."""
    if replicas == wanted:
        return Limit.NONE
    if replicas > wanted:
        return Limit.RATIO_RAISED if split.ratio_adjusted else Limit.STABILISATION
    if split.budget_limited:
        return Limit.BUDGET
    return Limit.RATIO_BOUNDS if split.ratio_adjusted else Limit.MAX_REPLICAS
