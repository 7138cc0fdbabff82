"""`sla-planner fleet dry-run` as a user runs it: the bundled demo from a clean directory with no
flags, and a bad config ending in one error line with exit code 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses


def test_demo_fleet_with_no_flags_from_a_clean_directory(cli, tmp_path: Path):
    proc = cli("fleet", "dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "sla-planner-fleet-dry-run"
    report = json.loads((out / "report.json").read_text())
    fleet, deps = report["fleet"], report["deployments"]
    assert len(deps) >= 3
    # Two GPU types, a budget below the sum of the deployments' peaks, held at every tick.
    assert len(fleet["budget"]) == 2 and fleet["budget_respected"] is True
    assert sum(d["peak_gpus"] for d in deps.values()) > sum(fleet["budget"].values())
    assert len({str(d["priority"]) for d in deps.values()}) >= 2
    for name, d in deps.items():
        assert d["gpu_hours"] > 0 and d["cost"] > 0
        assert 0.0 <= d["attainment"] <= 1.0
        with (out / "decisions" / f"{name}.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert rows and {"variant", "gpu_type", "prefill_replicas"} <= set(rows[0])
    # The critical class meets its SLO; the demo exercises scale to zero and cold starts.
    critical = [d for d in deps.values() if d["rank"] == 0]
    assert critical and all(d["slo_met"] for d in critical)
    assert any(d["cold_start"] and d["cold_start"]["wakes"] >= 1 for d in deps.values())
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "fleet dry run: 3 deployments" in proc.stdout
    # Judged by the discrete-event replay; the simulator's figures are a labelled estimate.
    assert report["attainment_method"].startswith("discrete-event replay")
    assert "model estimate" in report["model_estimate_method"]
    assert all(d["model_estimate"] is not None for d in deps.values())
    assert "attainment by          discrete-event replay" in proc.stdout
    assert proc.stderr.strip() == ""


@pytest.mark.parametrize(
    "text, message",
    [
        ("cluster: {gpus: {H200: {count: 2, price_per_gpu_hour: 1}}}\ndeployments: []\n",
         "deployments: List should have at least 1 item"),
        ("cluster: {gpus: {}}\ndeployment: []\n", "deployment: unknown key"),
        ("a: 1\na: 2\n", "duplicate key 'a' at line 2"),
    ],
)  # fmt: skip
def test_bad_config_is_one_line_and_exit_2(cli, tmp_path: Path, text, message):
    cfg = tmp_path / "fleet.yaml"
    cfg.write_text(text)
    proc = cli("fleet", "dry-run", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sla-planner: error:")
    assert message in lines[0]


def test_fleet_without_a_command_is_a_usage_error(cli, tmp_path: Path):
    proc = cli("fleet", cwd=tmp_path)
    assert proc.returncode == 2 and "needs a command: dry-run" in proc.stderr
