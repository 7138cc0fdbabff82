"""Why a pool got the replicas it got: the Limit code, and the free text (most important first)
for logs and the API (pure)."""

from __future__ import annotations

from sla_planner.model.allocate.outcome import PoolOutcome
from sla_planner.model.allocate.split import Allocation
from sla_planner.model.config import PlannerConfig
from sla_planner.model.reasons import FleetReason, Limit
from sla_planner.model.size.error_budget import BudgetStatus
from sla_planner.model.size.needs import PoolNeed
from sla_planner.model.size.variant import FixedPlan, SloPlan

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


def slo_note(st: BudgetStatus, how: SloPlan, expected: float) -> str:
    """The SLO sizing's line: what it aimed at (a goal or a price), what the model expects at
    the replicas chosen, and what was measured."""
    measured = (
        f"measured {st.cumulative_attainment:.3%} so far, burn {st.burn_short:.2f} (short) / "
        f"{st.burn_long:.2f} (long)"
        if st.finished > 0
        else "nothing measured yet"
    )
    if how.price is not None:
        aim = (
            f"priced a miss at {how.price:.3g} GPU-h (x{how.price / st.price_ref:.2f} the "
            f"reference) over {how.steps} steps: cheapest GPUs + misses expected attainment"
        )
    else:
        aim = f"sized to {how.goal:.4%} expected attainment over {how.steps} steps"
    return (
        f"SLO {st.target:.3%}: {aim} (margin x{st.margin:.2f}); {expected:.4%} "
        f"expected this interval at the chosen replicas; {measured}"
    )


def planned_note(cfg: PlannerConfig, how: FixedPlan) -> str:
    """The fixed-margin sizing's line: the quantile and the steps each pool was sized at."""
    dp, dd = how.prefill, how.decode
    return (
        f"planned for q{cfg.planning_quantile:g} over {how.steps} steps: prefill "
        f"{dp.rate_rps:.2f} req/s x {dp.isl:.0f} tok (step {dp.step}), decode "
        f"{dd.decode_rate_rps:.2f} req/s x {dd.osl:.0f} out tok (step {dd.step})"
    )
