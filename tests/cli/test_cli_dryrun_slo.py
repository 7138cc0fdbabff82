"""The dry run aimed at an SLO through the CLI process: the closed loop's outputs, the flag,
and the fixed-margin path kept as it was."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses


def test_closed_loop_reports_target_measured_attainment_and_burn(cli, tmp_path: Path):
    out = tmp_path / "o"
    proc = cli(
        "dry-run", "--attainment", "99.9%", "--start", "+10m", "--end", "+30m", "--no-plot",
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    slo, judged = report["slo"], report["judged"]
    assert report["settings"]["slo"] == {"ttft_ms": 200.0, "itl_ms": 25.0, "attainment": 0.999}
    assert slo["target"] == 0.999 and slo["windows"] == 20
    # the controller's own count of what completed inside the run agrees with the judge's
    assert slo["requests"] <= judged["requests"]
    assert abs(slo["attainment"] - judged["attainment"]) < 0.002
    assert slo["burn_rate"] == pytest.approx((1 - slo["attainment"]) / 0.001, rel=1e-6)
    with (out / "slo.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20
    assert sum(int(r["finished"]) for r in rows) == slo["requests"]
    assert "SLO                99.90% target" in proc.stdout
    assert "slo.csv" in proc.stdout


def test_attainment_off_is_the_fixed_margin_open_loop(cli, tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    flags = ("--start", "+10m", "--end", "+30m", "--no-plot", "--judge", "none")
    assert cli("dry-run", "--attainment", "off", *flags, "--out", str(a)).returncode == 0
    assert cli("dry-run", "--attainment", "off", "--judge", "des", "--start", "+10m", "--end",
               "+30m", "--no-plot", "--out", str(b)).returncode == 0  # fmt: skip
    assert (a / "decisions.csv").read_bytes() == (b / "decisions.csv").read_bytes()
    report = json.loads((b / "report.json").read_text())
    assert "slo" not in report and not (b / "slo.csv").exists()
    assert report["settings"]["slo"]["attainment"] is None
