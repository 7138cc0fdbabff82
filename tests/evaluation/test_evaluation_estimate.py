"""Judging a fleet schedule: what served each interval (old replicas during a switch), the
simulator judge per variant run, and the requests cold starts delay (hand-computed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.fleet import need, pool, run_allocate, settings, variant

from sla_planner.evaluation.cold_start import cold_starts
from sla_planner.evaluation.estimate import ServedSchedule, estimate, served_schedule
from sla_planner.evaluation.sim_demand import demand_from_requests
from sla_planner.evaluation.simulator import Schedule, simulate
from sla_planner.model.allocate.state import DeploymentState, FleetState
from sla_planner.model.config import Hysteresis


def test_old_replicas_serve_until_the_new_are_ready():
    d = need(
        "d",
        variant("exp", pool("E", 2), pool("E", 1)),
        variant("cheap", pool("C", 3), pool("C", 1)),
    )
    s = settings({"E": 3, "C": 4}, {"E": 2.0, "C": 1.0}, startup_s=120.0,
                 hysteresis=Hysteresis(min_saving=0.1, hold_s=120.0))  # fmt: skip
    state = FleetState({"d": DeploymentState("exp", 2, 1)})
    allocs = []
    for k in range(6):
        a, state = run_allocate([d], state, 60.0 * k, s)
        allocs.append(a.by_name("d"))
    sched = served_schedule(allocs, 60.0)
    # Candidate from t=0, switch at t=120, new replicas ready at 240.
    assert sched.variant == ("exp", "exp", "exp", "exp", "cheap", "cheap")
    assert list(sched.prefill) == [2, 2, 2, 2, 3, 3] and list(sched.decode) == [1] * 6
    assert sched.runs() == [("exp", 0, 4), ("cheap", 4, 6)]


def test_the_estimate_of_one_variant_is_the_simulator(h200, conv_trace):
    start = conv_trace.start
    pre, dec = np.array([1, 2, 2, 1, 1, 2]), np.array([1, 1, 1, 1, 2, 2])
    sched = ServedSchedule(start, 60.0, ("v",) * 6, pre, dec)
    dm = demand_from_requests(
        conv_trace.arrival_s, conv_trace.isl, conv_trace.osl, start, start + 360, 10.0
    )
    got = estimate(sched, dm, {"v": (h200, h200)}, (200.0, 25.0), 120.0)
    ref = simulate(Schedule(start, 60.0, pre, dec), dm, h200, 200, 25, 120.0)
    assert got.attainment == pytest.approx(ref.attainment)
    assert got.requests == ref.requests
    assert np.allclose(got.interval_ok, ref.interval_ok)


# Decisions per 60 s interval (both pools), arrivals (s), startup 120 s ->
# (wakes, delayed requests, mean extra TTFT s, max extra TTFT s)
COLD = [
    # Woken by the decision at 120 s: ready at 240. Arrivals at 30 and 100 wait 210 and 140 s;
    # the one at 250 finds replicas.
    ([0, 0, 1, 1, 1, 1], [30.0, 100.0, 250.0], (1, 2, 175.0, 210.0)),
    # Never at zero: nothing delayed.
    ([1, 1, 1, 1, 1, 1], [30.0, 100.0, 250.0], (0, 0, math.nan, math.nan)),
    # Scaled to zero at 180 s, woken at 240: arrivals at 200 and 300 wait for 360.
    ([1, 1, 1, 0, 1, 1], [30.0, 200.0, 300.0], (1, 2, 110.0, 160.0)),
    # Zero until the end: delayed until the replay ends (360 s).
    ([1, 0, 0, 0, 0, 0], [30.0, 100.0, 250.0], (0, 2, 185.0, 260.0)),
]


@pytest.mark.parametrize("decided, arrivals, expected", COLD)
def test_cold_start_delays(decided, arrivals, expected):
    t = np.array(arrivals)
    dm = demand_from_requests(t, np.full(t.size, 500.0), np.full(t.size, 50.0), 0.0, 360.0, 10.0)
    n = np.array(decided)
    got = cold_starts(ServedSchedule(0.0, 60.0, ("v",) * 6, n, n), dm, 120.0)
    wakes, delayed, mean, top = expected
    assert (got.wakes, got.delayed_requests) == (wakes, delayed)
    for g, e in ((got.extra_ttft_mean_s, mean), (got.extra_ttft_max_s, top)):
        assert (math.isnan(g) and math.isnan(e)) or g == pytest.approx(e)
