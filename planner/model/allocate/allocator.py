"""GPUs to deployments, per GPU type, by priority class and SLO-weighted attainment per dollar
(pure).

Each deployment enters with its variant fixed: per pool a GPU type, a TP size (GPUs per
replica), a minimum, a want (what sizing asked for, after stabilisation and scale-to-zero) and
the expected attainment of every replica count at the planned demand. Replicas are whole TP
groups; a GPU type's budget is its count minus what switches in progress still hold.

1. Every deployment gets its minimums (the config is checked so that they fit).
2. *Reach the SLO*, priority classes in order, highest first; within a class, best value per
   dollar first. A deployment's value is weight x min(A, target) / target: its planned
   requests/s, scaled by how much of its attainment target the model expects (A = prefill
   attainment x decode attainment, since a request must meet both). Repeatedly take the move
   with the highest value gained per dollar per hour, over every jump (p, d) -> (p', d') up
   to the wants that fits the free GPUs: looking beyond one replica crosses the plateaus where
   attainment stays 0 until a pool can carry its load, which one-replica steps never would.
   A class still short of its target after its jumps (an overload: no jump within the
   budget reaches it) then takes, one replica at a time as in 3, what its short members can
   still use, before any lower class gets beyond its minimums: it keeps what it runs and takes
   from lower classes first; priority holds under overload too. Higher classes' margins
   compete in that step by the headroom's order, so they never go to a lower class's
   shortfall where they buy more attainment.
3. *Headroom up to the wants*, across every class, once every class has had its turn at its
   target. What sizing asks for carries margins beyond the model's target; leftover GPUs
   raise pools toward it, one replica at a time, where they buy the most: uncapped
   attainment per dollar (request-weighted), then attainment at the forecast's mean demand
   (what a squeezed deployment can still expect), then the share of demand served (the
   slower pool bounds it), then shortfall, then the higher class.
A lower class only gets what higher classes left of their targets: when the budget binds, lower
classes shrink toward their minimums (the caller records the preemption); but a higher class's
margins beyond its target never keep a lower class short of its own target.
With no binding budget every deployment ends at its wants: the fleet then plans exactly as
independent planners would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass

import numpy as np

from sla_planner.errors import SlaPlannerError
from sla_planner.model.size.needs import PoolNeed

_ROUND = 4  # attainment compared to 0.01 %: finer gains are noise in the model (as model.budget)
# Replicas looked ahead per pool in a jump; bounds a tick's work on huge pools (beyond it
# the headroom step still reaches the wants one replica at a time).
_WINDOW = 64


class FleetBudgetError(SlaPlannerError, ValueError):
    """The minimums (and switches in progress) do not fit a GPU type's budget."""


@dataclass
class Claim:
    """One deployment in an allocation pass (mutable: `p`, `d` grow as GPUs are given)."""

    name: str
    rank: int
    weight: float  # planned requests/s
    target: float  # SLO attainment target
    prefill: PoolNeed
    decode: PoolNeed
    lo_p: int
    lo_d: int
    hi_p: int  # wants
    hi_d: int
    price_p: float  # $/hour of one prefill replica (GPUs x price per GPU-hour)
    price_d: float
    cap_gpus: int | None = None  # the deployment's own GPU cap (max_gpus), both pools
    p: int = 0
    d: int = 0

    def within_cap(self, dp: int, dd: int) -> bool:
        """`dp` more prefill and `dd` more decode replicas keep it within its own GPU cap."""
        if self.cap_gpus is None:
            return True
        gp, gd = self.prefill.gpus_per_replica, self.decode.gpus_per_replica
        return (self.p + dp) * gp + (self.d + dd) * gd <= self.cap_gpus

    def need(self, dp: int, dd: int) -> dict[str, int]:
        """GPUs per type that `dp` more prefill and `dd` more decode replicas take."""
        out = {self.prefill.gpu_type: dp * self.prefill.gpus_per_replica}
        t = self.decode.gpu_type
        out[t] = out.get(t, 0) + dd * self.decode.gpus_per_replica
        return out

    def attainment(self, p: int, d: int) -> float:
        return float(self.prefill.attainment[p] * self.decode.attainment[d])

    def at_mean(self, p: int, d: int) -> float:
        return self.prefill.expected(p) * self.decode.expected(d)

    def served(self, p: int, d: int) -> float:
        """Share of demand the pair can serve at all: the pools are stages of one pipeline,
        so the slower one bounds it."""
        return float(min(self.prefill.served[p], self.decode.served[d]))


