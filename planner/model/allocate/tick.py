"""One allocation: variants, wants, GPUs, reasons (pure; time is an argument).

`allocate(needs, state, now, settings)` is what the planner calls each tick, with every
deployment's need and the state the last tick returned (a controller overwrites the replicas
with what the cluster runs). A single deployment is a fleet of one: its GPU type unlimited,
its own `max_gpus` the budget.

1. Switches in progress whose new replicas are ready release the old ones.
2. Wants: sizing, scale-to-zero and the scale-down window per pool (`stabilise.wants`).
3. A pass on the variants deployments run now: when the GPU types' budgets bind, GPUs go by
   priority class and value per dollar (`allocator`); then each deployment, highest class
   first, splits what it holds (plus what is still free of its types, within its own
   `max_gpus`) between its two pools (`split.fit_budget`: its wants when they fit, raised for
   the prefill:decode ratio bounds, else the split with the most expected attainment).
4. Variants: another variant that is cheaper, or that meets the SLO where the current one
   cannot, becomes a candidate; after the hysteresis a switch starts (`variants`).
5. With switches, the pass is redone counting the old replicas too (make-before-break); a
   switch that does not get its whole want this way is put off (still pending).
The per-type budgets hold on every returned allocation, old replicas of a switch included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from sla_planner.model.allocate.allocator import Claim, FleetBudgetError, allocate_gpus, fits
from sla_planner.model.allocate.outcome import Outcome, build_outcomes
from sla_planner.model.allocate.plan import UNLIMITED, FleetSettings, Plan
from sla_planner.model.allocate.split import Allocation, PoolRequest, fit_budget
from sla_planner.model.allocate.state import DeploymentState, FleetState
from sla_planner.model.allocate.variants import VariantChoice, choose_variant
from sla_planner.model.config import Budget, PoolLimits
from sla_planner.model.reasons import FleetReason
from sla_planner.model.size.needs import DeploymentNeed, PoolNeed
from sla_planner.model.stabilise.wants import PoolWant, pool_want
from sla_planner.model.types import Held, Preemption


@dataclass(frozen=True)
class Pass:
    claims: dict[str, Claim]
    splits: dict[str, Allocation]
    free: dict[str, int]


def allocate(
    needs: Sequence[DeploymentNeed], state: FleetState, now: float, settings: FleetSettings
) -> tuple[dict[str, Outcome], tuple[Preemption, ...], FleetState]:
    """This tick's outcome per deployment, the preemptions and the next state."""
    states = {n.name: entering(n, state.get(n.name), now) for n in needs}
    stay = {n.name: VariantChoice(states[n.name].variant, None, None, None) for n in needs}
    plans = {n.name: plan_for(n, states[n.name], stay[n.name], now, settings) for n in needs}
    first = run_pass(plans, settings)
    if any(len(n.variants) > 1 for n in needs):
        plans, first = _switch_variants(needs, states, plans, first, now, settings)
    outcomes, preemptions = build_outcomes(plans, first.claims, first.splits, settings)
    return outcomes, preemptions, next_state(plans, first.claims)


def _switch_variants(
    needs: Sequence[DeploymentNeed],
    states: Mapping[str, DeploymentState],
    plans: dict[str, Plan],
    first: Pass,
    now: float,
    settings: FleetSettings,
) -> tuple[dict[str, Plan], Pass]:
    rooms = _rooms(plans, first.claims, first.free)
    choices = {
        n.name: choose_variant(
            n,
            states[n.name],
            settings.prices,
            now,
            settings.hysteresis,
            rooms[n.name],
            limited=_attained(first.claims[n.name]) if _short(first.claims[n.name]) else None,
        )
        for n in needs
    }
    switching = sorted(
        (n for n, c in choices.items() if c.switch_from), key=lambda n: -plans[n].need.rank
    )
    if not switching:  # the same pass stands; only pending candidates to carry on
        return {n: replace(plan, choice=choices[n]) for n, plan in plans.items()}, first
    while True:
        plans = {n.name: plan_for(n, states[n.name], choices[n.name], now, settings) for n in needs}
        try:
            result = run_pass(plans, settings)
            failed = [n for n in switching if not _pays(choices[n], result.claims[n])]
        except FleetBudgetError:
            if not switching:
                raise
            failed = switching[:1]  # the lowest class's switch waits first
        if not failed:
            return plans, result
        for name in failed:
            choices[name] = _put_off(choices[name])
            switching.remove(name)


