"""The optimal clairvoyant: the fewest GPU-hours whose whole run meets an attainment target,
knowing every request ahead (benchmark only).

The per-interval clairvoyant (`oracle`) sizes every interval to one goal with the analytic
model. This one solves the run's own problem,

    min sum_j GPUs_j x interval_hours   s.t.   sum_j met_j >= target x sum_j requests_j,

by its Lagrangian: for a price lambda (GPU-hours per missed request) every interval takes the
(p, d) of its judge table (`interval_tables`: the judge on that interval's very requests)
minimising GPUs x interval_hours + lambda x misses; lambda is bisected until the *whole-run*
judge, replaying the resulting schedule, attains the target. Replicas are requested one
startup ahead and kept while a later interval within the startup needs them (`oracle_schedule`),
so they are ready when their interval begins.

What it is, and is not:
- the interval tables are the judge's, on the true requests, but each interval replayed alone
  (a lead-in and tail of neighbouring requests, warm replicas), and the pools swept apart (see
  interval_tables); the whole-run judge scores the final schedule, so those approximations move
  the price found, not the figures reported;
- the Lagrangian over intervals is exact for the tables' own sum at the targets its prices
  reach (each interval's choice is independent given lambda); between two neighbouring
  prices, the intervals where they differ are switched one by one, most met requests per GPU
  first, the count bisected on judged replays (`mix`), which closes the Lagrangian's duality
  gap to within one interval's step; but holding replicas through a startup window costs
  GPU-hours the per-interval choice does not see, so the schedule is near, not at, the minimum;
- it knows the future; no online planner can reach it. The gap to it is what foresight and a
  perfect latency model would buy together.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sla_planner.evaluation.simulator import Schedule
from sla_planner_bench.baselines.interval_tables import IntervalTables
from sla_planner_bench.baselines.oracle import OracleNeeds, oracle_schedule

HOUR_S = 3600.0


@dataclass(frozen=True)
class Choice:
    """Each interval's (prefill, decode) at one price, and the tables' own verdict."""

    price: float
    prefill: np.ndarray
    decode: np.ndarray
    met: float  # requests met by the tables
    edge: int  # intervals choosing the lowest count of a pool's range cut by depth, not misses

    def attainment(self, tab: IntervalTables) -> float:
        total = float(tab.requests.sum())
        return self.met / total if total > 0 else 1.0


def choose(tab: IntervalTables, price: float) -> Choice:
    """Per interval the (p, d) minimising GPUs x interval_hours + price x misses (ties: more
    requests met)."""
    k = tab.met.shape[1]
    a = np.arange(k)
    gp, gd = tab.gpus
    gpus = gp * (tab.p_lo[:, None, None] + a[None, :, None]) + gd * (
        tab.d_lo[:, None, None] + a[None, None, :]
    )
    misses = tab.requests[:, None, None] - tab.met
    obj = gpus * (tab.interval_s / HOUR_S) + price * misses
    # Padding repeats the top: a padded count attains as the top but costs more, never chosen.
    flat = obj.reshape(obj.shape[0], -1)
    best = flat.min(axis=1, keepdims=True)
    tie = flat <= best + 1e-12 * np.maximum(np.abs(best), 1.0)
    pick = np.argmax(np.where(tie, tab.met.reshape(flat.shape), -1), axis=1)
    ia, ib = np.unravel_index(pick, (k, k))
    met = tab.met.reshape(flat.shape)[np.arange(flat.shape[0]), pick]
    # On the lower edge of a range the depth cut (not the misses): fewer might have been cheaper.
    deep_p, deep_d = tab.p_n >= k - 1, tab.d_n >= k - 1
    edge = int(
        (((ia == 0) & (tab.p_lo > 1) & deep_p) | ((ib == 0) & (tab.d_lo > 1) & deep_d)).sum()
    )
    return Choice(price, tab.p_lo + ia, tab.d_lo + ib, float(met.sum()), edge)


def mix(tab: IntervalTables, lo: Choice, hi: Choice, n: int) -> Choice:
    """`lo`'s choice with the `n` intervals where `hi` buys the most met requests per GPU
    switched to `hi`'s: the points between two neighbouring prices, which the Lagrangian alone
    cannot reach (on a short run one price step can move the attainment by tenths of a pp)."""
    gp, gd = tab.gpus
    extra = gp * (hi.prefill - lo.prefill) + gd * (hi.decode - lo.decode)
    gain = _met(tab, hi) - _met(tab, lo)
    diff = np.flatnonzero((hi.prefill != lo.prefill) | (hi.decode != lo.decode))
    ratio = gain[diff] / np.maximum(extra[diff], 1e-9)
    take = diff[np.argsort(-ratio, kind="stable")[: max(n, 0)]]
    p, d = lo.prefill.copy(), lo.decode.copy()
    p[take], d[take] = hi.prefill[take], hi.decode[take]
    met = _met(tab, lo)
    met[take] = _met(tab, hi)[take]
    edge = max(lo.edge, hi.edge)
    return Choice(hi.price if n else lo.price, p, d, float(met.sum()), edge)


def _met(tab: IntervalTables, c: Choice) -> np.ndarray:
    """Requests met per interval by the tables at a choice."""
    j = np.arange(tab.intervals)
    return tab.met[j, c.prefill - tab.p_lo, c.decode - tab.d_lo].astype(np.float64)


def schedule(tab: IntervalTables, c: Choice, startup_s: float) -> Schedule:
    """The choice requested one startup ahead (ready when its interval begins)."""
    needs = OracleNeeds(tab.start, tab.interval_s, c.prefill, c.decode)
    return oracle_schedule(needs, startup_s, tab.gpus)


@dataclass(frozen=True)
class Judged:
    price: float
    attainment: float
    gpu_hours: float
    table_attainment: float
    edge: int


@dataclass
class Solution:
    """The cheapest judged schedule meeting the target, and every point tried (a frontier)."""

    target: float
    best: Judged | None = None
    best_schedule: Schedule | None = None
    tried: list[Judged] = field(default_factory=list)


def price_for(tab: IntervalTables, goal: float, lo: float = 1e-9, hi: float = 1e3) -> float:
    """The lowest price whose tables' attainment reaches `goal` (bisection in log price)."""
    if choose(tab, hi).attainment(tab) < goal:
        return hi
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if choose(tab, mid).attainment(tab) >= goal:
            hi = mid
        else:
            lo = mid
        if hi / lo < 1.0 + 1e-4:
            break
    return hi