def fits(free: MutableMapping[str, int], need: dict[str, int]) -> bool:
    return all(g <= free.get(t, 0) for t, g in need.items())


def _take(free: MutableMapping[str, int], c: Claim, dp: int, dd: int) -> None:
    for t, g in c.need(dp, dd).items():
        free[t] = free.get(t, 0) - g
    c.p += dp
    c.d += dd


def allocate_gpus(claims: list[Claim], free: MutableMapping[str, int]) -> None:
    """Give GPUs from `free` (GPUs per type, updated in place) to `claims` (their p, d set);
    see the module docstring. Raises FleetBudgetError when the minimums do not fit."""
    for c in claims:
        c.p = c.d = 0
        need = c.need(c.lo_p, c.lo_d)
        if not fits(free, need):
            short = ", ".join(f"{g} {t}" for t, g in need.items() if g > free.get(t, 0))
            raise FleetBudgetError(
                f"deployment {c.name!r}: its minimums need {short} GPUs beyond what is free; "
                "lower min_replicas or add GPUs of that type"
            )
        _take(free, c, c.lo_p, c.lo_d)
    for rank in sorted({c.rank for c in claims}):
        members = [c for c in claims if c.rank == rank]
        _reach_slo(members, free)
        if any(_short(c) for c in members):
            # Overloaded: what more GPUs still buy it (served share, attainment at the mean)
            # comes before any lower class; higher classes' margins stay in the running.
            above = [c for c in claims if c.rank <= rank]
            _headroom(above, free, lambda c, r=rank: c.rank < r or _short(c))
    # Margins last, across classes: a class beyond its target never keeps a lower class
    # short of its own.
    _headroom(claims, free)


# ------------------------------------------------------------------------------------------
# a. value per dollar, with look-ahead jumps
# ------------------------------------------------------------------------------------------
def _reach_slo(members: list[Claim], free: MutableMapping[str, int]) -> None:
    while True:
        best: tuple[float, float, float, Claim, int, int] | None = None
        for c in members:
            jump = best_jump(c, free)
            if jump is None:
                continue
            ratio, gain, cost, dp, dd = jump
            key = (ratio, gain, -cost)
            if best is None or key > best[:3]:
                best = (ratio, gain, -cost, c, dp, dd)
        if best is None:
            return
        _take(free, best[3], best[4], best[5])


def best_jump(
    c: Claim, free: MutableMapping[str, int]
) -> tuple[float, float, float, int, int] | None:
    """(value per $/h, value gained, $/h, more prefill, more decode) of the best jump from
    (c.p, c.d) toward the wants that fits `free`, or None when no jump gains value."""
    if c.weight <= 0:
        return None
    p_hi, d_hi = min(c.hi_p, c.p + _WINDOW), min(c.hi_d, c.d + _WINDOW)
    if p_hi < c.p or d_hi < c.d or (p_hi, d_hi) == (c.p, c.d):
        return None
    dp = np.arange(0, p_hi - c.p + 1)[:, None]
    dd = np.arange(0, d_hi - c.d + 1)[None, :]
    gp, gd = c.prefill.gpus_per_replica, c.decode.gpus_per_replica
    tp, td = c.prefill.gpu_type, c.decode.gpu_type
    if tp == td:
        ok = dp * gp + dd * gd <= free.get(tp, 0)
    else:
        ok = (dp * gp <= free.get(tp, 0)) & (dd * gd <= free.get(td, 0))
    if c.cap_gpus is not None:
        ok = ok & ((c.p + dp) * gp + (c.d + dd) * gd <= c.cap_gpus)
    att = c.prefill.attainment[c.p + dp] * c.decode.attainment[c.d + dd]
    value = np.round(np.minimum(att, c.target) / c.target, _ROUND)
    gain = c.weight * (value - value[0, 0])
    cost = dp * c.price_p + dd * c.price_d
    good = ok & (gain > 0) & (cost > 0)
    if not good.any():
        return None
    ratio = np.where(good, gain / np.where(cost > 0, cost, 1.0), -math.inf)
    top = ratio.max()
    # Among (near-)equal ratios, the larger gain: as efficient, and fewer steps.
    near = good & (ratio >= top * (1 - 1e-9))
    i, j = np.unravel_index(np.argmax(np.where(near, gain, -math.inf)), gain.shape)
    return float(top), float(gain[i, j]), float(cost[i, j]), int(i), int(j)


