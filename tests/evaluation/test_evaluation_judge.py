"""The bridge from a dry run to the discrete-event judge: which requests it replays, and that
judging a dry run is exactly a one-shot replay of its decisions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.loops import open_loop
from support.paths import BUNDLED_PROFILE, real_trace

from sla_planner.evaluation.des import Judge, Requests, Schedule, replay, summarize
from sla_planner.evaluation.des_requests import BIN_S, source_requests
from sla_planner.evaluation.estimate import verdict
from sla_planner.evaluation.judge import JudgeSettings, Plant, judged_block, replay_decisions
from sla_planner.model.config import SLA, PlannerConfig
from sla_planner.model.planner import Planner
from sla_planner.profiles.registry import load_profile
from sla_planner.sources.trace_files import load_trace
from sla_planner.sources.trace_source import TraceMetricsSource


def _cat(chunks):
    chunks = list(chunks)
    return (
        np.concatenate([c.t for c in chunks]),
        np.concatenate([c.isl for c in chunks]),
        np.concatenate([c.osl for c in chunks]),
    )


def test_a_per_request_trace_replays_its_own_requests(conv_trace) -> None:
    src = TraceMetricsSource(conv_trace)
    start = math.floor(conv_trace.start / 60) * 60 + 600
    end = start + 1200
    t, isl, osl = _cat(source_requests(src, start, end))
    inside = (conv_trace.arrival_s >= start) & (conv_trace.arrival_s < end)
    assert t.size == int(inside.sum()) > 1000
    np.testing.assert_array_equal(t, conv_trace.arrival_s[inside])
    np.testing.assert_array_equal(isl, conv_trace.isl[inside].astype(np.int64))
    np.testing.assert_array_equal(osl, conv_trace.osl[inside].astype(np.int64))


def test_a_count_trace_replays_the_counts_the_planner_saw(conv_trace) -> None:
    week = load_trace(real_trace("azure2024_conversation_10s_counts.csv"))
    src = TraceMetricsSource(week, tokens_from=conv_trace, rate_scale=4.0)
    start = week.start + 3600.0
    n = 360  # an hour of 10 s bins
    t, isl, osl = _cat(source_requests(src, start, start + n * BIN_S, seed=7))
    counts = src.bin(start, n, BIN_S)[0]
    per_bin = np.bincount(((t - start) // BIN_S).astype(int), minlength=n)
    assert np.all(per_bin >= np.floor(counts)) and np.all(per_bin <= np.floor(counts) + 1)
    pairs = set(zip(conv_trace.isl.astype(int), conv_trace.osl.astype(int), strict=True))
    assert all((a, b) in pairs for a, b in zip(isl[:500], osl[:500], strict=True))


def test_judging_a_dry_run_is_a_one_shot_replay_of_its_decisions(conv_trace, h200) -> None:
    cfg = PlannerConfig(sla=SLA(ttft_ms=200, itl_ms=25))
    src = TraceMetricsSource(conv_trace)
    start = math.floor(conv_trace.start / 60) * 60 + 600
    res = open_loop(src, Planner.of_one(cfg, h200), start, start + 1800, warmup=10)
    profile = load_profile(BUNDLED_PROFILE)
    settings = JudgeSettings(200, 25, cfg.startup_s)
    plant = Plant(source_requests(src, start, start + 1800), {"default": (profile, profile)}, settings, start)  # fmt: skip
    judged = judged_block(replay_decisions(res.decisions, plant, 60.0))
    direct = replay(
        _requests(src, start, start + 1800),
        Schedule.of(
            [d.timestamp for d in res.decisions],
            [d.prefill.replicas for d in res.decisions],
            [d.decode.replicas for d in res.decisions],
        ),
        profile,
        end_s=start + 1800,
        ttft_ms=200,
        itl_ms=25,
        startup_s=cfg.startup_s,
    )
    assert judged is not None
    assert judged["requests"] == direct.finished > 5000
    assert judged["attainment"] == direct.attainment
    assert judged["gpu_hours"] == pytest.approx(direct.gpu_hours)


def _requests(src, start, end):
    t, isl, osl = _cat(source_requests(src, start, end))
    return Requests(t, isl, osl)


def test_a_separate_decode_profile_times_decode_and_counts_its_gpus(conv_trace) -> None:
    prefill = load_profile(BUNDLED_PROFILE)
    slow = prefill.model_copy(deep=True)
    slow.decode.itl_ms = [x * 3.0 for x in slow.decode.itl_ms]
    slow.gpus_per_replica = 2
    start = math.floor(conv_trace.start / 60) * 60 + 600
    src = TraceMetricsSource(conv_trace)
    settings = JudgeSettings(ttft_ms=200, itl_ms=25, startup_s=120)
    sched = Schedule.of([start, start + 600], [2, 2], [1, 1])

    def run(decode):
        plant = Plant(source_requests(src, start, start + 1200), {"v": (prefill, decode)}, settings, start)  # fmt: skip
        for t, p, d in zip(sched.t, sched.prefill, sched.decode, strict=True):
            plant.advance(float(t) + 600.0, "v", int(p), int(d))
        return plant.finish()

    same, other = run(prefill), run(slow)
    # 3x slower steps, and more sequences in flight because of it: ITL grows at least 3x.
    assert other.itl_ms["p50"] >= 3.0 * same.itl_ms["p50"] * 0.98
    assert same.gpu_hours == pytest.approx((2 + 1) * 1200 / 3600)
    assert other.gpu_hours == pytest.approx((2 + 1 * 2) * 1200 / 3600)


# -------------------------------------------------------- variants: one judge per run

H100 = "aic-h100-llama3.1-8b-fp8-tp1"


def _reference(conv_trace, profile, t0, pre, dec, ttft=200.0, itl=25.0):
    """One Judge over [t0, t0 + 60 len(pre)) with the trace's own requests, drained."""
    t1 = t0 + 60.0 * len(pre)
    a, b = np.searchsorted(conv_trace.arrival_s, [t0, t1])
    req = Requests.of(conv_trace.arrival_s[a:b], conv_trace.isl[a:b], conv_trace.osl[a:b])
    j = Judge(req, load_profile(profile), ttft_ms=ttft, itl_ms=itl, startup_s=120.0, start_s=t0)
    for k, (p, d) in enumerate(zip(pre, dec, strict=True)):
        j.advance(t0 + 60.0 * (k + 1), p, d)
    j.finish()
    return summarize(j), b - a


