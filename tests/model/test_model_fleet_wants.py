"""What a pool asks for: cold start, scale to zero after the idle window, waking on the first
requests, stabilisation and limits (hand-computed cases)."""

from __future__ import annotations

import pytest
from support.fleet import need, pool, run_allocate, settings, variant

from sla_planner.model.allocate.state import DeploymentState, FleetState
from sla_planner.model.reasons import FleetReason
from sla_planner.model.stabilise.stabilization import Recommendation
from sla_planner.model.stabilise.wants import is_idle, pool_want

R = FleetReason


def one(sized=2, min_replicas=0, **kw):
    p = pool(sized=sized, min_replicas=min_replicas, max_replicas=kw.pop("max_replicas", None),
             cap=kw.pop("cap", 16))  # fmt: skip
    return p, need("d", variant("v", p, p), **kw)


# (sized, min, running, last request at, now, history, window) -> (want, first reason)
CASES = [
    # Requests 599 s ago with a 600 s idle window: still active; sizing's 2 stands.
    (2, 0, 2, 0.0, 599.0, (), 0.0, 2, R.SIZED),
    # 600 s without requests: released at once, even with a stabilisation window.
    (2, 0, 2, 0.0, 600.0, ((Recommendation(590.0, 4),)), 300.0, 0, R.SCALED_TO_ZERO),
    # Never a request, with history: idle.
    (1, 0, 1, None, 60.0, (), 0.0, 0, R.SCALED_TO_ZERO),
    # Forecast says 0 but requests came 60 s ago: keep one replica.
    (0, 0, 1, 0.0, 60.0, (), 0.0, 1, R.IDLE_HOLD),
    # At zero, first requests seen: wake (1 even if the forecast rounds to 0).
    (0, 0, 0, 60.0, 60.0, (), 0.0, 1, R.WOKEN),
    (3, 0, 0, 60.0, 60.0, (), 0.0, 3, R.WOKEN),
    # min_replicas 1: never to zero, whatever the idle time.
    (1, 1, 1, None, 6000.0, (), 0.0, 1, R.SIZED),
    # Scale-down held by the window: the highest want within 300 s.
    (2, 1, 5, 0.0, 100.0, (Recommendation(0.0, 5),), 300.0, 5, R.STABILIZED),
    (2, 1, 5, 0.0, 400.0, (Recommendation(0.0, 5),), 300.0, 2, R.SIZED),
]


@pytest.mark.parametrize("sized, lo, running, last, now, hist, window, want, reason", CASES)
def test_pool_wants(sized, lo, running, last, now, hist, window, want, reason):
    p, n = one(sized, lo, last_request_at=last, window_s=window)
    w = pool_want(p, n, running, tuple(hist), now)
    assert (w.wanted, w.reasons[0]) == (want, reason)


def test_cold_holds_what_runs_or_the_minimum():
    p, n = one(5, 1, has_history=False)
    assert pool_want(p, n, 3, (), 0.0).wanted == 3
    assert pool_want(p, n, 0, (), 0.0).wanted == 1
    assert pool_want(p, n, 0, (), 0.0).reasons == (R.COLD,)


def test_max_replicas_and_the_gpu_type_cap():
    # The want is sizing's (the allocator applies the limits, as HPA applies min/max last),
    # and says that a limit will cut it.
    p, n = one(9, 1, max_replicas=4)
    w = pool_want(p, n, 1, (), 0.0)
    assert (w.wanted, w.reasons[0]) == (9, R.MAXIMUM)
    alloc, _ = run_allocate([n], FleetState(), 0.0, settings({"A": 16}))
    assert alloc.by_name("d").prefill.replicas == 4
    p, n = one(9, 1, cap=3)
    assert pool_want(p, n, 1, (), 0.0).reasons[0] is R.MAXIMUM
    alloc, _ = run_allocate([n], FleetState(), 0.0, settings({"A": 16}))
    assert alloc.by_name("d").prefill.replicas == 3


def test_is_idle_boundary():
    _, n = one(last_request_at=100.0, idle_window_s=600.0)
    assert not is_idle(n, 699.0) and is_idle(n, 700.0)


def test_an_idle_deployment_releases_its_gpus_to_another():
    # a (min 0) has had no requests for the idle window: its GPUs go to b at once.
    a = need("a", variant("v", pool(sized=2, min_replicas=0), pool(sized=2, min_replicas=0)),
             last_request_at=0.0, idle_window_s=600.0, rank=0)  # fmt: skip
    b = need("b", variant("v", pool(sized=4), pool(sized=4)), rank=1, window_s=300.0)
    before = FleetState({"a": DeploymentState("v", 2, 2), "b": DeploymentState("v", 2, 2)})
    s = settings({"A": 8})
    alloc, _ = run_allocate([a, b], before, 540.0, s)
    assert alloc.by_name("a").prefill.replicas == 2  # 540 s: still within the idle window
    alloc, state = run_allocate([a, b], before, 600.0, s)
    got_a = alloc.by_name("a")
    assert (got_a.prefill.replicas, got_a.decode.replicas) == (0, 0)
    assert got_a.prefill.reasons == (R.SCALED_TO_ZERO,)
    assert (alloc.by_name("b").prefill.replicas, alloc.by_name("b").decode.replicas) == (4, 4)
    # Requests again: woken at the next tick.
    woken = need("a", a.variants["v"], last_request_at=660.0, rank=0)
    alloc, _ = run_allocate([woken, b], state, 660.0, s)
    got_a = alloc.by_name("a")
    assert got_a.prefill.replicas >= 1 and got_a.decode.replicas >= 1
    assert got_a.prefill.reasons[0] is R.WOKEN
