"""The bridge from a dry run to the discrete-event judge: which requests it replays, and that
judging a dry run is exactly a one-shot replay of its decisions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.paths import BUNDLED_PROFILE, real_trace

from sla_planner.evaluation.des import Schedule, replay
from sla_planner.evaluation.des_replay import (
    BIN_S,
    JudgeSettings,
    judge_dry_run,
    replay_decisions,
    schedule_of,
    source_requests,
)
from sla_planner.model.config import SLA, PlannerConfig
from sla_planner.model.old_planner import Planner
from sla_planner.offline.dryrun import run_dry_run
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
    res = run_dry_run(src, Planner(cfg, h200), start, start + 1800, 60.0, warmup_intervals=10)
    profile = load_profile(BUNDLED_PROFILE)
    judged = judge_dry_run(res, src, profile, profile, cfg)
    direct = replay(
        _requests(src, start, start + 1800),
        schedule_of(res.decisions),
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
    from sla_planner.evaluation.des import Requests

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

    class D:  # the fields replay_decisions reads of a Decision
        def __init__(self, t, p, d):
            self.timestamp = t
            self.prefill = type("P", (), {"replicas": p})
            self.decode = type("P", (), {"replicas": d})

    decisions = [D(t, p, d) for t, p, d in zip(sched.t, sched.prefill, sched.decode, strict=True)]
    same = replay_decisions(
        decisions, source_requests(src, start, start + 1200), prefill, prefill, settings, 600.0
    )
    other = replay_decisions(
        decisions, source_requests(src, start, start + 1200), prefill, slow, settings, 600.0
    )
    # 3x slower steps, and more sequences in flight because of it: ITL grows at least 3x.
    assert other.itl_ms["p50"] >= 3.0 * same.itl_ms["p50"] * 0.98
    assert same.gpu_hours == pytest.approx((2 + 1) * 1200 / 3600)
    assert other.gpu_hours == pytest.approx((2 + 1 * 2) * 1200 / 3600)
