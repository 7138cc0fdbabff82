"""Size both pools by pricing misses instead of aiming each interval at one goal (pure).

An SLO of "a share A of the run's requests" is met by the run's total, not interval by
interval. The cheapest way to meet it spends misses where a GPU saved costs the fewest of
them and none where one replica less is a cliff. Minimising total GPU-hours subject to total
misses <= budget is, by its Lagrangian, minimising in every interval

    GPUs x interval_hours + lambda x expected misses

with one price lambda (GPU-hours per missed request) shared by all intervals. Per second of the
interval, with the step's expected rate W = sum_j v_j (requests/s, the request weights of
slo_sizing's rate nodes):

    objective(p, d) = g_p p + g_d d + k (1 - A(p, d)),   k = 3600 lambda W   (GPUs)

so the interval's length cancels and the choice depends only on the price and the demand.
lambda is set by the error-budget controller (sla_planner.model.size.error_budget): its
integral raises it after misses and lowers it after calm windows, around a reference price
calibrated from `shadow_price` (the price at which the goal sizing's answer at the aimed miss
share is the cheapest choice).

The search is exact on the tables of slo_sizing (A is the same expectation):
- above: adding prefill replicas past the first n whose pool alone leaves k (1 - a_p(n)) < g_p
  never pays (one more replica gains at most k (1 - a_p(n)) of misses), likewise decode, so
  the tables grow until each pool alone reaches 1 - g / k;
- below: a count whose pool alone already misses more than the objective of that upper corner
  costs more than the corner whatever the other pool does (A <= a_p), so it is left out.
Ties go to the higher attainment.

The floor. Per interval the model's misses are bounded (at most every request), GPUs are not:
at a big pool's peak, k can be below the pool's GPUs, and the objective's minimum is then the
pools' minimums, abandoning the interval. The model would call that one interval's misses; in
a real queue the backlog carries into the next ones (on days 5-7 of the Azure week, the
unfloored sizing let the prefill queue grow for an hour: 93.4% judged at a 99% SLO). So every
priced choice must expect at least `floor` (the controller's: 1 - B x `price_max_miss`), a stable
queue; when pricing would not buy that much, the goal sizing at the floor answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sla_planner.model.size.slo_sizing import (
    BurstMix,
    DecodeShare,
    GoalSizing,
    PoolModels,
    StepDemand,
    StepTables,
    goal_on,
    goal_top,
    reachable,
    step_tables,
)

HOUR_S = 3600.0


@dataclass(frozen=True)
class Pricing:
    """What a priced plan pays per missed request, and the least it may expect to attain."""

    price: float  # GPU-hours per missed request
    floor: float = 0.0


_TOP_LIMIT = 1.0 - 1e-12  # the tables' precision: a price beyond it buys nothing more
_PRICE_LIMIT = 1e9  # GPU-hours per miss
_TIE = 1e-9  # relative: objectives this close are equal (then the higher attainment wins)


def price_step(
    m: PoolModels,
    step: StepDemand,
    mix: BurstMix,
    price: float,
    ds: DecodeShare | None = None,
    floor: float = 0.0,
) -> GoalSizing:
    """The (prefill, decode) minimising GPUs + price x expected misses (price in GPU-hours
    per missed request) among those expected to attain at least `floor`; `attainment` is the
    model's expectation there."""
    rates, w = step.nodes(mix)
    total = float(w.sum())
    if total <= 0:
        return GoalSizing(m.min_prefill, m.min_decode, 1.0, True)
    ds = ds if ds is not None else DecodeShare(m, step)
    if not reachable(m, step, ds):
        return GoalSizing(m.min_prefill, m.min_decode, 0.0, False)
    k = _k(price, total)
    top = _tops(m, k, floor)
    return priced_on(m, step_tables(m, step, rates, w, ds, top), k, floor)