# ------------------------------------------------------------------------------------------
# b. headroom, one replica at a time
# ------------------------------------------------------------------------------------------
def _short(c: Claim) -> bool:
    """Demand still short of its target (as the reach phase values attainment, to 0.01 %)."""
    a = min(c.attainment(c.p, c.d), c.target)
    return c.weight > 0 and round(a / c.target, _ROUND) < 1


def _headroom(
    members: list[Claim],
    free: MutableMapping[str, int],
    eligible: Callable[[Claim], bool] | None = None,
) -> None:
    """`eligible`: which members may still take a step (re-read after every step)."""
    while True:
        best: tuple[tuple[float, ...], Claim, int, int] | None = None
        for k, c in enumerate(members):
            if eligible is not None and not eligible(c):
                continue
            for key, dp, dd in _steps(c, free, k):
                if best is None or key > best[0]:
                    best = (key, c, dp, dd)
        if best is None:
            return
        _take(free, best[1], best[2], best[3])


def _steps(
    c: Claim, free: MutableMapping[str, int], order: int
) -> Iterable[tuple[tuple[float, ...], int, int]]:
    a0, m0, s0 = c.attainment(c.p, c.d), c.at_mean(c.p, c.d), c.served(c.p, c.d)
    # One replica of either pool, or one of each: a deployment serving nothing (a pool at
    # zero) only starts serving with both.
    for dp, dd in ((1, 0), (0, 1), (1, 1)):
        if c.p + dp > c.hi_p or c.d + dd > c.hi_d or not fits(free, c.need(dp, dd)):
            continue
        if not c.within_cap(dp, dd):
            continue
        p, d = c.p + dp, c.d + dd
        gain_a = round(c.attainment(p, d) - a0, _ROUND + 2)
        gain_m = round(c.at_mean(p, d) - m0, _ROUND + 2)
        gain_s = round(c.served(p, d) - s0, _ROUND + 2)
        if gain_a <= 0 and gain_m <= 0 and gain_s <= 0:
            if dp + dd == 2:
                continue
            sibling_short = c.d < c.hi_d if dp else c.p < c.hi_p
            if sibling_short and (s0 <= 0 or _sibling_blocked(c, free, bool(dp))):
                # Its sibling pool is short and either nothing is served yet (the joint step
                # starts it) or it cannot grow: this replica alone buys nothing, so leave the
                # GPU to others.
                continue
        cost = dp * c.price_p + dd * c.price_d
        short = max((c.hi_p - c.p) / max(c.hi_p, 1) * dp, (c.hi_d - c.d) / max(c.hi_d, 1) * dd)
        key = (
            c.weight * gain_a / cost,
            c.weight * gain_m / cost,
            gain_s / cost,
            short,
            -c.rank,
            -order,
        )
        yield key, dp, dd


def _sibling_blocked(c: Claim, free: MutableMapping[str, int], prefill: bool) -> bool:
    """The other pool is below its want and no GPU of its type is left for it."""
    if prefill:
        return c.d < c.hi_d and not (fits(free, c.need(0, 1)) and c.within_cap(0, 1))
    return c.p < c.hi_p and not (fits(free, c.need(1, 0)) and c.within_cap(1, 0))
