"""The fleet dry run over real traces: a fleet of one plans exactly as the single-deployment
planner; under a squeeze the high class keeps its SLO while the low class gives way (with the
reason recorded); the output files."""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from support.loops import open_loop
from support.paths import BUNDLED_PROFILE, BUNDLED_TRACE

from sla_planner.config.resolve import load_fleet
from sla_planner.model.config import PlannerConfig
from sla_planner.model.planner import Planner
from sla_planner.offline import session
from sla_planner.offline.outputs import FLEET_COLUMNS, verdicts, write_fleet_outputs
from sla_planner.offline.report import DECISION_COLUMNS
from sla_planner.offline.sources import build_sources
from sla_planner.sources.trace_files import load_trace
from sla_planner.sources.trace_source import TraceMetricsSource

START = 1700158546.68059  # the conv trace's first request


def deployment(name, priority, rate_scale=1.0, **extra):
    return {
        "name": name,
        "priority": priority,
        "slo": {"ttft_ms": 200, "itl_ms": 25, "attainment": 0.99},
        "demand": {"trace": {"path": str(BUNDLED_TRACE), "rate_scale": rate_scale}},
        "variants": [{"name": "h200", "profile": BUNDLED_PROFILE}],
        **extra,
    }


def fleet_file(tmp_path, deployments, h200, minutes):
    cfg = {
        "cluster": {"gpus": {"H200": {"count": h200, "price_per_gpu_hour": 3.5}}},
        "priority_classes": ["high", "low"],
        "deployments": deployments,
        "replay": {"start": START, "end": START + 60 * minutes},
    }
    p = tmp_path / "fleet.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return load_fleet(p)


def replay(fleet, judge="simulator"):
    """The fleet dry run (open loop unless the judge is the discrete-event replay)."""
    fs = build_sources(fleet)
    replayed = session.replay(fleet, fs.sources, fs.start, fs.end, warmup=fs.warmup, judge=judge)
    return fs, replayed


def test_a_fleet_of_one_with_room_plans_as_the_single_planner(tmp_path):
    loaded = fleet_file(tmp_path, [deployment("chat", "high", rate_scale=3.0)], 64, 40)
    _, replayed = replay(loaded)
    fleet = [(a.by_name("chat").prefill.replicas, a.by_name("chat").decode.replicas)
             for a in replayed.run.ticks]  # fmt: skip
    source = TraceMetricsSource(load_trace(BUNDLED_TRACE), rate_scale=3.0)
    curves = loaded.deployments[0].variants[0].prefill.curves
    single = open_loop(source, Planner.of_one(PlannerConfig(), curves), START, START + 2400)
    assert fleet == [(d.prefill.replicas, d.decode.replicas) for d in single.decisions]
    assert max(p + d for p, d in fleet) > 2  # it did scale


def test_under_a_squeeze_the_high_class_keeps_its_slo_and_the_low_class_gives_way(tmp_path):
    # lo runs alone for 10 minutes (its wants, 3 GPUs, fit); then hi's traffic starts and
    # the 5 GPUs no longer fit both (each wants 3; minimums 1 + 1 each).
    hi = deployment("hi", "high", 3.0)
    hi["demand"]["trace"]["time_offset_s"] = 600.0
    deps = [hi, deployment("lo", "low", 3.0)]
    loaded = fleet_file(tmp_path, deps, 5, 45)
    fs, replayed = replay(loaded)
    run = replayed.run
    judged = verdicts(replayed, loaded, fs.sources, "simulator")
    hi, lo = judged["hi"].result, judged["lo"].result
    assert hi.attainment >= 0.99
    assert lo.attainment < hi.attainment
    for a in run.ticks:
        assert a.used()["H200"] <= 5
        got = a.by_name("lo")
        assert got.prefill.replicas >= 1 and got.decode.replicas >= 1  # minimums kept
    reasons = {r.value for a in run.ticks for p in (a.by_name("lo").prefill, a.by_name("lo").decode) for r in p.reasons}  # fmt: skip
    assert {"preempted", "priority_limited"} & reasons
    assert any(p.victim == "lo" and p.beneficiaries == ("hi",) for a in run.ticks for p in a.preemptions)  # fmt: skip
    assert not any(p.victim == "hi" for a in run.ticks for p in a.preemptions)


