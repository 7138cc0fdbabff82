"""Which variant a deployment runs: the cheapest that meets its SLO, with hysteresis (pure).

A variant's cost is that of the replicas sizing wants on it (GPUs x price per GPU-hour, both
pools). A deployment moves to another variant when, on every tick for `hold_s` seconds,
- that variant is cheaper by at least `min_saving` of the current cost; or, for
  `rescue_hold_s` (short: the SLO is at stake),
- the current variant cannot meet the SLO (sizing finds no size within the cluster), or
- the current variant is held below its wants by the budget, to an expected attainment below
  the deployment's target (held below wants it still meets its SLO with, it stays),
and, in every case, that variant's wants fit what the deployment's priority class could give
it beside what it runs (the free GPUs and what lower classes hold above their minimums): a
move into a pool the budget cannot hold would only bounce back. A deployment held below its
wants where no variant's wants fit moves (also after `rescue_hold_s`) to the variant whose
pools attain the most within that room, when that beats what it attains now by
`SQUEEZE_GAIN`: squeezed on one GPU type, it does not stay there while another stands free. So noise in the forecast never flips it back and forth. A deployment that runs nothing (new,
or scaled to zero) moves at once: there is nothing to hold. A switch is make-before-break: the
old replicas keep serving (and keep their GPUs, counted against the budget) until the new ones
are ready, `startup_s` later; the caller starts one only where both fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sla_planner.model.allocate.state import DeploymentState
from sla_planner.model.config import Hysteresis
from sla_planner.model.reasons import FleetReason
from sla_planner.model.size.needs import DeploymentNeed, PoolNeed, VariantNeed


@dataclass(frozen=True)
class VariantChoice:
    variant: str  # what the deployment runs from this tick
    switch_from: str | None  # a switch starts this tick, from this variant
    candidate: str | None  # the better variant (pending, or the one switched to)
    since: float | None  # when it was first preferred
    reasons: tuple[FleetReason, ...] = ()
    text: str = ""
    # A squeezed deployment's switch: the expected attainment the new variant must beat (its
    # wants need not fit). None: the new variant must get its whole wants.
    floor: float | None = None


# Expected attainment a squeezed deployment must gain by moving (its old replicas are held,
# and paid, while the new ones start).
SQUEEZE_GAIN = 0.005


def pool_cost(pool: PoolNeed, replicas: int, prices: Mapping[str, float]) -> float:
    return replicas * pool.gpus_per_replica * prices[pool.gpu_type]


def want_cost(v: VariantNeed, prices: Mapping[str, float]) -> float:
    """$/hour of what sizing wants on this variant (within its minimums and caps)."""
    total = 0.0
    for pool in (v.prefill, v.decode):
        n = min(max(pool.sized, pool.limits.min_replicas), max(pool.cap, 0))
        total += pool_cost(pool, n, prices)
    return total


def want_gpus(v: VariantNeed) -> dict[str, int]:
    """GPUs per type of what sizing wants on this variant."""
    out: dict[str, int] = {}
    for pool in (v.prefill, v.decode):
        n = max(pool.sized, pool.limits.min_replicas)
        out[pool.gpu_type] = out.get(pool.gpu_type, 0) + n * pool.gpus_per_replica
    return out


def cheapest(
    need: DeploymentNeed, prices: Mapping[str, float], room: Mapping[str, int] | None = None
) -> str | None:
    """The eligible (SLO-meeting) variant with the lowest want cost, among those whose wants
    fit `room` when given; config order breaks ties."""

    def fits(v: VariantNeed) -> bool:
        return room is None or all(g <= room.get(t, 0) for t, g in want_gpus(v).items())

    names = [n for n, v in need.variants.items() if v.meets_slo and fits(v)]
    return min(names, key=lambda n: want_cost(need.variants[n], prices)) if names else None


def choose_variant(
    need: DeploymentNeed,
    state: DeploymentState,
    prices: Mapping[str, float],
    now: float,
    hysteresis: Hysteresis,
    room: Mapping[str, int] | None = None,
    limited: float | None = None,
) -> VariantChoice:
    """This tick's variant for a deployment that runs `state.variant`; see the module docstring.
    `room`: GPUs per type its class could give it beside what it runs (None: unlimited);
    `limited`: the current variant is held below its wants this tick, at this expected
    attainment (None: it is not)."""
    cur = state.variant
    if state.held is not None or cur not in need.variants:
        return VariantChoice(cur, None, None, None)
    cand, why, rescue, floor = _candidate(need, cur, prices, hysteresis, room, limited)
    if cand is None:
        return VariantChoice(cur, None, None, None)
    same = state.candidate == cand and state.candidate_since is not None
    since = state.candidate_since if same and state.candidate_since is not None else now
    waited = now - since
    hold = hysteresis.rescue_hold_s if rescue else hysteresis.hold_s
    idle = state.prefill == 0 and state.decode == 0  # nothing runs: moving costs nothing
    if idle or waited >= hold - 1e-9:
        return VariantChoice(
            cand,
            cur,
            cand,
            since,
            (FleetReason.VARIANT_SWITCH,),
            f"switching {cur} -> {cand}: {why}; old replicas held until the new are ready",
            floor,
        )
    return VariantChoice(
        cur,
        None,
        cand,
        since,
        (FleetReason.VARIANT_PENDING,),
        f"{cand} preferred ({why}) for {waited:.0f} s; switching after {hold:g} s (hysteresis)",
    )


def _candidate(
    need: DeploymentNeed,
    cur: str,
    prices: Mapping[str, float],
    hysteresis: Hysteresis,
    room: Mapping[str, int] | None,
    limited: float | None,
) -> tuple[str | None, str, bool, float | None]:
    """(candidate, why, is it a rescue of the SLO rather than a saving, the attainment a
    squeezed move must beat). A candidate's wants must fit `room`: moving to a variant the
    budget cannot hold would only bounce back; a squeezed deployment's need not (see above)."""
    others = {n: v for n, v in need.variants.items() if n != cur}
    best = cheapest(replace(need, variants=others), prices, room)
    current = need.variants[cur]
    if limited is not None and limited >= need.target:
        limited = None  # held below its wants, yet expected to meet its SLO: nothing to rescue
    if best is None:
        if limited is not None and room is not None:
            return _squeezed(others, cur, room, limited)
        return None, "", False, None
    if not current.meets_slo:
        return best, f"{cur} cannot meet the SLO within the cluster", True, None
    if limited is not None:
        return best, f"{cur} is held below its wants by the budget; {best}'s fit", True, None
    cost_cur = want_cost(current, prices)
    if cost_cur <= 0:
        return None, "", False, None
    saving = (cost_cur - want_cost(need.variants[best], prices)) / cost_cur
    if saving >= max(hysteresis.min_saving, 1e-9):
        return best, f"{saving:.0%} cheaper for the same SLO", False, None
    return None, "", False, None


