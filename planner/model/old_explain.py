"""Why a pool got the replicas it got: the Limit code, and the free text (most important first)
for logs and the API."""

from __future__ import annotations

from sla_planner.model.allocate.split import Allocation
from sla_planner.model.reasons import Limit
from sla_planner.model.size.sizing import SizingResult
from sla_planner.model.stabilise.stabilization import Stabilized


def pool_limit(
    sized: SizingResult,
    fitted_n: int,
    stab: Stabilized,
    got: int,
    fitted: Allocation,
    final: Allocation,
    max_replicas: int | None,
) -> Limit:
    """What overrode sizing (the most important when several did); Limit.NONE when nothing."""
    want = sized.replicas
    if got < want:
        if fitted.budget_limited or final.budget_limited:
            return Limit.BUDGET
        if max_replicas is not None and got >= max_replicas:
            return Limit.MAX_REPLICAS
        return Limit.RATIO_BOUNDS
    if got > fitted_n and stab.held:
        return Limit.STABILISATION
    if got > want and (fitted.ratio_adjusted or final.ratio_adjusted):
        return Limit.RATIO_RAISED
    return Limit.NONE


_LOWERED = {
    Limit.BUDGET: "budget-limited",
    Limit.MAX_REPLICAS: "at max_replicas",
    Limit.RATIO_BOUNDS: "limited by ratio bounds",
}


def pool_reason(
    sized: SizingResult,
    fitted_n: int,
    stab: Stabilized,
    got: int,
    fitted: Allocation,
    final: Allocation,
    max_replicas: int | None,
) -> str:
    """Most important first: what overrode sizing, then why sizing asked for what it did."""
    parts: list[str] = []
    want = sized.replicas
    limit = pool_limit(sized, fitted_n, stab, got, fitted, final, max_replicas)
    if limit in _LOWERED:
        parts.append(f"{_LOWERED[limit]}: wanted {want}, got {got}")
    if got > fitted_n and stab.held:
        until = (
            f" for {stab.hold_until - stab.history[-1].time:.0f} s more" if stab.hold_until else ""
        )
        parts.append(
            f"holding scale-down (stabilisation window): sized {want}, keeping {got}{until}"
        )
    elif got > want and (fitted.ratio_adjusted or final.ratio_adjusted):
        parts.append(f"raised for ratio bounds: wanted {want}, got {got}")
    parts.append(f"{sized.binding}: {sized.reason}")
    return "; ".join(parts)
