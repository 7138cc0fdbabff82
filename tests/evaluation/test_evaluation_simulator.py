"""Simulator invariants on the real H200 profile and a real Azure 2023 conv slice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sla_planner.evaluation.sim_demand import SimDemand, demand_from_requests
from sla_planner.evaluation.simulator import Schedule, ready_replicas, simulate

TTFT, ITL = 200.0, 25.0


def _slice(trace, minutes: int, scale_time: float = 1.0) -> SimDemand:
    """First `minutes` of the trace; scale_time < 1 compresses arrivals (more load)."""
    t = trace.arrival_s - trace.start
    keep = t < minutes * 60 / scale_time
    return demand_from_requests(
        t[keep] * scale_time, trace.isl[keep], trace.osl[keep], 0.0, minutes * 60.0, 10.0
    )


def _const(demand: SimDemand, p: int, d: int) -> Schedule:
    j = demand.bins // 6
    return Schedule(demand.start, 60.0, np.full(j, p), np.full(j, d))


def test_ready_replicas_follow_startup_rule():
    decided = np.array([1, 1, 5, 5, 5, 5, 2, 2, 6, 6, 6, 6])
    ready = ready_replicas(decided, 2)
    # Up: capacity two bins later. Down: at once. Up again: two bins later.
    assert ready.tolist() == [1, 1, 1, 1, 5, 5, 2, 2, 2, 2, 6, 6]


def test_more_replicas_never_lower_attainment(h200, conv_trace):
    dm = _slice(conv_trace, 5, scale_time=0.1)  # ~55 req/s: needs several replicas
    results = {}
    for p in range(1, 9):
        for d in (1, 2, 3):
            results[(p, d)] = simulate(_const(dm, p, d), dm, h200, TTFT, ITL, 120.0).attainment
    for (p, d), att in results.items():
        if (p + 1, d) in results:
            assert results[(p + 1, d)] >= att - 1e-12
        if (p, d + 1) in results:
            assert results[(p, d + 1)] >= att - 1e-12
    assert results[(1, 1)] < 0.5 < results[(8, 3)]  # the sweep spans failure to success


def test_zero_demand_costs_only_the_gpus(h200, conv_trace):
    dm = _slice(conv_trace, 10)
    empty = SimDemand(
        dm.start,
        dm.bin_s,
        np.zeros(dm.bins),
        np.full(dm.bins, np.nan),
        np.full(dm.bins, np.nan),
        isl_sample=conv_trace.isl,
    )
    r = simulate(_const(empty, 3, 2), empty, h200, TTFT, ITL, 120.0)
    assert math.isnan(r.attainment)
    assert r.requests == 0
    assert r.gpu_hours == pytest.approx(5 * 10 / 60)
    assert r.peak_gpus == 5 and r.scaling_actions == 0


def test_capacity_arrives_after_startup(h200, conv_trace):
    dm = _slice(conv_trace, 5, scale_time=0.1)  # ~55 req/s: one prefill replica is swamped
    j = dm.bins // 6
    p = np.full(j, 1)
    p[1:] = 8  # scale up at minute 1
    sched = Schedule(dm.start, 60.0, p, np.full(j, 3))
    slow = simulate(sched, dm, h200, TTFT, ITL, startup_s=120.0)
    fast = simulate(sched, dm, h200, TTFT, ITL, startup_s=0.0)
    ok_slow = slow.interval_ok / slow.interval_requests
    ok_fast = fast.interval_ok / fast.interval_requests
    # Paid from the decision either way; capacity only two intervals later with startup.
    assert slow.gpu_hours == fast.gpu_hours
    assert ok_fast[1] > 0.9 and ok_fast[2] > 0.99  # (minute 1 drains minute 0's backlog)
    assert ok_slow[1] < 0.5 and ok_slow[2] < 0.5
    assert ok_slow[4] > 0.99
    assert slow.attainment < fast.attainment


def test_backlog_carries_over_when_overloaded(h200, conv_trace):
    dm = _slice(conv_trace, 5, scale_time=0.1)
    j = dm.bins // 6
    under = np.full(j, 3)
    under[1] = 1  # one starved minute
    r = simulate(Schedule(dm.start, 60.0, under, np.full(j, 3)), dm, h200, TTFT, ITL, 0.0)
    ok = r.interval_ok / r.interval_requests
    alone = simulate(_const(dm, 3, 3), dm, h200, TTFT, ITL, 0.0)
    ok_alone = alone.interval_ok / alone.interval_requests
    assert ok[1] < 0.2  # overloaded
    # The minute after has full capacity again but first drains the backlog.
    assert ok[2] < ok_alone[2] - 0.05
    assert ok[4] == pytest.approx(ok_alone[4], abs=1e-6)  # drained by then


def test_long_prompts_judged_by_their_own_base_ttft(h200, conv_trace):
    dm = _slice(conv_trace, 10)
    r = simulate(_const(dm, 50, 50), dm, h200, 40.0, ITL, 0.0)  # no queueing at all
    share_short = float(np.mean(np.asarray(h200.prefill_ttft_ms(dm.req_isl)) <= 40.0))
    assert r.ttft_attainment == pytest.approx(share_short, abs=1e-6)
    assert 0.05 < share_short < 0.95


def test_week_scale_is_vectorised(h200, conv_trace):
    # 60k bins of count-trace demand (CDF mode) must simulate without per-bin Python loops.
    rng = np.random.default_rng(0)
    n = 60480
    counts = rng.poisson(1800, n).astype(float)
    dm = SimDemand(
        0.0, 10.0, counts, np.full(n, 1155.0), np.full(n, 211.0), isl_sample=conv_trace.isl
    )
    r = simulate(
        Schedule(0.0, 60.0, np.full(n // 6, 9), np.full(n // 6, 5)), dm, h200, TTFT, ITL, 120.0
    )
    assert 0.9 < r.attainment <= 1.0
    assert r.gpu_hours == pytest.approx(14 * n * 10 / 3600)


def test_dry_run_gets_closed_loop_figures(h200, conv_trace):
    from support.loops import open_loop

    from sla_planner.evaluation.simulator import simulate_dry_run
    from sla_planner.model.config import PlannerConfig
    from sla_planner.model.planner import Planner
    from sla_planner.sources.trace_source import TraceMetricsSource

    src = TraceMetricsSource(conv_trace)
    cfg = PlannerConfig()
    start = math.floor(conv_trace.start / 60) * 60 + 600
    res = open_loop(src, Planner.of_one(cfg, h200), start, start + 1200, warmup=10)
    sim = simulate_dry_run(res, src, h200, cfg)
    assert sim is not None and 0.9 < sim["attainment"] <= 1.0
    assert sim["requests"] == pytest.approx(sum(a.requests for a in res.actual))
    gpus = sum(d.total_gpus for d in res.decisions)
    assert sim["gpu_hours"] == pytest.approx(gpus * 60 / 3600)
    odd = PlannerConfig(interval_s=45.0)  # not a whole number of 10 s bins: not simulated
    assert simulate_dry_run(res, src, h200, odd) is None