def _squeezed(
    others: Mapping[str, VariantNeed], cur: str, room: Mapping[str, int], attained: float
) -> tuple[str | None, str, bool, float | None]:
    """The variant attaining the most within `room`, when that beats `attained` by the gain."""
    scored = {n: obtainable(v, room) for n, v in others.items()}
    if not scored:
        return None, "", False, None
    best = max(scored, key=lambda n: scored[n])  # config order breaks ties
    floor = attained + SQUEEZE_GAIN
    if scored[best] <= floor:
        return None, "", False, None
    why = (
        f"{cur} is held below its wants by the budget (expected {attained:.1%}); {best} can "
        f"reach {scored[best]:.1%} with what its class could have there"
    )
    return best, why, True, floor


def obtainable(v: VariantNeed, room: Mapping[str, int]) -> float:
    """The most expected attainment the variant's pools reach within `room` GPUs per type, no
    pool beyond its wants or below its minimum (0.0: the minimums do not fit)."""
    p, d = v.prefill, v.decode
    hi_p = min(max(p.sized, p.limits.min_replicas), max(p.cap, 0))
    hi_d = min(max(d.sized, d.limits.min_replicas), max(d.cap, 0))
    best = 0.0
    for n_p in range(p.limits.min_replicas, hi_p + 1):
        left = dict(room)
        left[p.gpu_type] = left.get(p.gpu_type, 0) - n_p * p.gpus_per_replica
        if left[p.gpu_type] < 0:
            break
        n_d = min(hi_d, left.get(d.gpu_type, 0) // d.gpus_per_replica)
        if n_d >= d.limits.min_replicas:
            best = max(best, float(p.attainment[n_p]) * float(d.attainment[n_d]))
    return best