def test_outputs_report_plot_and_per_deployment_decisions(tmp_path):
    deps = [deployment("hi", "high", 2.0), deployment("lo", "low", 1.0)]
    loaded = fleet_file(tmp_path, deps, 5, 20)
    fs, replayed = replay(loaded)
    run = replayed.run
    judged = verdicts(replayed, loaded, fs.sources, "simulator")
    out = tmp_path / "out"
    out.mkdir()
    res = write_fleet_outputs(out, run, loaded, judged, {"x": 1}, "t")
    report = json.loads((out / "report.json").read_text())
    assert set(report["deployments"]) == {"hi", "lo"}
    f = report["fleet"]
    assert f["budget"] == {"H200": 5} and f["budget_respected"] is True
    assert f["peak_gpus_by_type"]["H200"] <= 5
    for key in ("gpu_hours", "cost", "attainment", "slo_weighted_attainment", "requests"):
        assert f[key] is not None
    d = report["deployments"]["hi"]
    for key in ("gpu_hours", "cost", "attainment", "variant_main", "priority_preemptions",
                "cold_start", "slo_met"):  # fmt: skip
        assert key in d
    assert d["cost"] == pytest.approx(d["gpu_hours"] * 3.5)
    assert f["cost"] == pytest.approx(sum(r["cost"] for r in report["deployments"].values()))
    assert (out / "plot.png").stat().st_size > 10_000
    with (out / "decisions" / "lo.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert (
        tuple(rows[0]) == FLEET_COLUMNS
        and FLEET_COLUMNS[: len(DECISION_COLUMNS)] == DECISION_COLUMNS
    )
    assert len(rows) == 1 + run.intervals
    assert {r[FLEET_COLUMNS.index("variant")] for r in rows[1:]} == {"h200"}
    assert {r[FLEET_COLUMNS.index("gpu_type")] for r in rows[1:]} == {"H200"}
    assert set(res.decisions) == {"hi", "lo"}
    assert not list(out.glob(".tmp-*")) and not list((out / "decisions").glob(".tmp-*"))


def test_report_is_judged_by_the_discrete_event_replay_with_the_model_estimate_labelled(
    tmp_path,
):
    deps = [deployment("hi", "high", 2.0), deployment("lo", "low", 1.0)]
    loaded = fleet_file(tmp_path, deps, 5, 10)
    fs, replayed = replay(loaded, judge="des")  # the closed loop: the judge as the plant
    judged = verdicts(replayed, loaded, fs.sources, "des")
    out = tmp_path / "out"
    out.mkdir()
    write_fleet_outputs(out, replayed.run, loaded, judged, {}, "t", plot=False)
    report = json.loads((out / "report.json").read_text())
    assert report["attainment_method"].startswith("discrete-event replay")
    assert "model estimate" in report["model_estimate_method"]
    for name in ("hi", "lo"):
        d = report["deployments"][name]
        assert d["attainment"] == judged[name].result.attainment  # the DES's
        assert d["model_estimate"]["attainment"] == judged[name].estimate.attainment
        assert d["requests"] == pytest.approx(judged[name].result.requests)
    f = report["fleet"]
    assert set(f["model_estimate"]) == {"attainment", "slo_weighted_attainment"}


def test_a_deployment_below_its_slo_is_told_why_in_the_report(tmp_path):
    """The demo fleet (judged in the closed loop): `batch` misses its 95% and the report says
    why, with the evidence: requests that waited for its wake from zero, and intervals it was
    held below its wants by the higher classes on the shared H200s (so its SLO does not fit
    the budget as shared). Deployments meeting their SLO have no shortfall."""
    from sla_planner.config.resolve import demo_fleet_path

    fleet = load_fleet(demo_fleet_path())
    fs, replayed = replay(fleet, judge="des")
    judged = verdicts(replayed, fleet, fs.sources, "des")
    out = tmp_path / "out"
    out.mkdir()
    write_fleet_outputs(out, replayed.run, fleet, judged, {}, "t", plot=False)
    report = json.loads((out / "report.json").read_text())
    per = report["deployments"]
    for name, d in per.items():
        assert (d["slo_shortfall"] is None) == bool(d["slo_met"]), name
    short = per["batch"]["slo_shortfall"]
    causes = {c["cause"]: c for c in short["causes"]}
    assert set(causes) >= {"cold_start", "held_by_priority"}
    assert causes["cold_start"]["requests"] == per["batch"]["cold_start"]["delayed_requests"]
    run = replayed.run.deployments["batch"]
    held = [
        k for k, d in enumerate(run.decisions)
        if {"priority_limited", "preempted"} & {r.value for p in (d.prefill, d.decode) for r in p.reasons}
    ]  # fmt: skip
    assert causes["held_by_priority"]["intervals"] == len(held) > 0
    assert causes["held_by_priority"]["requests"] == sum(run.actual[k].requests for k in held)
    assert short["within_budget"] is False
    assert short["allowed_misses"] == pytest.approx(0.05 * per["batch"]["requests"])
    assert "batch" in report["fleet"]["slo_shortfalls"]
    assert "cold_start" in short["text"] or "wake" in short["text"]
