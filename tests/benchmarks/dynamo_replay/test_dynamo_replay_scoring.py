"""Scoring: attainment from per-request records, GPU-hours from the lifecycle and decisions."""

from __future__ import annotations

import numpy as np
import pytest
from support.dynamo import requires_dynamo

from sla_planner.evaluation.des import Requests, Schedule
from sla_planner_bench.dynamo_replay.lifecycle import (
    gpu_hours_billed,
    gpu_hours_by_decision,
    scaling_actions,
    worker_spans,
)
from sla_planner_bench.dynamo_replay.records import (
    attains,
    summarize_latency,
    table_from_records,
)


def _rec(ttft, itl, osl, status="completed"):
    return {
        "arrival_time_ms": 0.0,
        "ttft_ms": ttft,
        "itl_ms": itl,
        "output_length": osl,
        "input_length": 10,
        "e2e_latency_ms": 1.0,
        "terminal_status": status,
    }


def test_attainment_rule() -> None:
    recs = [
        _rec(100, 10, 5),  # met
        _rec(200, 10, 5),  # TTFT exactly at the target: met
        _rec(201, 10, 5),  # TTFT missed
        _rec(100, 20.5, 5),  # ITL missed
        _rec(100, None, 1),  # one output token: no ITL, met
        _rec(None, None, 0, status="rejected"),  # never completed: missed
    ]
    t = table_from_records(recs)
    assert list(attains(t, 200.0, 20.0)) == [True, True, False, False, True, False]
    s = summarize_latency(t, 200.0, 20.0)
    assert (s.n, s.completed, s.met) == (6, 5, 3) and s.attainment == pytest.approx(0.5)


def _op(at, pool, cause, *transitions):
    return {
        "at_ms": at,
        "pool": pool,
        "cause": cause,
        "transitions": [{"worker_id": w, "transition": k} for w, k in transitions],
    }


def test_gpu_hours_billed_from_a_lifecycle_hand_computed() -> None:
    life = [
        _op(0.0, "prefill", "planner_scale", (1, "worker_starting")),
        _op(120_000.0, "prefill", "worker_ready_event", (1, "worker_ready")),
        _op(600_000.0, "prefill", "planner_scale", (1, "worker_draining")),
        _op(610_000.0, "prefill", "drain_settlement", (1, "worker_removed")),
        # the same id started again: a second span, billed too
        _op(1_000_000.0, "prefill", "planner_scale", (1, "worker_starting")),
    ]
    spans = worker_spans(life, {"prefill": 1, "decode": 1})
    gh = gpu_hours_billed(spans, 1_200_000.0, {"prefill": 2, "decode": 1})
    # prefill 0: 1200 s; prefill 1: 610 s + 200 s; decode 0: 1200 s (GPUs 2, 2, 1)
    assert gh.billed == pytest.approx((2 * 1200 + 2 * 810 + 1200) / 3600)
    assert gh.serving == pytest.approx((2 * 1200 + 2 * 480 + 1200) / 3600)
    assert gh.by_pool["decode"] == pytest.approx(1200 / 3600)
    a = scaling_actions(life)
    assert (a["scale_ops"], a["workers_started"], a["workers_drained"]) == (3, 2, 1)


def test_gpu_hours_by_decision_hand_computed() -> None:
    # (1+1) for 100 s, (3+2) for 100 s, (2+2) for 100 s; prefill 2 GPUs a worker
    got = gpu_hours_by_decision([0, 100, 200], [1, 3, 2], [1, 2, 2], 300.0, gpus_prefill=2)
    assert got == pytest.approx((3 * 100 + 8 * 100 + 6 * 100) / 3600)


@pytest.mark.slow
@requires_dynamo
def test_attainment_equals_a_hand_count(replay_cfg) -> None:
    """Six requests at once on one prefill worker queue up, so the later ones miss 300 ms."""
    from dataclasses import replace

    from sla_planner_bench.dynamo_replay.replay import replay_schedule

    cfg = replace(replay_cfg, ttft_ms=300.0, itl_ms=7.0)
    reqs = Requests.of(
        [0, 0, 0, 0, 0, 0, 1.0, 1.5, 2.0],
        [8000, 8000, 8000, 8000, 4000, 100, 100, 2000, 3000],
        [1, 20, 300, 1, 50, 2, 1, 200, 10],
    )
    res = replay_schedule(reqs, Schedule.constant(1, 1), cfg)
    t = res.requests
    hand = 0
    for i in range(len(t)):  # the rule spelled out, one request at a time
        ttft_ok = t.ttft_ms[i] <= 300.0
        itl_ok = t.osl[i] <= 1 or t.itl_ms[i] <= 7.0
        hand += int(bool(t.completed[i] and ttft_ok and itl_ok))
    assert 0 < hand < len(t), "the trace must have both hits and misses"
    assert res.latency.met == hand and res.latency.attainment == pytest.approx(hand / len(t))
    assert res.summary["goodput_completed_requests"] == hand  # Dynamo's own count agrees
    assert np.isclose(res.gpu_hours.billed, res.summary["gpu_hours"], rtol=1e-9)
