"""A target below the profile's idle latency is said up front (issue 10, defect 7): below the
profile's floor (no request could meet it) the dry run refuses with one line; below the idle
latency of the replayed demand's mean request it runs, and the summary and report.json warn."""

from __future__ import annotations

import json

from support.bounded import finishes

from sla_planner.cli import main as cli


def run(capsys, tmp_path, *flags: str):
    out = tmp_path / "o"
    code = finishes(lambda: cli.main(["dry-run", "--no-plot", "--out", str(out), *flags]))
    captured = capsys.readouterr()
    return code, captured, out


def test_ttft_below_the_profile_floor_is_refused(capsys, tmp_path):
    code, captured, out = run(capsys, tmp_path, "--ttft-ms", "10")
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1, captured.err
    assert lines[0].startswith("sla-planner: error: --ttft-ms 10")
    assert "19.53 ms" in lines[0] and "at least 19.53" in lines[0]
    assert not (out / "decisions.csv").exists()


def test_itl_below_the_profile_floor_is_refused(capsys, tmp_path):
    code, captured, _ = run(capsys, tmp_path, "--itl-ms", "3")
    assert code == 2 and "--itl-ms 3" in captured.err and "4.38 ms" in captured.err


def test_ttft_below_the_mean_prompts_idle_latency_warns(capsys, tmp_path):
    code, captured, out = run(capsys, tmp_path, "--ttft-ms", "30")
    assert code == 0, captured.err
    summary = captured.out.splitlines()
    assert summary[1].startswith("  warning ") and "TTFT target 30 ms" in summary[1]
    report = json.loads((out / "report.json").read_text())
    assert len(report["warnings"]) == 1 and "TTFT target 30 ms" in report["warnings"][0]


def test_the_demo_has_no_warnings(capsys, tmp_path):
    code, captured, out = run(capsys, tmp_path)
    assert code == 0 and not any(ln.startswith("  warning ") for ln in captured.out.splitlines())
    assert json.loads((out / "report.json").read_text())["warnings"] == []
