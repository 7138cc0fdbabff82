"""An allocation's outcome per deployment: each pool's replicas with the allocator's reasons, and
preemptions recorded against the higher classes that took the GPUs (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sla_planner.model.allocate.allocator import Claim
from sla_planner.model.allocate.plan import FleetSettings, Plan
from sla_planner.model.allocate.split import Allocation
from sla_planner.model.allocate.variants import VariantChoice
from sla_planner.model.reasons import FleetReason
from sla_planner.model.size.needs import PoolNeed
from sla_planner.model.stabilise.wants import PoolWant
from sla_planner.model.types import Held, Preemption


@dataclass(frozen=True)
class PoolOutcome:
    replicas: int
    want: PoolWant  # what the pool asked for (stabilised, scale-to-zero)
    reasons: tuple[FleetReason, ...]
    head: str  # why it got less than it wanted, when a priority did it ("" otherwise)


@dataclass(frozen=True)
class Outcome:
    """What the allocator decided for one deployment."""

    name: str
    variant: str
    choice: VariantChoice
    held: Held | None  # old variant's replicas still counted (a switch in progress)
    prefill: PoolOutcome
    decode: PoolOutcome
    split: Allocation  # how its pools were fitted (budget, ratio bounds, notes)
    cost_per_hour: float  # every GPU it holds, old variant included
    reasons: tuple[FleetReason, ...]
    text: str


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


def build_outcomes(
    plans: Mapping[str, Plan],
    claims: Mapping[str, Claim],
    splits: Mapping[str, Allocation],
    settings: FleetSettings,
) -> tuple[dict[str, Outcome], tuple[Preemption, ...]]:
    before = {n: usage_before(p) for n, p in plans.items()}
    after = {n: usage_after(p, claims[n]) for n, p in plans.items()}
    out: dict[str, Outcome] = {}
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
            po, pre = _pool(pool, want, got, running, grew, held_by_higher, name)
            pools.append(po)
            if pre is not None:
                preemptions.append(pre)
        out[name] = _deployment(plan, c, pools[0], pools[1], splits[name], settings)
    return out, tuple(preemptions)


def _pool(
    pool: PoolNeed,
    want: PoolWant,
    got: int,
    running: int,
    grew: tuple[str, ...],
    held_by_higher: bool,
    name: str,
) -> tuple[PoolOutcome, Preemption | None]:
    reasons, head = list(want.reasons), ""
    pre = None
    wanted = min(want.wanted, pool.limits.max_replicas)
    if got < wanted:
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
        reasons.insert(0, why)
    return PoolOutcome(got, want, tuple(reasons), head), pre


def _deployment(
    plan: Plan,
    c: Claim,
    p: PoolOutcome,
    d: PoolOutcome,
    split: Allocation,
    settings: FleetSettings,
) -> Outcome:
    v = plan.need.variants[plan.choice.variant]
    cost = sum(
        n * pool.gpus_per_replica * settings.price(pool.gpu_type)
        for pool, n in ((v.prefill, p.replicas), (v.decode, d.replicas))
    )
    if plan.held is not None:
        cost += sum(g * settings.price(t) for t, g in plan.held.gpus_by_type().items())
    reasons = list(plan.choice.reasons)
    texts = [plan.choice.text] if plan.choice.text else []
    if not any(x.meets_slo for x in plan.need.variants.values()) and plan.need.has_history:
        reasons.append(FleetReason.UNATTAINABLE)
        texts.append("no variant meets the SLO within the cluster: planned for the most it can")
    return Outcome(
        name=plan.need.name,
        variant=plan.choice.variant,
        choice=plan.choice,
        held=plan.held,
        prefill=p,
        decode=d,
        split=split,
        cost_per_hour=cost,
        reasons=tuple(reasons),
        text="; ".join(texts),
    )
