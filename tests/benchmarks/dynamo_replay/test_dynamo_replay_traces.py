"""Trace conversion: requests -> Mooncake JSONL -> the project's loader, and through the replay."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.dynamo import requires_dynamo
from support.paths import real_trace

from sla_planner.evaluation.des import Requests, Schedule
from sla_planner.sources.trace_files import RequestTrace, load_trace
from sla_planner.sources.trace_source import TraceMetricsSource
from sla_planner_bench.dynamo_replay.traces import blocks_needed, source_window, write_mooncake


def _reqs() -> Requests:
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(100.0, 160.0, 40))
    return Requests.of(t, rng.integers(1, 5000, 40), rng.integers(1, 300, 40))


def test_round_trip_through_the_project_loader(tmp_path) -> None:
    r = _reqs()
    path = write_mooncake(r, tmp_path / "t.jsonl", origin_s=100.0, block_size=512)
    back = load_trace(path)
    assert isinstance(back, RequestTrace) and back.format == "mooncake"
    assert np.allclose(back.arrival_s, r.t - 100.0, atol=5e-4)  # whole milliseconds
    assert np.array_equal(back.isl, r.isl) and np.array_equal(back.osl, r.osl)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert set(lines[0]) == {"timestamp", "input_length", "output_length", "hash_ids"}
    ids = [h for rec in lines for h in rec["hash_ids"]]
    assert len(ids) == len(set(ids)), "no two requests may share a prefix block"
    assert [len(rec["hash_ids"]) for rec in lines] == [-(-int(n) // 512) for n in r.isl]
    assert blocks_needed(512) == 1 and blocks_needed(513) == 2 and blocks_needed(1) == 1


def test_default_origin_is_the_first_arrival_and_earlier_requests_are_refused(tmp_path) -> None:
    r = _reqs()
    first = json.loads(write_mooncake(r, tmp_path / "a.jsonl").read_text().splitlines()[0])
    assert first["timestamp"] == 0
    with pytest.raises(ValueError, match="before origin_s"):
        write_mooncake(r, tmp_path / "b.jsonl", origin_s=float(r.t[1]))


def test_source_window_is_the_discrete_event_judges_request_stream() -> None:
    trace = load_trace(real_trace("AzureLLMInferenceTrace_conv.csv"))
    src = TraceMetricsSource(trace)
    start = trace.start + 60.0
    got = source_window(src, start, start + 120.0)
    a, b = np.searchsorted(trace.arrival_s, [start, start + 120.0])
    assert np.array_equal(got.t, trace.arrival_s[a:b])
    assert np.array_equal(got.isl, trace.isl[a:b].astype(np.int64))
    scaled = source_window(TraceMetricsSource(trace, rate_scale=4.0), start, start + 120.0)
    assert 3.0 * (b - a) < len(scaled) < 5.0 * (b - a)  # Poisson in 10 s bins, 4x the counts


@pytest.mark.slow
@requires_dynamo
def test_round_trip_through_the_replay(replay_cfg) -> None:
    from sla_planner_bench.dynamo_replay.replay import replay_schedule

    r = _reqs()
    res = replay_schedule(r, Schedule.constant(2, 2), replay_cfg)
    t = res.requests
    order = np.argsort(t.arrival_ms, kind="stable")
    assert len(t) == len(r) and t.completed.all()
    assert res.origin_s == r.t[0]  # the replay's clock starts at the first arrival
    assert np.allclose(t.arrival_ms[order], r.t * 1000.0, atol=0.51)
    assert np.array_equal(t.isl[order], r.isl) and np.array_equal(t.osl[order], r.osl)
    assert res.summary["prefix_cache_reused_ratio"] == 0.0  # unique hash ids: no prefix hits
