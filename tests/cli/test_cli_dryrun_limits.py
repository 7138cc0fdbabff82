"""Dry runs whose size comes from the input stay bounded (issue 10, defect 7): a trace spanning
decades, a sub-window of a millisecond, a startup longer than the run. In-process (bounded by
support.bounded.finishes) so they stay in the fast loop; the subprocess twins live in
test_cli_malformed_inputs.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.bounded import finishes

from sla_planner.cli import main as cli
from sla_planner.cli.dryrun import MAX_DRY_RUN_INTERVALS


def run(capsys, *args: str) -> tuple[int, list[str], str]:
    code = finishes(lambda: cli.main(["dry-run", "--no-plot", "--progress", *args]))
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.strip() and "it/s" not in ln]
    return code, lines, captured.out


def decades_apart(tmp_path: Path) -> Path:
    p = tmp_path / "decades.csv"
    p.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "1995-01-01 00:00:00.0,100,10\n"
        "1995-01-01 00:00:30.0,100,10\n"
        "2025-01-01 00:00:00.0,100,10\n"
    )
    return p


def test_timestamps_decades_apart_is_one_error_line(tmp_path, capsys):
    code, err, _ = run(
        capsys, "--trace", str(decades_apart(tmp_path)), "--out", str(tmp_path / "o")
    )
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("sla-planner: error: ")
    assert f"at most {MAX_DRY_RUN_INTERVALS:,}" in err[0] and "--start/--end" in err[0]


def test_a_range_inside_such_a_trace_still_runs(tmp_path, capsys):
    trace = decades_apart(tmp_path)
    code, err, out = run(
        capsys, "--trace", str(trace), "--end", "+10m", "--out", str(tmp_path / "o")
    )
    assert code == 0, err
    assert "10 intervals" in out


def test_a_millisecond_peak_window_is_one_error_line(tmp_path, capsys):
    code, err, _ = run(capsys, "--peak-window-s", "0.001", "--out", str(tmp_path / "o"))
    assert code == 2 and len(err) == 1, err
    assert "--peak-window-s" in err[0] and "sub-windows" in err[0]


def test_ready_replicas_is_bounded_for_any_startup():
    from sla_planner.evaluation.simulator import ready_replicas

    decided = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    out = finishes(lambda: ready_replicas(decided, 10**12))
    assert out.tolist() == [3, 1, 1, 1, 1, 1, 1, 1]
    assert ready_replicas(decided, 2).tolist() == [3, 1, 1, 1, 1, 1, 2, 2]


def test_a_simulation_longer_than_its_cap_is_skipped_not_allocated(h200):
    from support.paths import BUNDLED_TRACE

    from sla_planner.evaluation.simulator import MAX_SIM_BINS, simulate_dry_run
    from sla_planner.model.config import PlannerConfig
    from sla_planner.model.planner import Planner
    from sla_planner.offline.dryrun import DeploymentRun
    from sla_planner.sources.trace_files import load_trace
    from sla_planner.sources.trace_source import TraceMetricsSource

    cfg = PlannerConfig(interval_s=86400.0)
    decision = Planner.of_one(cfg, h200).decide(0.0).only
    days = MAX_SIM_BINS // 8640 + 1
    result = DeploymentRun("default", [decision] * days, [], 0)
    source = TraceMetricsSource(load_trace(BUNDLED_TRACE))
    assert finishes(lambda: simulate_dry_run(result, source, h200, cfg)) is None


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--interval-s", "1e8"], "--interval-s"),
        (["--interval-s", "1e-6"], "--interval-s"),
        (["--startup-s", "1e12"], "--startup-s"),
        (["--min-prefill", str(10**9)], "--min-prefill"),
        (["--rate-scale", "1e300"], "--rate-scale"),
        (["--interval-s", "10", "--startup-s", "86400"], "startup_s"),
    ],
)
def test_absurd_flags_are_one_usage_line(tmp_path, capsys, flags, needle):
    code, err, _ = run(capsys, *flags, "--out", str(tmp_path / "o"))
    assert code == 2 and len(err) == 1 and needle in err[0], err


def test_a_clipped_outlier_is_reported_in_the_summary_and_report(tmp_path, capsys):
    """Defect 4: one 1e18-output-token request made the dry run recommend 1,000,000 decode
    replicas. Now the demand guard clips it, and the user is told."""
    import csv
    import json

    rows = "".join(
        f"2023-11-16 18:{m:02d}:{s:02d}.5,{300 + m},{40 + s}\n"
        for m in range(10)
        for s in range(0, 60, 5)
    )
    p = tmp_path / "outlier.csv"
    p.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        + rows
        + "2023-11-16 18:05:30.1,300,1000000000000000000\n"
    )
    out = tmp_path / "o"
    code, err, stdout = run(capsys, "--trace", str(p), "--out", str(out))
    assert code == 0, err
    with (out / "decisions.csv").open() as f:
        assert max(int(r["decode_replicas"]) for r in csv.DictReader(f)) <= 2
    warnings = json.loads((out / "report.json").read_text())["warnings"]
    assert any("demand guard" in w and "OSL" in w for w in warnings), warnings
    assert "demand guard" in stdout
