"""The judge 2 benchmark's verdicts and results files (benchmarks/judge2_report.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from judge2_report import END_MARKER, MARKER, band, hpa_verdict, saving, write_outputs  # noqa: E402


def _row(policy: str, att: float, gpu_h: float, target: float | None = None) -> dict:
    return {
        "scenario": "s",
        "policy": policy,
        "target": target,
        "attainment": att,
        "gpu_hours_billed": gpu_h,
        "j1_attainment": att,
        "j1_gpu_hours": gpu_h,
        "ttft_p99": 150.0,
        "itl_p99": 9.0,
        "scale_ops": 3,
        "decide_cpu_ms_median": 5.0,
        "decide_cpu_ms_p99": 9.0,
        "decide_count": 10,
    }


@pytest.mark.parametrize(
    ("target", "att", "want"),
    [
        (0.99, 0.99, "in band"),
        (0.99, 0.994, "in band"),
        (0.99, 0.9945, "ABOVE by 0.05 pp"),
        (0.99, 0.9875, "BELOW by 0.25 pp"),
        (0.999, 1.0, "in band"),
    ],
)
def test_band_is_target_to_target_plus_0_4_pp(target, att, want) -> None:
    assert band(target, att) == want


HPA = [_row("hpa (target 60%)", 0.995, 10.0), _row("hpa (target 80%)", 0.985, 8.0)]


@pytest.mark.parametrize(
    ("gpu_h", "want"),
    [
        (8.2, "met: 0.911x HPA"),  # HPA needs 9.0 GPU-h for 99.0% (between its settings)
        (8.5, "not met: 0.944x HPA"),  # cheaper, but not 8% cheaper
    ],
)
def test_saving_needs_8_percent_below_hpas_frontier(gpu_h, want) -> None:
    ours = _row("ours@0.99", 0.99, gpu_h, 0.99)
    assert saving(hpa_verdict(ours, [ours, *HPA], 0)) == want


def test_saving_when_hpa_dominates_or_never_reaches() -> None:
    worse = _row("ours@0.99", 0.98, 9.0, 0.99)
    assert saving(hpa_verdict(worse, [worse, *HPA], 0)).startswith("not met (dominated by")
    best = _row("ours@0.999", 0.999, 20.0, 0.999)
    assert saving(hpa_verdict(best, [best, *HPA], 0)) == "n/a: HPA never reaches it"


def _meta(name: str) -> dict:
    sc = {"trace": "t.csv", "rate_scale": 1.0, "ttft_ms": 200, "itl_ms": 25, "budget_gpus": 8}
    return {"scenarios": {name: {**sc, "initial": [1, 1]}}, "commands": [f"run {name}"]}


def test_results_keep_hand_written_text_and_merge_scenarios(tmp_path) -> None:
    a = [_row("ours@0.99", 0.991, 8.0, 0.99), *HPA]
    write_outputs(a, _meta("s"), tmp_path)
    md = tmp_path / "judge2_results.md"
    text = md.read_text()
    md.write_text("# Title\n\nhand head\n" + MARKER + text.split(MARKER)[1] + "hand tail\n")
    b = [{**r, "scenario": "t"} for r in a]
    write_outputs(b, _meta("t"), tmp_path, merge=True)
    text = md.read_text()
    assert text.startswith("# Title\n\nhand head\n" + MARKER)
    assert text.rstrip().endswith(END_MARKER + "hand tail") and text.count(MARKER) == 1
    assert "| s | ours@0.99 | 99.10% | in band |" in text and "| t | ours@0.99 |" in text
    data = json.loads((tmp_path / "judge2_results.json").read_text())
    assert sorted({r["scenario"] for r in data["rows"]}) == ["s", "t"]
    assert data["meta"]["commands"] == ["run s", "run t"]


def test_rerunning_one_policy_replaces_only_its_row(tmp_path) -> None:
    write_outputs([_row("ours@0.99", 0.991, 8.0, 0.99), *HPA], _meta("s"), tmp_path)
    write_outputs([_row("ours@0.99", 0.992, 8.1, 0.99)], _meta("s"), tmp_path, merge=True)
    rows = json.loads((tmp_path / "judge2_results.json").read_text())["rows"]
    assert sorted((r["policy"], r["attainment"]) for r in rows) == [
        ("hpa (target 60%)", 0.995),
        ("hpa (target 80%)", 0.985),
        ("ours@0.99", 0.992),
    ]


def test_summary_leaves_out_variants_of_ours() -> None:
    from judge2_report import summary

    rows = [_row("ours@0.99", 0.991, 8.0, 0.99), _row("ours@0.99, 5 s feed", 0.97, 7.0, 0.99)]
    text = "\n".join(summary([*rows, *HPA], ["s"]))
    assert "| s | ours@0.99 |" in text and "5 s feed" not in text
