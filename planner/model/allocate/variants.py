"""Which variant a deployment runs: the cheapest that meets its SLO, with hysteresis (pure).

A variant's cost is that of the replicas sizing wants on it (GPUs x price per GPU-hour, both
pools). A deployment moves to another variant when, on every tick for `hold_s` seconds,
- that variant is cheaper by at least `min_saving` of the current cost; or, for
  `rescue_hold_s` (short: the SLO is at stake),
- the current variant cannot meet the SLO (sizing finds no size within the cluster), or
- the current variant is held below its wants by the budget,
and, in every case, that variant's wants fit what the deployment's priority class could give
it beside what it runs (the free GPUs and what lower classes hold above their minimums): a
move into a pool the budget cannot hold would only bounce back. So noise in the forecast never flips it back and forth. A deployment that runs nothing (new,
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
    limited: bool = False,
) -> VariantChoice:
    """This tick's variant for a deployment that runs `state.variant`; see the module docstring.
    `room`: GPUs per type its class could give it beside what it runs (None: unlimited);
    `limited`: the current variant is held below its wants this tick."""
    cur = state.variant
    if state.held is not None or cur not in need.variants:
        return VariantChoice(cur, None, None, None)
    cand, why, rescue = _candidate(need, cur, prices, hysteresis, room, limited)
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
    limited: bool,
) -> tuple[str | None, str, bool]:
    """(candidate, why, is it a rescue of the SLO rather than a saving). A candidate's wants
    must fit `room`: moving to a variant the budget cannot hold would only bounce back."""
    others = {n: v for n, v in need.variants.items() if n != cur}
    best = cheapest(replace(need, variants=others), prices, room)
    if best is None:
        return None, "", False
    current = need.variants[cur]
    if not current.meets_slo:
        return best, f"{cur} cannot meet the SLO within the cluster", True
    if limited:
        return best, f"{cur} is held below its wants by the budget; {best}'s fit", True
    cost_cur = want_cost(current, prices)
    if cost_cur <= 0:
        return None, "", False
    saving = (cost_cur - want_cost(need.variants[best], prices)) / cost_cur
    if saving >= max(hysteresis.min_saving, 1e-9):
        return best, f"{saving:.0%} cheaper for the same SLO", False
    return None, "", False