def run_pass(plans: Mapping[str, Plan], settings: FleetSettings) -> Pass:
    """One allocation on the plans' variants; GPUs held by switches are taken off first."""
    free = settings.free()
    for plan in plans.values():
        if plan.held is not None:
            need = plan.held.gpus_by_type()
            if not fits(free, need):
                raise FleetBudgetError(
                    f"deployment {plan.need.name!r}: its switch's old replicas do not fit"
                )
            for t, g in need.items():
                free[t] -= g
    claims = {name: claim_for(plan, settings) for name, plan in plans.items()}
    if _binds(claims.values(), free):
        allocate_gpus(list(claims.values()), free)
    else:
        for c in claims.values():
            for t, g in c.need(c.hi_p, c.hi_d).items():
                free[t] -= g
            c.p, c.d = c.hi_p, c.hi_d
    splits = {}
    for name in sorted(claims, key=lambda n: (claims[n].rank, n)):
        splits[name] = _split(plans[name], claims[name], free)
    return Pass(claims, splits, free)


def _binds(claims: Iterable[Claim], free: Mapping[str, int]) -> bool:
    """The GPU types cannot hold every deployment's wants (then priorities decide)."""
    total: dict[str, int] = {}
    for c in claims:
        for t, g in c.need(c.hi_p, c.hi_d).items():
            total[t] = total.get(t, 0) + g
    return any(g > free.get(t, 0) for t, g in total.items())


def claim_for(plan: Plan, settings: FleetSettings) -> Claim:
    v = plan.need.variants[plan.choice.variant]
    lo_p, lo_d = v.prefill.limits.min_replicas, v.decode.limits.min_replicas
    return Claim(
        name=plan.need.name,
        rank=plan.need.rank,
        weight=plan.need.weight,
        target=plan.need.target,
        prefill=v.prefill,
        decode=v.decode,
        lo_p=lo_p,
        lo_d=lo_d,
        hi_p=max(min(plan.want_p.wanted, _top(v.prefill)), lo_p),
        hi_d=max(min(plan.want_d.wanted, _top(v.decode)), lo_d),
        price_p=v.prefill.gpus_per_replica * settings.price(v.prefill.gpu_type),
        price_d=v.decode.gpus_per_replica * settings.price(v.decode.gpu_type),
        cap_gpus=plan.need.budget.max_gpus,
    )


def _top(pool: PoolNeed) -> int:
    return min(pool.cap, pool.limits.max_replicas)


def _split(plan: Plan, c: Claim, free: dict[str, int]) -> Allocation:
    """The deployment's two pools within what it holds plus what is free of their types."""
    p, d = c.prefill, c.decode
    tp, td = p.gpu_type, d.gpu_type
    held = c.need(c.p, c.d)
    allow = {t: held.get(t, 0) + free.get(t, 0) for t in {tp, td}}
    total = c.cap_gpus
    cap_p = cap_d = None
    if tp == td:
        if allow[tp] < UNLIMITED // 2:
            total = allow[tp] if total is None else min(total, allow[tp])
    else:
        if allow[tp] < UNLIMITED // 2:
            cap_p = allow[tp] // p.gpus_per_replica
        if allow[td] < UNLIMITED // 2:
            cap_d = allow[td] // d.gpus_per_replica
    # The pools' own caps (their type's whole count) where tighter than max_replicas.
    if p.cap < p.limits.max_replicas:
        cap_p = p.cap if cap_p is None else min(cap_p, p.cap)
    if d.cap < d.limits.max_replicas:
        cap_d = d.cap if cap_d is None else min(cap_d, d.cap)
    ratio = plan.need.budget
    budget = Budget.model_construct(
        max_gpus=total,
        min_prefill_decode_ratio=ratio.min_prefill_decode_ratio,
        max_prefill_decode_ratio=ratio.max_prefill_decode_ratio,
    )
    alloc = fit_budget(
        PoolRequest(
            plan.want_p.wanted, _limits(plan.want_p, p), p.gpus_per_replica, p.scorer, cap_p
        ),
        PoolRequest(
            plan.want_d.wanted, _limits(plan.want_d, d), d.gpus_per_replica, d.scorer, cap_d
        ),
        budget,
    )
    for t, g in held.items():
        free[t] += g
    c.p, c.d = alloc.prefill, alloc.decode
    for t, g in c.need(c.p, c.d).items():
        free[t] -= g
    return alloc


