"""Why a pool got the replicas it got, most important first (free text for logs and the API)."""

from __future__ import annotations

from sla_planner.model.budget import Allocation
from sla_planner.model.sizing import SizingResult
from sla_planner.model.stabilization import Stabilized


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
    if got < want:
        if fitted.budget_limited or final.budget_limited:
            parts.append(f"budget-limited: wanted {want}, got {got}")
        elif max_replicas is not None and got >= max_replicas:
            parts.append(f"at max_replicas: wanted {want}, got {got}")
        else:
            parts.append(f"limited by ratio bounds: wanted {want}, got {got}")
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