def _plant_verdict(conv_trace, runs, ttft=200.0, itl=25.0):
    """`runs`: (variant, profile, prefill, decode) per interval from the trace's start."""
    start = float(conv_trace.start)
    end = start + 60.0 * len(runs)
    profiles = {v: (load_profile(p), load_profile(p)) for v, p, _, _ in runs}
    plant = Plant(
        source_requests(TraceMetricsSource(conv_trace), start, end),
        profiles,
        JudgeSettings(ttft, itl, 120.0),
        start,
    )
    for k, (v, _, p, d) in enumerate(runs):
        plant.advance(start + 60.0 * (k + 1), v, p, d)
    return verdict(plant.finish(), len(runs), "discrete-event")


def test_one_variant_is_one_discrete_event_replay(conv_trace):
    start = float(conv_trace.start)
    pre, dec = [1, 2, 2, 1, 1, 2], [1, 1, 1, 1, 2, 2]
    got = _plant_verdict(conv_trace, [("v", BUNDLED_PROFILE, p, d) for p, d in zip(pre, dec, strict=True)])  # fmt: skip
    ref, arrived = _reference(conv_trace, BUNDLED_PROFILE, start, pre, dec)
    assert got.requests == arrived == ref.finished + ref.unfinished
    assert got.attainment == pytest.approx(ref.attainment)
    assert got.interval_requests.sum() == arrived
    assert got.interval_ok.sum() == pytest.approx(ref.attainment * ref.finished)


def test_each_variant_run_is_replayed_with_its_own_profiles(conv_trace):
    """Four intervals on the H200 profile, then two on the (estimated) H100 one: two replays,
    the second from the switch on with the requests the first left, and their counts add up.
    A 60 ms TTFT target, which the two profiles meet differently at one replica."""
    start = float(conv_trace.start)
    runs = [("a", BUNDLED_PROFILE, 1, 1)] * 4 + [("b", H100, 1, 1)] * 2
    got = _plant_verdict(conv_trace, runs, ttft=60.0, itl=10.0)
    ra, na = _reference(conv_trace, BUNDLED_PROFILE, start, [1] * 4, [1] * 4, 60.0, 10.0)
    rb, nb = _reference(conv_trace, H100, start + 240.0, [1, 1], [1, 1], 60.0, 10.0)
    assert got.requests == na + nb
    met = ra.attainment * ra.finished + rb.attainment * rb.finished
    assert got.attainment == pytest.approx(met / (na + nb))
    # The H100 stretch judged with the H200 profile would differ: the profiles matter.
    same = _plant_verdict(conv_trace, [("a", BUNDLED_PROFILE, 1, 1)] * 6, ttft=60.0, itl=10.0)
    assert same.attainment != pytest.approx(got.attainment, abs=1e-6)


def test_requests_never_served_count_as_missed(conv_trace):
    """At zero replicas the whole time nothing completes: every arrival is a miss, not ignored."""
    start = float(conv_trace.start)
    got = _plant_verdict(conv_trace, [("v", BUNDLED_PROFILE, 0, 0)] * 3)
    a, b = np.searchsorted(conv_trace.arrival_s, [start, start + 180.0])
    assert got.requests == b - a > 0
    assert got.attainment == 0.0
