"""The optimal clairvoyant's Lagrangian on hand-computed interval tables, with a judge that
agrees with the tables (so the optimum is checkable by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from sla_planner.evaluation.simulator import Schedule
from sla_planner_bench.baselines.interval_tables import IntervalTables, _pad
from sla_planner_bench.baselines.optimal import choose, mix, price_for, solve

# Two one-hour intervals (GPU-hours = GPUs), 1 GPU per replica, counts 1..2 each pool.
# Interval 0, 100 requests: met (1,1) 90, (1,2) 95, (2,1) 92, (2,2) 100.
# Interval 1, 10 requests: met (1,1) 5, (1,2) 9, (2,1) 6, (2,2) 10.
# Objective GPUs + price x misses: interval 0: 2 + 10x, 3 + 5x, 3 + 8x, 4;
# interval 1: 2 + 5x, 3 + x, 3 + 4x, 4.
MET = [[[90, 95], [92, 100]], [[5, 9], [6, 10]]]


def tables(met=MET, requests=(100, 10), p_lo=(1, 1), d_lo=(1, 1)) -> IntervalTables:
    n = len(requests)
    return IntervalTables(
        0.0, 3600.0, np.array(requests), np.array(p_lo), np.full(n, 2), np.array(d_lo),
        np.full(n, 2), np.array(met), (1, 1),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("price", "pairs", "met"),
    [
        # 0.1: 3 < 3.5, 3.8, 4 and 2.5 < 3.1: the floors
        (0.1, [(1, 1), (1, 1)], 95),
        # 0.18: 3.8 < 3.9, 4: still the floor in interval 0
        (0.18, [(1, 1), (1, 1)], 95),
        # 0.2: (1,1) and (2,2) tie at 4 in interval 0: the tie goes to more met
        (0.2, [(2, 2), (1, 1)], 105),
        # 0.25: interval 1 ties 3.25 / 3.25: (1,2) meets more
        (0.25, [(2, 2), (1, 2)], 109),
        # 0.3: 4 < 4.5; 3.3 < 3.5
        (0.3, [(2, 2), (1, 2)], 109),
        # 2: interval 1's 3 + 2 = 5 > 4: both at the top
        (2.0, [(2, 2), (2, 2)], 110),
    ],
)
def test_each_interval_takes_its_cheapest_gpus_plus_priced_misses(price, pairs, met):
    c = choose(tables(), price)
    assert list(zip(c.prefill.tolist(), c.decode.tolist(), strict=True)) == pairs
    assert c.met == met
    assert c.edge == 0


@pytest.mark.parametrize(("p_n", "edge"), [(2, 1), (1, 0)])
def test_a_choice_on_a_depth_cut_lower_edge_is_counted(p_n, edge):
    # Tables of depth 2 (K = 3, the last count padding), prefill from 2 replicas. Two counts
    # tabulated: the depth stopped the range, fewer were not looked at, and the floor choice
    # may not be the cheapest (edge). One count: its misses stopped it (one replica fewer
    # misses too many): that edge is the interval's own.
    met = [[[90, 95, 95], [92, 100, 100], [92, 100, 100]]]
    tab = IntervalTables(
        0.0, 3600.0, np.array([100]), np.array([2]), np.array([p_n]), np.array([1]),
        np.array([2]), np.array(met), (1, 1),
    )  # fmt: skip
    c = choose(tab, 0.1)
    assert (int(c.prefill[0]), int(c.decode[0]), c.edge) == (2, 1, edge)


def test_mix_switches_the_most_met_per_gpu_first():
    tab = tables()
    lo, hi = choose(tab, 0.1), choose(tab, 0.3)
    # interval 0 gains 10 for 2 GPUs (5 / GPU), interval 1 gains 4 for 1 (4 / GPU)
    one = mix(tab, lo, hi, 1)
    assert (one.prefill.tolist(), one.decode.tolist(), one.met) == ([2, 1], [2, 1], 105)
    both = mix(tab, lo, hi, 2)
    assert (both.prefill.tolist(), both.decode.tolist(), both.met) == ([2, 1], [2, 2], 109)
    assert mix(tab, lo, hi, 0).met == 95


@pytest.mark.parametrize(("goal", "price"), [(105 / 110, 0.2), (109 / 110, 0.25), (1.0, 1.0)])
def test_price_for_is_the_lowest_price_reaching_the_tables_goal(goal, price):
    # 1.0: interval 1's (2,2) beats (1,2) once price > 1 (3 + x > 4)
    assert price_for(tables(), goal) == pytest.approx(price, rel=1e-3)


def _agreeing_judge(tab: IntervalTables):
    """A judge that scores a schedule as its tables do (startup 0: the schedule is the
    choice)."""

    def judge(s: Schedule) -> tuple[float, float]:
        j = np.arange(tab.intervals)
        met = tab.met[j, s.prefill - tab.p_lo, s.decode - tab.d_lo].sum()
        return float(met / tab.requests.sum()), float((s.prefill + s.decode).sum())

    return judge


@pytest.mark.parametrize(
    ("target", "gpu_hours"),
    [
        # 105 of 110: (2,2) + (1,1) = 6 GPU-h; nothing cheaper meets 105 ((1,2) + (1,2): 104)
        (105 / 110, 6.0),
        # 108 of 110: (2,2) + (1,2) = 7 ((2,2) + (2,1) meets only 106)
        (108 / 110, 7.0),
    ],
)
def test_solve_finds_the_hand_optimum(target, gpu_hours):
    tab = tables()
    sol = solve(tab, target, _agreeing_judge(tab), startup_s=0.0)
    assert sol.best is not None
    assert sol.best.gpu_hours == gpu_hours
    assert sol.best.attainment >= target


def test_mixing_reaches_what_no_single_price_does():
    # Three like intervals: (1,1) meets 90 of 100 for 2 GPUs, (2,2) all for 4, the rest
    # nothing. Every price takes all floors (90%) or all tops (100%, 12 GPU-h); 94% needs two
    # tops: 10 GPU-h.
    met = [[[90, 0], [0, 100]]] * 3
    tab = tables(met=met, requests=(100, 100, 100), p_lo=(1, 1, 1), d_lo=(1, 1, 1))
    sol = solve(tab, 0.94, _agreeing_judge(tab), startup_s=0.0)
    assert sol.best is not None
    assert (sol.best.gpu_hours, sol.best.attainment) == (10.0, pytest.approx(290 / 300))


def test_no_price_reaching_the_target_leaves_no_solution():
    tab = tables()
    judge = _agreeing_judge(tab)
    sol = solve(tab, 1.0, lambda s: (judge(s)[0] - 0.01, judge(s)[1]), startup_s=0.0)
    assert sol.best is None and sol.tried


def test_pad_repeats_the_saturated_edge():
    out = _pad(np.array([[1, 2], [3, 4]]), 3)
    assert out.tolist() == [[1, 2, 2], [3, 4, 4], [3, 4, 4]]
