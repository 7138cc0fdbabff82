"""The reactive path's guard (sla_planner.model.reactive.guard), hand-computed cases. One
replica: 40,000 prompt tokens/s batched, 100 ITL-feasible sequences (unless the lengths say
otherwise); TTFT target 200 ms; default settings (x2 a step, at most 4x the plan, 90% of
capacity)."""

from __future__ import annotations

import math

import pytest

from sla_planner.model.config import ReactiveSettings
from sla_planner.model.reactive import (
    Ceilings,
    LoadSnapshot,
    PoolCapacity,
    ReactiveGuard,
    Situation,
    plan_cap,
)
from sla_planner.model.reasons import ReactiveReason as R

TTFT = 200.0
FREE = Ceilings((1000, 1000))
BOUNDS = (8000.0, 2000.0)


def fixed(isl: float, osl: float) -> PoolCapacity:
    return PoolCapacity(40_000.0, 100.0)


def by_osl(isl: float, osl: float) -> PoolCapacity:
    """Decode's ITL-feasible concurrency falls with the context (~100 at 1,000 tokens)."""
    return PoolCapacity(40_000.0, 100_000.0 / (isl + osl))


def snap(arrivals=0.0, pq=0.0, dq=0.0, running=None, kv=None, p99=None, isl=1000.0):
    return LoadSnapshot(5.0, arrivals, pq, dq, isl, running, kv, p99)


def sit(target=(2, 2), ready=None, plan=None, lengths=(1000.0, 200.0), ceilings=FREE):
    return Situation(target, ready or target, plan or target, lengths, BOUNDS, ceilings)


def check(guard, s, situation, cap=fixed):
    return guard.check(s, situation, cap)


def test_the_plan_caps_what_reactions_stack_to():
    """400 waiting for a slot: (400 + 0) / 90 -> 5 wanted; steps from 2: 4, then 5, but the
    plan of 1 caps it at 4 (4x the plan)."""
    g = ReactiveGuard(ReactiveSettings(), TTFT)
    a = check(g, snap(dq=400, running=0), sit((2, 2), plan=(1, 1)))
    assert (a.prefill, a.decode) == (2, 4)
    a = check(g, snap(dq=401, running=0), sit((2, 4), ready=(2, 2), plan=(1, 1)))
    assert (a.prefill, a.decode) == (2, 4) and R.PLAN_CAP in a.codes
    assert "max_over_plan" in a.notes[0]
    assert plan_cap(1, ReactiveSettings()) == 4 and plan_cap(0, ReactiveSettings()) == 4
    assert plan_cap(3, ReactiveSettings(max_over_plan=1.0)) == 4  # one over it at least


def test_max_replicas_and_the_budget_bind_with_their_words():
    g = ReactiveGuard(ReactiveSettings(max_over_plan=50), TTFT)
    a = check(g, snap(dq=900, running=0), sit((4, 4), ceilings=Ceilings((1000, 6))))
    assert a.decode == 6 and R.MAX_REPLICAS in a.codes
    assert a.reasons[0].endswith("4 -> 6, capped at max_replicas 6")
    # both pools at once within 10 GPUs: prefill first (2 -> 4), decode gets what is left
    both = snap(arrivals=2000, pq=2000, dq=900, running=0)
    ceil = Ceilings((1000, 1000), (8, 8), 10, (1, 1), 10)
    a = check(
        ReactiveGuard(ReactiveSettings(max_over_plan=50), TTFT), both, sit((2, 2), ceilings=ceil)
    )
    assert (a.prefill, a.decode) == (4, 4) and a.prefill + a.decode <= 10
    ceil = Ceilings((1000, 1000), (8, 8), 6, (1, 1), 6)
    a = check(
        ReactiveGuard(ReactiveSettings(max_over_plan=50), TTFT), both, sit((2, 2), ceilings=ceil)
    )
    assert (a.prefill, a.decode) == (4, 2) and R.BUDGET in a.codes
    assert any("the budget (6 GPUs" in n for n in a.notes)


def test_a_reading_pinned_while_the_new_replicas_came_up_is_stuck():
    g = ReactiveGuard(ReactiveSettings(), TTFT)
    full = snap(running=40, kv=1.0)
    a = check(g, full, sit((1, 1)))
    assert a.decode == 2  # KV 100%: one more
    a = check(g, full, sit((1, 2), ready=(1, 1), plan=(1, 1)))  # still starting: not yet
    assert a.decode == 3
    a = check(g, full, sit((1, 2), ready=(1, 2), plan=(1, 1)))  # ready, reading unchanged
    assert a.decode == 2 and a.codes == (R.HOLD_STUCK,) and "stuck signal" in a.notes[0]
    a = check(g, full, sit((1, 1), ready=(1, 1), plan=(1, 1)))  # scaled down: still stuck
    assert a.decode == 1 and a.codes == (R.HOLD_STUCK,)
    a = check(g, snap(running=40, kv=0.97), sit((1, 1)))  # it moved: a reading again
    assert a.decode == 2 and a.codes[0] is R.KV_FULL


def test_a_need_orders_of_magnitude_beyond_the_plan_is_implausible():
    """One replica's ITL-feasible concurrency read at a context of 2e15 tokens: 5e-11; 2
    running asks for ~4e10 replicas: bad input, not demand."""
    g = ReactiveGuard(ReactiveSettings(), TTFT)
    wide = Situation((1, 2), (1, 2), (1, 2), (1000.0, 2e15), (math.inf, math.inf), FREE)
    a = check(g, snap(running=2), wide, by_osl)
    assert a.decode == 2 and a.codes == (R.HOLD_IMPLAUSIBLE,)


def test_lengths_beyond_the_demand_guards_bounds_are_read_at_them():
    """The same reading with the guard's bounds: OSL read at 2,000, (1,000 + 2,000) tokens ->
    33 sequences per replica; 2 running fit: nothing beyond the plan."""
    g = ReactiveGuard(ReactiveSettings(), TTFT)
    a = check(g, snap(running=2), sit((1, 2), lengths=(1000.0, 2e15)), by_osl)
    assert (a.prefill, a.decode) == (1, 2) and a.codes == (R.ROBUST_LENGTH,)
    assert "2e+15 read as 2000" in a.notes[0]


def test_one_prompt_no_replica_count_serves_faster_is_held():
    """One waiting prompt of 1e7 tokens (the bound with no history): 250 s to clear at any
    size, beyond the 1 s trigger; adding replicas cannot help."""
    g = ReactiveGuard(ReactiveSettings(), TTFT)
    s = Situation((2, 1), (2, 1), (2, 1), (1e7, 200.0), (1e7, 1e7), FREE)
    a = check(g, snap(arrivals=100, pq=1, isl=1e12), s)
    assert (a.prefill, a.decode) == (2, 1) and a.codes == (R.HOLD_UNSERVABLE,)
    assert "no number of replicas serves it faster" in a.notes[0]


def test_kv_use_above_100_percent_is_not_a_reading():
    g = ReactiveGuard(ReactiveSettings(), TTFT)
    a = check(g, snap(running=10, kv=37.0), sit((1, 1)))
    assert a.decode == 1 and a.codes == (R.IGNORED_SIGNAL,)


@pytest.mark.parametrize("enabled", [True, False])
def test_calm_load_and_the_off_switch_change_nothing(enabled):
    g = ReactiveGuard(ReactiveSettings(enabled=enabled), TTFT)
    a = check(g, snap(400, 0, 0, 50), sit((2, 2)))
    assert (a.prefill, a.decode) == (2, 2) and not a.notes
