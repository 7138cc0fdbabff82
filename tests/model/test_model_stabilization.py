"""HPA-like scale-down stabilisation with time passed in."""

from __future__ import annotations

from sla_planner.model.stabilise.stabilization import Recommendation, Stabilizer, stabilize
from sla_planner.model.types import Pool

P = Pool.PREFILL


def test_scale_up_is_immediate_and_scale_down_waits_for_the_window():
    s = Stabilizer(window_s=300)
    assert s.apply(P, 2, 0).replicas == 2
    assert s.apply(P, 6, 60).replicas == 6  # up at once
    for t in (120, 180, 240, 300, 355):
        r = s.apply(P, 3, t)
        assert (r.replicas, r.held) == (6, True)
        assert r.hold_until == 360
    r = s.apply(P, 3, 361)  # the 6 recommended at t=60 has aged out
    assert (r.replicas, r.held) == (3, False)


def test_holds_the_highest_recent_recommendation():
    h: tuple[Recommendation, ...] = ()
    out = []
    for t, n in [(0, 5), (60, 8), (120, 4), (180, 7), (240, 2), (400, 2), (500, 1)]:
        r = stabilize(h, n, t, 300)
        h = r.history
        out.append(r.replicas)
    # t=400: only 180 (7) and 240 (2) remain in the window; t=500: only 240 (2).
    assert out == [5, 8, 8, 8, 8, 7, 2]


def test_zero_window_never_holds():
    s = Stabilizer(window_s=0)
    s.apply(P, 9, 0)
    assert s.apply(P, 1, 0.001).replicas == 1


def test_seed_resumes_from_cluster_replicas():
    s = Stabilizer(window_s=300)
    s.seed(P, 5, 1000)
    r = s.apply(P, 1, 1060)
    assert (r.replicas, r.held, r.hold_until) == (5, True, 1300)
    assert s.apply(P, 1, 1301).replicas == 1
    # Pools are independent.
    assert s.apply(Pool.DECODE, 1, 1060).replicas == 1


def test_clock_going_back_does_not_hold_on_future_entries():
    s = Stabilizer(window_s=300)
    s.apply(P, 9, 1000)
    assert s.apply(P, 2, 500).replicas == 2


def test_peek_records_nothing():
    s = Stabilizer(window_s=300)
    s.apply(P, 4, 0)
    assert s.peek(P, 9, 10).replicas == 9
    assert s.apply(P, 1, 20).replicas == 4