def priced_on(m: PoolModels, t: StepTables, k: float, floor: float = 0.0) -> GoalSizing:
    """price_step's search on tables already built (each pool alone reaching `_tops`)."""
    ap, ad = t.ap, t.ad
    top_p, top_d = _tops(m, k, floor)
    hi_p = _upper(ap, top_p, m.min_prefill)
    hi_d = _upper(ad, top_d, m.min_decode)
    corner = t.joint(np.array([hi_p]), np.array([hi_d]))[0, 0]
    if corner < floor:  # the floor is beyond what pricing would buy: the goal sizing at it
        return goal_on(m, t, floor, goal_top(floor))
    bound = m.gpus_prefill * hi_p + m.gpus_decode * hi_d + k * (1.0 - corner)
    lo_p = _lower(ap, k, bound, m.min_prefill, hi_p)
    lo_d = _lower(ad, k, bound, m.min_decode, hi_d)
    p_idx, d_idx = np.arange(lo_p, hi_p + 1), np.arange(lo_d, hi_d + 1)
    joint = t.joint(p_idx, d_idx)
    cost = m.gpus_prefill * p_idx[:, None] + m.gpus_decode * d_idx[None, :]
    obj = np.where(joint >= floor, cost + k * (1.0 - joint), np.inf)
    best = obj.min()
    cand = obj <= best + _TIE * max(abs(best), 1.0)
    i, j = np.unravel_index(np.argmax(np.where(cand, joint, -1.0)), joint.shape)
    return GoalSizing(int(p_idx[i]), int(d_idx[j]), float(joint[i, j]), True)


def shadow_price(
    m: PoolModels,
    step: StepDemand,
    mix: BurstMix,
    goal: float,
    ds: DecodeShare | None = None,
) -> float:
    """The price (GPU-hours per missed request) at which the goal sizing's answer beats every
    cheaper pair: the largest GPUs saved per miss added over the cheaper pairs. NaN when
    nothing is cheaper (the minimums), there is no demand or the goal is out of reach."""
    rates, w = step.nodes(mix)
    total = float(w.sum())
    if total <= 0:
        return math.nan
    ds = ds if ds is not None else DecodeShare(m, step)
    if not reachable(m, step, ds):
        return math.nan
    top = goal_top(goal)
    t = step_tables(m, step, rates, w, ds, (top, top))
    g = goal_on(m, t, goal, top)
    if not g.reachable:
        return math.nan
    # Every cheaper pair: from the minimums up to the answer in each pool.
    p_idx = np.arange(m.min_prefill, g.prefill + 1)
    d_idx = np.arange(m.min_decode, g.decode + 1)
    joint = t.joint(p_idx, d_idx)
    cost = m.gpus_prefill * p_idx[:, None] + m.gpus_decode * d_idx[None, :]
    best = m.gpus_prefill * g.prefill + m.gpus_decode * g.decode
    saved, added = best - cost, g.attainment - joint
    ok = (saved > 0) & (added > 0)
    if not ok.any():
        return math.nan
    ratio = np.where(ok, saved / np.where(ok, added, 1.0), -np.inf).max()
    return float(ratio / (HOUR_S * total))


def _k(price: float, rate: float) -> float:
    """GPUs one unit of miss share costs per second at this rate and price (a price beyond
    _PRICE_LIMIT, or NaN, is taken as that limit: every miss the tables can see is bought)."""
    price = min(max(price, 0.0), _PRICE_LIMIT) if not math.isnan(price) else _PRICE_LIMIT
    return price * HOUR_S * rate


def _tops(m: PoolModels, k: float, floor: float) -> tuple[float, float]:
    """Each pool's table end: where one more replica never pays, and far enough for the
    floor (the goal sizing's end at it)."""
    f = goal_top(floor) if floor > 0 else 0.0
    return max(_top(m.gpus_prefill, k), f), max(_top(m.gpus_decode, k), f)


def _top(gpus: int, k: float) -> float:
    """Pool-alone attainment past which one more replica never pays."""
    if k <= 0:
        return 0.0
    return min(1.0 - gpus / k, _TOP_LIMIT)


def _upper(alone: np.ndarray, top: float, floor: int) -> int:
    idx = np.flatnonzero(alone >= top)
    idx = idx[idx >= floor]
    return int(idx[0]) if idx.size else max(alone.size - 1, floor)


def _lower(alone: np.ndarray, k: float, bound: float, floor: int, hi: int) -> int:
    """First count whose pool-alone misses alone do not cost more than `bound`."""
    idx = np.flatnonzero(k * (1.0 - alone) <= bound)
    idx = idx[(idx >= floor) & (idx <= hi)]
    return int(idx[0]) if idx.size else hi
