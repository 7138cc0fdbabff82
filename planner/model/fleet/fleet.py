"""One fleet tick: variants, wants, GPUs, reasons (pure; time is an argument).

`allocate(needs, state, now, settings)` is what a dry run or a fleet controller calls each
interval, with every deployment's need (`planning.DeploymentPlanner.need`) and the state the
last tick returned (a controller overwrites the replicas with what the cluster runs:
`FleetState.with_cluster`). It returns the allocation and the next state.

1. Switches in progress whose new replicas are ready release the old ones.
2. A first pass allocates on the variants deployments run now (`allocator`).
3. Variants: another variant that is cheaper, or that meets the SLO where the current one
   cannot (or is held below its wants while the other's wants fit what its class could have),
   becomes a candidate; after the hysteresis a switch starts (`variants`). A deployment new
   to the fleet starts on its first variant and, running nothing, may move at once.
4. With switches, the pass is redone counting the old replicas too (make-before-break); a
   switch that does not get its whole want this way is put off (still pending).
The per-type budgets hold on every returned allocation, old replicas of a switch included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from sla_planner.model.allocate.allocator import Claim, FleetBudgetError, allocate_gpus, fits
from sla_planner.model.allocate.outcome import build_allocation
from sla_planner.model.allocate.variants import (
    VariantChoice,
    choose_variant,
)
from sla_planner.model.fleet.plan import FleetSettings, Plan
from sla_planner.model.fleet.types import (
    DeploymentNeed,
    DeploymentState,
    FleetAllocation,
    FleetReason,
    FleetState,
    Held,
)
from sla_planner.model.stabilise.wants import pool_want


def allocate(
    needs: Sequence[DeploymentNeed], state: FleetState, now: float, settings: FleetSettings
) -> tuple[FleetAllocation, FleetState]:
    """This tick's allocation and the next state; see the module docstring."""
    states = {n.name: _entering(n, state.get(n.name), now) for n in needs}
    stay = {n.name: VariantChoice(states[n.name].variant, None, None, None) for n in needs}
    plans = {n.name: _plan(n, states[n.name], stay[n.name], now, settings) for n in needs}
    claims, free = run_pass(plans, settings)
    rooms = _rooms(plans, claims, free)
    choices = {
        n.name: choose_variant(
            n,
            states[n.name],
            settings.prices,
            now,
            settings.hysteresis,
            rooms[n.name],
            limited=_short(claims[n.name]),
        )
        for n in needs
    }
    switching = sorted(
        (n for n, c in choices.items() if c.switch_from), key=lambda n: -plans[n].need.rank
    )
    while True:
        plans = {n.name: _plan(n, states[n.name], choices[n.name], now, settings) for n in needs}
        try:
            claims, free = run_pass(plans, settings)
            failed = [n for n in switching if _short(claims[n])]
        except FleetBudgetError:
            if not switching:
                raise
            failed = switching[:1]  # the lowest class's switch waits first
        if not failed:
            break
        for name in failed:
            choices[name] = _put_off(choices[name])
            switching.remove(name)
    alloc = build_allocation(plans, claims, settings, now)
    return alloc, _next_state(plans, claims)


def run_pass(
    plans: Mapping[str, Plan], settings: FleetSettings
) -> tuple[dict[str, Claim], dict[str, int]]:
    """One allocation on the plans' variants; GPUs held by switches are taken off first."""
    free = dict(settings.gpus)
    for plan in plans.values():
        if plan.held is not None:
            need = plan.held.gpus_by_type()
            if not fits(free, need):
                raise FleetBudgetError(
                    f"deployment {plan.need.name!r}: its switch's old replicas do not fit"
                )
            for t, g in need.items():
                free[t] -= g
    claims = {name: _claim(plan, settings.prices) for name, plan in plans.items()}
    allocate_gpus(list(claims.values()), free)
    return claims, free


def _claim(plan: Plan, prices: Mapping[str, float]) -> Claim:
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
        hi_p=max(plan.want_p.wanted, lo_p),
        hi_d=max(plan.want_d.wanted, lo_d),
        price_p=v.prefill.gpus_per_replica * prices[v.prefill.gpu_type],
        price_d=v.decode.gpus_per_replica * prices[v.decode.gpu_type],
    )


def _short(c: Claim) -> bool:
    return c.p < c.hi_p or c.d < c.hi_d


def _entering(need: DeploymentNeed, st: DeploymentState | None, now: float) -> DeploymentState:
    """The state a deployment enters this tick with: a variant, and finished switches done."""
    if st is None or st.variant not in need.variants:
        return DeploymentState(need.default_variant)
    if st.held is not None and st.held.until <= now + 1e-9:
        return replace(st, held=None)
    return st


def _plan(
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
    window = settings.scale_down_window_s
    zero = st.prefill == 0 and st.decode == 0 and st.held is None
    want_p = pool_want(v.prefill, need, running[0], hist_p, now, window, zero)
    want_d = pool_want(v.decode, need, running[1], hist_d, now, window, zero)
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


def _next_state(plans: Mapping[str, Plan], claims: Mapping[str, Claim]) -> FleetState:
    out: dict[str, DeploymentState] = {}
    for name, plan in plans.items():
        c = plans[name].choice
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


class FleetAllocator:
    """`allocate` with its state kept between ticks (the dry run's policy; a controller may
    instead keep the state itself and seed it from the cluster)."""

    name = "sla-planner fleet"

    def __init__(self, settings: FleetSettings, state: FleetState | None = None) -> None:
        self.settings = settings
        self.state = state if state is not None else FleetState()

    def decide(self, needs: Sequence[DeploymentNeed], now: float) -> FleetAllocation:
        alloc, self.state = allocate(needs, self.state, now, self.settings)
        return alloc
