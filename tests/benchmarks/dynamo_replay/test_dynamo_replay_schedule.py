"""A fixed schedule is applied at its times, with the startup delay; windows score a stretch."""

from __future__ import annotations

import numpy as np
import pytest
from support.dynamo import requires_dynamo

from sla_planner.evaluation.des import Requests, Schedule
from sla_planner_bench.dynamo_replay.lifecycle import count_timeline
from sla_planner_bench.dynamo_replay.schedule import (
    clipped,
    counts_at,
    from_decisions,
    shifted,
)


def _steady(duration_s: float, rate: float = 2.0, t0: float = 50.0) -> Requests:
    t = t0 + np.arange(0.0, duration_s, 1.0 / rate)
    return Requests.of(t, np.full(len(t), 1500), np.full(len(t), 50))


def test_schedule_lookup_clip_shift_and_decisions() -> None:
    s = Schedule.of([0, 100, 200], [1, 3, 2], [1, 2, 2])
    assert counts_at(s, -5) == (1, 1) and counts_at(s, 99.9) == (1, 1)
    assert counts_at(s, 100) == (3, 2)
    c = clipped(s, 150, 400)
    assert list(c.t) == [150, 200] and list(c.prefill) == [3, 2] and list(c.decode) == [2, 2]
    assert list(shifted(s, 50).t) == [-50, 50, 150]
    d = from_decisions([(5.0, 2, 1), (5.0, 3, 1), (10.0, 3, 2)], (1, 1))
    assert list(d.t) == [0, 5, 10] and list(d.prefill) == [1, 3, 3]  # the later one at 5 s wins


@pytest.mark.slow
@requires_dynamo
def test_fixed_schedule_lifecycle_has_the_startup_delay(replay_cfg) -> None:
    from sla_planner_bench.dynamo_replay.replay import replay_schedule

    reqs = _steady(400.0)  # trace time 50..450 s; simulated t = 0 at 50 s
    res = replay_schedule(reqs, Schedule.of([0.0, 80.0, 300.0], [1, 3, 1], [2, 2, 1]), replay_cfg)
    assert res.origin_s == 50.0 and res.initial == {"prefill": 1, "decode": 2}
    ops = res.lifecycle

    def at(kind: str, pool: str) -> list[float]:
        return sorted(
            op["at_ms"]
            for op in ops
            if op["pool"] == pool
            for tr in op["transitions"]
            if tr["transition"] == kind
        )

    assert at("worker_starting", "prefill") == [30_000.0, 30_000.0]  # 80 s trace = 30 s simulated
    assert at("worker_ready", "prefill") == [150_000.0, 150_000.0]  # exactly 120 s later
    assert at("worker_draining", "prefill") == [250_000.0, 250_000.0]
    assert at("worker_draining", "decode") == [250_000.0]
    tl = count_timeline(ops, res.initial)
    assert tl["prefill"][1][:2] == (30_000.0, 3) and tl["prefill"][-1][1] == 1
    # two workers idle until ready at 150 s: the first 100 s of arrivals all went to worker 0
    early = res.requests.select(res.requests.arrival_ms < 150_000.0 + 50_000.0)
    assert set(early.prefill_worker[early.arrival_ms < 199_000.0]) == {0.0}
    assert set(res.requests.prefill_worker) == {0.0, 1.0, 2.0}
    # billed: prefill 1 worker all along + 2 from 30 s to their removal (>= 250 s)
    end_s = res.summary["duration_ms"] / 1000.0
    assert res.gpu_hours.by_pool["prefill"] * 3600 >= end_s + 2 * 220 - 1e-6
    assert np.isclose(res.gpu_hours.billed, res.summary["gpu_hours"], rtol=1e-9)
    assert res.decisions == [(80.0, 3, 2), (300.0, 1, 1)]  # trace time
    assert res.gpu_hours_decided == pytest.approx((3 * 30 + 5 * 220 + 2 * (end_s - 250.0)) / 3600.0)


@pytest.mark.slow
@requires_dynamo
def test_windows_score_their_stretch_like_one_replay(replay_cfg) -> None:
    from sla_planner_bench.dynamo_replay.replay import replay_schedule
    from sla_planner_bench.dynamo_replay.windows import combine, replay_in_windows

    reqs = _steady(600.0, rate=4.0, t0=0.0)
    sched = Schedule.of([0.0, 200.0, 400.0], [2, 1, 2], [1, 1, 1])
    whole = replay_schedule(reqs, sched, replay_cfg)
    parts = replay_in_windows(reqs, sched, replay_cfg, window_s=200.0, warmup_s=60.0, t_end_s=600.0)
    assert [p.extra["scored"] for p in parts] == [(0.0, 200.0), (200.0, 400.0), (400.0, 600.0)]
    assert sum(len(p.requests) for p in parts) == len(reqs)  # each request scored once
    both = combine(parts, replay_cfg)
    assert both.requests == len(reqs)
    assert both.latency.attainment == pytest.approx(whole.latency.attainment, abs=0.01)
    # decided GPU-hours: 3 for 200 s, 2 for 200 s, 3 for 200 s
    assert both.gpu_hours_decided == pytest.approx((3 + 2 + 3) * 200 / 3600)
