"""A fleet tick's output: per pool the replicas with why (an enum and free text), preemptions
recorded against the higher classes that took the GPUs (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from sla_planner.model.allocate.allocator import Claim
from sla_planner.model.fleet.plan import FleetSettings, Plan
from sla_planner.model.fleet.types import (
    DeploymentAllocation,
    FleetAllocation,
    FleetReason,
    PoolAllocation,
    PoolNeed,
    Preemption,
)
from sla_planner.model.stabilise.wants import PoolWant


def usage_before(plan: Plan) -> dict[str, int]:
    """GPUs per type the deployment held entering the tick (old replicas of a switch included)."""
    st = plan.state
    out: dict[str, int] = dict(st.held.gpus_by_type()) if st.held else {}
    v = plan.need.variants.get(st.variant)
    if v is not None:
        for pool, n in ((v.prefill, st.prefill), (v.decode, st.decode)):
            out[pool.gpu_type] = out.get(pool.gpu_type, 0) + n * pool.gpus_per_replica
    return out


def usage_after(plan: Plan, claim: Claim) -> dict[str, int]:
    out: dict[str, int] = dict(plan.held.gpus_by_type()) if plan.held else {}
    for t, g in claim.need(claim.p, claim.d).items():
        out[t] = out.get(t, 0) + g
    return out


def build_allocation(
    plans: Mapping[str, Plan], claims: Mapping[str, Claim], settings: FleetSettings, now: float
) -> FleetAllocation:
    before = {n: usage_before(p) for n, p in plans.items()}
    after = {n: usage_after(p, claims[n]) for n, p in plans.items()}
    out: list[DeploymentAllocation] = []
    preemptions: list[Preemption] = []
    for name, plan in plans.items():
        c = claims[name]
        v = plan.need.variants[plan.choice.variant]
        higher = [o for o, p in plans.items() if p.need.rank < plan.need.rank]
        pools = []
        for pool, want, got, running in (
            (v.prefill, plan.want_p, c.p, plan.running[0]),
            (v.decode, plan.want_d, c.d, plan.running[1]),
        ):
            t = pool.gpu_type
            grew = tuple(o for o in higher if after[o].get(t, 0) > before[o].get(t, 0))
            held_by_higher = any(after[o].get(t, 0) > 0 for o in higher)
            alloc, pre = _pool(pool, want, got, running, grew, held_by_higher, name)
            pools.append(alloc)
            if pre is not None:
                preemptions.append(pre)
        out.append(_deployment(plan, c, pools[0], pools[1], settings))
    return FleetAllocation(now, tuple(out), dict(settings.gpus), tuple(preemptions))


def _pool(
    pool: PoolNeed,
    want: PoolWant,
    got: int,
    running: int,
    grew: tuple[str, ...],
    held_by_higher: bool,
    name: str,
) -> tuple[PoolAllocation, Preemption | None]:
    reasons, text = list(want.reasons), want.text
    pre = None
    if got < want.wanted:
        t = pool.gpu_type
        if got < running and grew:
            why = FleetReason.PREEMPTED
            gave = (running - got) * pool.gpus_per_replica
            pre = Preemption(name, t, gave, grew)
            head = f"preempted: {gave} {t} GPU(s) to higher priority {', '.join(grew)}"
        elif held_by_higher:
            why = FleetReason.PRIORITY_LIMITED
            head = f"higher priority classes hold the rest of the {t} GPUs"
        else:
            why = FleetReason.BUDGET_LIMITED
            head = f"{t} budget spent within its priority class"
        reasons.insert(0, why)
        text = f"{head}: wanted {want.wanted}, got {got}; {text}"
    alloc = PoolAllocation(
        replicas=got,
        gpus=got * pool.gpus_per_replica,
        gpu_type=pool.gpu_type,
        gpus_per_replica=pool.gpus_per_replica,
        sized=pool.sized,
        wanted=want.wanted,
        reasons=tuple(reasons),
        text=text,
    )
    return alloc, pre


def _deployment(
    plan: Plan, c: Claim, p: PoolAllocation, d: PoolAllocation, settings: FleetSettings
) -> DeploymentAllocation:
    prices = settings.prices
    cost = p.gpus * prices[p.gpu_type] + d.gpus * prices[d.gpu_type]
    if plan.held is not None:
        cost += sum(g * prices[t] for t, g in plan.held.gpus_by_type().items())
    reasons = list(plan.choice.reasons)
    texts = [plan.choice.text] if plan.choice.text else []
    if not any(v.meets_slo for v in plan.need.variants.values()) and plan.need.has_history:
        reasons.append(FleetReason.UNATTAINABLE)
        texts.append("no variant meets the SLO within the cluster: planned for the most it can")
    return DeploymentAllocation(
        name=plan.need.name,
        rank=plan.need.rank,
        variant=plan.choice.variant,
        prefill=p,
        decode=d,
        held=plan.held,
        expected_attainment=c.attainment(c.p, c.d),
        cost_per_hour=cost,
        reasons=tuple(reasons),
        text="; ".join(texts + list(plan.need.notes)),
    )