def solve(
    tab: IntervalTables,
    target: float,
    judge: Callable[[Schedule], tuple[float, float]],
    startup_s: float,
    rounds: int = 8,
) -> Solution:
    """Bisect the price until the whole-run judge attains `target`: the tables' own goal is
    moved by what the judge measured (a secant on the judged attainment), then the bracket
    closes on judged points. `judge(schedule)` -> (attainment, GPU-hours)."""
    sol = Solution(target)

    def run(price: float, c: Choice | None = None) -> Judged:
        c = c if c is not None else choose(tab, price)
        s = schedule(tab, c, startup_s)
        att, gh = judge(s)
        j = Judged(price, att, gh, c.attainment(tab), c.edge)
        sol.tried.append(j)
        if att >= target and (sol.best is None or gh < sol.best.gpu_hours):
            sol.best, sol.best_schedule = j, s
        return j

    goal = target
    lo = hi = None  # judged prices below / at-or-above the target
    for _ in range(rounds):
        if lo is not None and hi is not None:
            price = math.sqrt(lo * hi)
        else:
            price = price_for(tab, min(goal, 1.0 - 1e-9))
            # Outside what was judged already: above every price that missed, below every
            # price that met.
            price = max(price, 2.0 * lo) if lo is not None else price
            price = min(price, 0.5 * hi) if hi is not None else price
        j = run(price)
        if j.attainment >= target:
            hi = price if hi is None else min(hi, price)
        else:
            lo = price if lo is None else max(lo, price)
        if lo is not None and hi is not None and hi / lo < 1.02:
            break
        # Aim the tables at the target shifted by what the judge disagreed with them by.
        goal = min(goal + (target - j.attainment), 1.0 - 1e-9)
        if lo is not None and hi is None and price >= 1e3:
            break  # no price reaches it
    if lo is not None and hi is not None:
        _refine(tab, target, choose(tab, lo), choose(tab, hi), run)
    return sol


def _refine(
    tab: IntervalTables,
    target: float,
    lo: Choice,
    hi: Choice,
    run: Callable[[float, Choice], Judged],
) -> None:
    """Bisect the number of intervals switched from the missing price's choice to the meeting
    one's (`mix`) on judged replays: the fewest switched that the judge scores >= target."""
    a, b = 0, int(((hi.prefill != lo.prefill) | (hi.decode != lo.decode)).sum())
    while b - a > 1:  # a: judged below (the low price's), b: judged at or above (the high's)
        m = (a + b) // 2
        c = mix(tab, lo, hi, m)
        if run(c.price, c).attainment >= target:
            b = m
        else:
            a = m
