"""The fleet's independent judge: each run of one variant replayed request by request through
the discrete-event engine with that variant's own profiles (hand-assembled references)."""

from __future__ import annotations

import numpy as np
import pytest
from support.paths import BUNDLED_PROFILE

from sla_planner.evaluation.des import Judge, Requests, summarize
from sla_planner.evaluation.fleet_judge import ServedSchedule
from sla_planner.model.fleet.config import FleetSLO
from sla_planner.model.fleet.planning import PoolEngine, VariantEngines

H100 = "aic-h100-llama3.1-8b-fp8-tp1"
SLO = FleetSLO(ttft_ms=200, itl_ms=25)


def _curves(name: str):
    from sla_planner.profiles.interpolation import ProfileCurves
    from sla_planner.profiles.registry import load_profile

    return ProfileCurves(load_profile(name))


def _engines(**by_variant: str) -> dict[str, VariantEngines]:
    out = {}
    for v, prof in by_variant.items():
        c = _curves(prof)
        out[v] = VariantEngines(v, PoolEngine(c, "G", 1, prof), PoolEngine(c, "G", 1, prof))
    return out


def _source(conv_trace):
    from sla_planner.sources.trace_source import TraceMetricsSource

    return TraceMetricsSource(conv_trace)


def _reference(conv_trace, profile, t0, pre, dec, slo=SLO):
    """One Judge over [t0, t0 + 60 len(pre)) with the trace's own requests, drained."""
    t1 = t0 + 60.0 * len(pre)
    a, b = np.searchsorted(conv_trace.arrival_s, [t0, t1])
    req = Requests.of(conv_trace.arrival_s[a:b], conv_trace.isl[a:b], conv_trace.osl[a:b])
    j = Judge(req, _curves(profile).profile, ttft_ms=slo.ttft_ms, itl_ms=slo.itl_ms,
              startup_s=120.0, start_s=t0)  # fmt: skip
    for k, (p, d) in enumerate(zip(pre, dec, strict=True)):
        j.advance(t0 + 60.0 * (k + 1), p, d)
    j.finish()
    return summarize(j), b - a


def test_one_variant_is_one_discrete_event_replay(conv_trace):
    from sla_planner.evaluation.fleet_des_judge import DesJudge

    start = float(conv_trace.start)
    pre, dec = [1, 2, 2, 1, 1, 2], [1, 1, 1, 1, 2, 2]
    sched = ServedSchedule(start, 60.0, ("v",) * 6, np.array(pre), np.array(dec))
    got = DesJudge().judge(sched, _source(conv_trace), _engines(v=BUNDLED_PROFILE), SLO, 120.0)
    ref, arrived = _reference(conv_trace, BUNDLED_PROFILE, start, pre, dec)
    assert got.requests == arrived == ref.finished + ref.unfinished
    assert got.attainment == pytest.approx(ref.attainment)
    assert got.interval_requests.sum() == arrived
    assert got.interval_ok.sum() == pytest.approx(ref.attainment * ref.finished)
    assert "discrete-event" in got.method


def test_each_variant_run_is_replayed_with_its_own_profiles(conv_trace):
    """Four intervals on the H200 profile, then two on the (estimated) H100 one: two replays,
    each from its run's start with its own requests, and their counts add up. A 60 ms TTFT
    target, which the two profiles meet differently at one replica."""
    from sla_planner.evaluation.fleet_des_judge import DesJudge

    tight = FleetSLO(ttft_ms=60, itl_ms=10)
    start = float(conv_trace.start)
    sched = ServedSchedule(start, 60.0, ("a", "a", "a", "a", "b", "b"),
                           np.array([1] * 6), np.array([1] * 6))  # fmt: skip
    engines = _engines(a=BUNDLED_PROFILE, b=H100)
    got = DesJudge().judge(sched, _source(conv_trace), engines, tight, 120.0)
    ra, na = _reference(conv_trace, BUNDLED_PROFILE, start, [1] * 4, [1] * 4, tight)
    rb, nb = _reference(conv_trace, H100, start + 240.0, [1, 1], [1, 1], tight)
    assert got.requests == na + nb
    met = ra.attainment * ra.finished + rb.attainment * rb.finished
    assert got.attainment == pytest.approx(met / (na + nb))
    # The H100 stretch judged with the H200 profile would differ: the profiles matter.
    same = DesJudge().judge(sched, _source(conv_trace), _engines(a=BUNDLED_PROFILE,
                            b=BUNDLED_PROFILE), tight, 120.0)  # fmt: skip
    assert same.attainment != pytest.approx(got.attainment, abs=1e-6)


def test_requests_never_served_count_as_missed(conv_trace):
    """At zero replicas the whole time nothing completes: every arrival is a miss, not ignored."""
    from sla_planner.evaluation.fleet_des_judge import DesJudge

    start = float(conv_trace.start)
    sched = ServedSchedule(start, 60.0, ("v",) * 3, np.zeros(3, int), np.zeros(3, int))
    got = DesJudge().judge(sched, _source(conv_trace), _engines(v=BUNDLED_PROFILE), SLO, 120.0)
    a, b = np.searchsorted(conv_trace.arrival_s, [start, start + 180.0])
    assert got.requests == b - a > 0
    assert got.attainment == 0.0


def test_prometheus_sources_cannot_be_replayed():
    from sla_planner.evaluation.fleet_des_judge import DesJudge

    sched = ServedSchedule(0.0, 60.0, ("v",), np.ones(1, int), np.ones(1, int))
    assert DesJudge().judge(sched, object(), _engines(v=BUNDLED_PROFILE), SLO, 120.0) is None
