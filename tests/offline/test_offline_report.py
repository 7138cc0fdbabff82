"""Attainment, summary figures and the output files, on hand-built decisions."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from sla_planner.model.config import SLA
from sla_planner.model.types import Decision, DemandForecast, DemandSample, Pool, PoolDecision
from sla_planner.offline.dryrun import DeploymentRun
from sla_planner.offline.report import (
    DECISION_COLUMNS,
    build_report,
    evaluate_attainment,
    summarize,
    write_decisions_csv,
    write_report_json,
)
from sla_planner.profiles.interpolation import ProfileCurves
from sla_planner.profiles.registry import load_profile


def decision(t: float, prefill: int, decode: int, tp: int = 1, ttft=50.0, itl=10.0) -> Decision:
    return Decision(
        timestamp=t,
        prefill=PoolDecision(Pool.PREFILL, prefill, prefill * tp, prefill, ttft, 200.0),
        decode=PoolDecision(Pool.DECODE, decode, decode * tp, decode, itl, 25.0),
        forecast=DemandForecast(requests=100.0, isl=1000.0, osl=200.0, requests_upper=120.0),
        budget_gpus=None,
    )


def sample(t: float, requests: float, isl: float = 1000.0, osl: float = 200.0) -> DemandSample:
    return DemandSample(start=t, duration_s=60.0, requests=requests, isl_mean=isl, osl_mean=osl)


@pytest.fixture(scope="module")
def curves() -> ProfileCurves:
    return ProfileCurves(load_profile("dynamo-h200-llama3.1-8b-fp8-tp1"))


def test_attainment_is_request_weighted_over_intervals_meeting_both_targets():
    # Injected latency functions: TTFT misses when replicas < 2, ITL misses when replicas < 3.
    def ttft(curves, rate, isl, n):
        return 100.0 if n >= 2 else 500.0

    def itl(curves, rate, isl, osl, n):
        return 10.0 if n >= 3 else math.inf

    ds = [decision(0, 2, 3), decision(60, 1, 3), decision(120, 2, 1), decision(180, 1, 1)]
    acts = [sample(0, 100), sample(60, 300), sample(120, 50), sample(180, 0, math.nan, math.nan)]
    a = evaluate_attainment(ds, acts, None, SLA(ttft_ms=200, itl_ms=25), ttft, itl)
    assert a.overall == pytest.approx(100 / 450)
    assert a.ttft == pytest.approx(150 / 450)
    assert a.itl == pytest.approx(400 / 450)
    assert a.ttft_ms[:3] == (100.0, 500.0, 100.0) and math.isnan(a.ttft_ms[3])
    assert math.isinf(a.itl_ms[2])


def test_attainment_with_the_real_latency_model(curves):
    sla = SLA(ttft_ms=200, itl_ms=25)
    # ~5.5 req/s like the Azure conv trace: one replica per pool suffices...
    light = evaluate_attainment([decision(0, 1, 1)], [sample(0, 330, 1155, 211)], curves, sla)
    assert light.overall == 1.0
    # ...but 100x the traffic on one replica overloads prefill (inf TTFT) and decode.
    heavy = evaluate_attainment([decision(0, 1, 1)], [sample(0, 33000, 1155, 211)], curves, sla)
    assert heavy.overall == 0.0 and math.isinf(heavy.ttft_ms[0])
    none = evaluate_attainment([decision(0, 0, 0)], [sample(0, 10)], curves, sla)
    assert none.overall == 0.0


def test_summary_counts_gpu_hours_peak_and_scaling_actions():
    ds = [
        decision(0, 1, 1, tp=2),
        decision(60, 2, 1, tp=2),
        decision(120, 2, 3, tp=2),
        decision(180, 1, 3, tp=2),
    ]
    acts = [sample(t, 10) for t in (0, 60, 120, 180)]
    att = evaluate_attainment(ds, acts, None, SLA(), lambda *a: 1.0, lambda *a: 1.0)
    s = summarize(DeploymentRun("default", ds, acts), att, 60.0)
    # GPUs per interval: 4, 6, 10, 8 -> 28 GPU-minutes.
    assert s.gpu_hours == pytest.approx(28 / 60)
    assert s.peak_gpus == 10
    assert (s.prefill_scaling_actions, s.decode_scaling_actions, s.scaling_actions) == (2, 1, 3)
    assert s.total_requests == 40 and s.end == 240


def test_files_have_exact_columns_time_order_and_valid_json(tmp_path: Path):
    ds = [decision(120, 1, 2, ttft=math.inf), decision(0, 3, 4), decision(60, 2, 2)]
    write_decisions_csv(tmp_path / "d.csv", ds)
    with (tmp_path / "d.csv").open() as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == DECISION_COLUMNS
    assert [float(r[0]) for r in rows[1:]] == [0, 60, 120]
    assert rows[3][8] == "inf" and float(rows[3][8]) == math.inf
    acts = [sample(0, 1), sample(60, 1), sample(120, 1)]
    ordered = sorted(ds, key=lambda d: d.timestamp)
    att = evaluate_attainment(ordered, acts, None, SLA(), lambda *a: math.inf, lambda *a: 1.0)
    report = build_report(
        summarize(DeploymentRun("default", ordered, acts), att, 60.0), att, {"x": math.nan}
    )
    write_report_json(tmp_path / "r.json", report)
    text = (tmp_path / "r.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    data = json.loads(text)
    assert data["expected_sla_attainment"] == 0.0 and data["settings"]["x"] is None
    assert list(data)[:4] == [
        "gpu_hours",
        "expected_sla_attainment",
        "peak_gpus",
        "scaling_actions",
    ]


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="2 decisions for 1 intervals"):
        evaluate_attainment([decision(0, 1, 1)] * 2, [sample(0, 1)], None, SLA(), max, max)
