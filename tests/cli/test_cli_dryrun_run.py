"""End-to-end dry runs through the CLI process: the demo default and each trace format."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from sla_planner.offline.report import DECISION_COLUMNS
from sla_planner.sources.trace_files import load_trace

pytestmark = pytest.mark.slow  # subprocesses

COUNTS = "azure2024_conversation_10s_counts.csv"
CONV = "AzureLLMInferenceTrace_conv.csv"
MOONCAKE = "mooncake_conversation_trace.jsonl"


def read_decisions(out: Path) -> list[dict[str, float]]:
    with (out / "decisions.csv").open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == DECISION_COLUMNS
        return [{k: float(v) for k, v in row.items()} for row in reader]


def check_outputs(out: Path, interval_s: float, tp: int = 1) -> tuple[list[dict], dict]:
    rows = read_decisions(out)
    report = json.loads((out / "report.json").read_text())
    assert rows, "no decisions written"
    ts = [r["timestamp"] for r in rows]
    assert ts == sorted(ts) and np.allclose(np.diff(ts), interval_s)
    for r in rows:
        assert r["prefill_gpus"] == r["prefill_replicas"] * tp
        assert r["decode_gpus"] == r["decode_replicas"] * tp
        assert r["prefill_replicas"] >= 1 and r["decode_replicas"] >= 1
    gpus = [r["prefill_gpus"] + r["decode_gpus"] for r in rows]
    assert report["intervals"] == len(rows)
    assert report["gpu_hours"] == pytest.approx(sum(gpus) * interval_s / 3600)
    assert report["peak_gpus"] == max(gpus)
    changes = sum(
        (a["prefill_replicas"] != b["prefill_replicas"])
        + (a["decode_replicas"] != b["decode_replicas"])
        for a, b in zip(rows, rows[1:], strict=False)
    )
    assert report["scaling_actions"] == changes
    assert 0.0 <= report["expected_sla_attainment"] <= 1.0
    return rows, report


def test_default_run_with_no_arguments(cli, tmp_path: Path):
    proc = cli("dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "sla-planner-dry-run"
    for name in ("decisions.csv", "report.json", "plot.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".tmp-*"))
    rows, report = check_outputs(out, 60.0)
    s = report["settings"]
    assert s["profile"] == "dynamo-h200-llama3.1-8b-fp8-tp1"
    assert s["trace"].endswith("planner/data/AzureLLMInferenceTrace_conv.csv")
    assert s["sla"] == {"ttft_ms": 200.0, "itl_ms": 25.0}
    assert (s["interval_s"], s["startup_s"], s["budget_gpus"]) == (60.0, 120.0, None)
    assert s["forecaster"] == "default"
    assert len(rows) == 58  # whole minutes of the ~58.4 min trace
    # The demo replays the trace at 4x (~22 req/s) so the planner is seen at work: both pools
    # scale, and it prints no warning about its own bundled data (issue 17 item 5).
    assert s["rate_scale"] == 4.0
    for pool in ("prefill", "decode"):
        assert len({r[f"{pool}_replicas"] for r in rows}) > 1, f"{pool} never scales"
    assert "warning" not in proc.stdout + proc.stderr
    tr = load_trace(s["trace"])
    in_range = (tr.arrival_s >= rows[0]["timestamp"]) & (tr.arrival_s < rows[-1]["timestamp"] + 60)
    assert report["total_requests"] == pytest.approx(4 * in_range.sum(), rel=0.02)
    for word in ("GPU-hours", "SLA attainment", "peak GPUs", "scaling actions", "decisions.csv"):
        assert word in proc.stdout
    # The judged figure (every request replayed) is printed as report.json has it, and the
    # model's closed-loop estimate beside it.
    judged = report["judged"]
    assert 0.99 <= judged["attainment"] < 1.0
    assert judged["requests"] == report["total_requests"]
    assert f"judged             {100 * judged['attainment']:.2f}% of requests" in proc.stdout
    sim = report["simulated"]["attainment"]
    assert 0.99 <= sim < 1.0
    assert f"model estimate     {100 * sim:.2f}% of requests" in proc.stdout


def test_mooncake_with_budget_and_min_replicas(cli, tmp_path: Path, trace_slice):
    trace = trace_slice(MOONCAKE, 3000)  # ~15 minutes of real requests
    out = tmp_path / "o"
    proc = cli(
        "dry-run", "--trace", str(trace), "--profile", "dynamo-h200-llama3.1-8b-fp8-tp1",
        "--ttft-ms", "300", "--itl-ms", "30", "--interval-s", "30", "--startup-s", "60",
        "--max-gpus", "5", "--min-prefill", "2", "--forecaster", "last", "--no-plot",
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows, report = check_outputs(out, 30.0)
    assert not (out / "plot.png").exists()
    assert all(r["prefill_gpus"] + r["decode_gpus"] <= 5 for r in rows)
    assert all(r["prefill_replicas"] >= 2 for r in rows)
    s = report["settings"]
    assert (s["trace_format"], s["budget_gpus"], s["forecaster"]) == ("mooncake", 5, "last")
    assert s["sla"] == {"ttft_ms": 300.0, "itl_ms": 30.0}
    assert rows[0]["timestamp"] == 0.0  # Mooncake times are relative to the trace start


def test_counts_with_tokens_from_and_rate_scale(cli, tmp_path: Path, real):
    counts = real(COUNTS)
    out = tmp_path / "o"
    proc = cli(
        "dry-run", "--trace", str(counts), "--tokens-from", str(real(CONV)), "--rate-scale", "4",
        "--start", "+6h", "--end", "+7h", "--max-gpus", "64", "--forecaster", "ewma",
        "--out", str(out), "--no-plot",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows, report = check_outputs(out, 60.0)
    tr = load_trace(counts)
    assert rows[0]["timestamp"] == tr.start + 6 * 3600 and len(rows) == 60
    window = (tr.bin_start_s >= tr.start + 6 * 3600) & (tr.bin_start_s < tr.start + 7 * 3600)
    assert report["total_requests"] == pytest.approx(4 * tr.requests[window].sum())
    assert report["settings"]["warmup_intervals"] == 360  # the 6 h before --start
    assert report["settings"]["rate_scale"] == 4.0
    # Warmed up on 6 h of history, the first forecast is already near the real rate.
    first_actual = 4 * tr.requests[window][:6].sum()
    assert rows[0]["predicted_requests"] == pytest.approx(first_actual, rel=0.3)
    assert all(math.isfinite(r["predicted_isl"]) for r in rows)


def test_aggregate_csv_rebinned(cli, tmp_path: Path, real):
    # Build a 5-minute aggregate trace from the real per-request trace.
    tr = load_trace(real(CONV))
    t0 = math.floor(tr.start / 300) * 300
    lines = ["timestamp,requests,isl_mean,osl_mean"]
    for k in range(12):
        m = (tr.arrival_s >= t0 + 300 * k) & (tr.arrival_s < t0 + 300 * (k + 1))
        lines.append(f"{t0 + 300 * k},{m.sum()},{tr.isl[m].mean():.3f},{tr.osl[m].mean():.3f}")
    agg = tmp_path / "agg.csv"
    agg.write_text("\n".join(lines) + "\n")
    out = tmp_path / "o"
    proc = cli(
        "dry-run", "--trace", str(agg), "--interval-s", "120", "--out", str(out), "--no-plot"
    )
    assert proc.returncode == 0, proc.stderr
    rows, report = check_outputs(out, 120.0)
    assert len(rows) == 30 and report["settings"]["trace_format"] == "aggregate"
    assert report["total_requests"] == pytest.approx(
        ((tr.arrival_s >= t0) & (tr.arrival_s < t0 + 3600)).sum()
    )