def _limits(want: PoolWant, pool: PoolNeed) -> PoolLimits:
    """A pool scaled to zero stays there: the split may not buy attainment with it."""
    if want.stabilized is not None:
        return pool.limits
    return PoolLimits.model_construct(min_replicas=0, max_replicas=0)


def _short(c: Claim) -> bool:
    return c.p < c.hi_p or c.d < c.hi_d


def _attained(c: Claim) -> float:
    return c.prefill.at(c.p) * c.decode.at(c.d)


def _pays(choice: VariantChoice, c: Claim) -> bool:
    """A switch goes ahead when the new variant gets its whole wants (a squeezed deployment's:
    more expected attainment than it had)."""
    if choice.floor is None:
        return not _short(c)
    return _attained(c) > choice.floor


def entering(need: DeploymentNeed, st: DeploymentState | None, now: float) -> DeploymentState:
    """The state a deployment enters this tick with: a variant, and finished switches done."""
    if st is None or st.variant not in need.variants:
        return DeploymentState(need.default_variant)
    if st.held is not None and st.held.until <= now + 1e-9:
        return replace(st, held=None)
    return st


def plan_for(
    need: DeploymentNeed,
    st: DeploymentState,
    choice: VariantChoice,
    now: float,
    settings: FleetSettings,
) -> Plan:
    held, running = st.held, (st.prefill, st.decode)
    hist_p, hist_d = st.prefill_history, st.decode_history
    if choice.switch_from is not None:
        old = need.variants[choice.switch_from]
        held = None
        if (st.prefill or st.decode) and settings.startup_s > 0:
            held = Held(
                choice.switch_from,
                st.prefill,
                st.decode,
                old.prefill.gpu_type,
                old.decode.gpu_type,
                st.prefill * old.prefill.gpus_per_replica,
                st.decode * old.decode.gpus_per_replica,
                now + settings.startup_s,
            )
        running, hist_p, hist_d = (0, 0), (), ()
    v = need.variants[choice.variant]
    zero = st.prefill == 0 and st.decode == 0 and st.held is None
    want_p = pool_want(v.prefill, need, running[0], hist_p, now, zero)
    want_d = pool_want(v.decode, need, running[1], hist_d, now, zero)
    return Plan(need, st, choice, held, running, want_p, want_d)


def _rooms(
    plans: Mapping[str, Plan], claims: Mapping[str, Claim], free: Mapping[str, int]
) -> dict[str, dict[str, int]]:
    """Per deployment, the GPUs per type its priority class could give it beside what it runs:
    the free GPUs plus what lower classes hold above their minimums."""
    out: dict[str, dict[str, int]] = {}
    for name, plan in plans.items():
        room = dict(free)
        for other in claims.values():
            if other.rank > plan.need.rank:
                for t, g in other.need(other.p - other.lo_p, other.d - other.lo_d).items():
                    room[t] = room.get(t, 0) + g
        out[name] = room
    return out


def _put_off(choice: VariantChoice) -> VariantChoice:
    """A switch that does not fit now stays pending (its hysteresis already served)."""
    assert choice.switch_from is not None
    return VariantChoice(
        choice.switch_from,
        None,
        choice.candidate,
        choice.since,
        (FleetReason.VARIANT_PENDING,),
        f"{choice.candidate} preferred; switch put off: its replicas and the old ones do not "
        "both fit the budget yet",
    )


def next_state(plans: Mapping[str, Plan], claims: Mapping[str, Claim]) -> FleetState:
    out: dict[str, DeploymentState] = {}
    for name, plan in plans.items():
        c = plan.choice
        switched = c.switch_from is not None
        out[name] = DeploymentState(
            variant=c.variant,
            prefill=claims[name].p,
            decode=claims[name].d,
            held=plan.held,
            candidate=None if switched else c.candidate,
            candidate_since=None if switched else c.since,
            prefill_history=plan.want_p.history,
            decode_history=plan.want_d.history,
        )
    return FleetState(out)
