"""The fleet dry run's files: report.json, plot.png and decisions/<deployment>.csv, each written
under a temporary name and renamed, so a failed run leaves no half-written file."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sla_planner.evaluation.fleet_cold_start import cold_starts
from sla_planner.evaluation.fleet_judge import FleetJudge, served_schedule
from sla_planner.model.fleet.config import FleetConfig
from sla_planner.model.fleet.latency import expected_latency_ms
from sla_planner.model.fleet.planning import VariantEngines
from sla_planner.offline.fleet_dryrun import FleetRun
from sla_planner.offline.fleet_report import (
    Judged,
    class_attainment,
    deployment_report,
    fleet_totals,
)
from sla_planner.offline.report import DECISION_COLUMNS, _num, write_report_json

FLEET_COLUMNS = DECISION_COLUMNS + (
    "variant",
    "gpu_type",
    "prefill_gpu_type",
    "decode_gpu_type",
    "held_gpus",
    "cost_per_hour",
    "expected_attainment",
    "actual_requests",
    "reasons",
)


@dataclass(frozen=True)
class FleetOutputs:
    report_json: Path
    plot_png: Path | None
    decisions: dict[str, Path]
    report: dict[str, Any]


def judge_fleet(
    run: FleetRun,
    cfg: FleetConfig,
    variants: Mapping[str, list[VariantEngines]],
    sources: Mapping[str, Any],
    judge: FleetJudge,
    estimate: FleetJudge | None = None,
) -> dict[str, Judged]:
    """Each deployment's verdict by `judge`, and by `estimate` beside it (the closed-loop
    simulator when the judge is the discrete-event replay: a model estimate, labelled so)."""
    out: dict[str, Judged] = {}
    for d in cfg.deployments:
        sched = served_schedule(run.allocations, d.name, run.interval_s)
        engines = {v.name: v for v in variants[d.name]}
        res = judge.judge(sched, sources[d.name], engines, d.slo, cfg.startup_s)
        est = (
            estimate.judge(sched, sources[d.name], engines, d.slo, cfg.startup_s)
            if estimate is not None
            else None
        )
        demand = getattr(judge, "demand", None)
        dm = demand(sched, sources[d.name]) if demand is not None else None
        cold = cold_starts(sched, dm, cfg.startup_s) if dm is not None else None
        out[d.name] = Judged(res, cold, est)
    return out


def build_fleet_report(
    run: FleetRun, cfg: FleetConfig, judged: Mapping[str, Judged], settings: dict[str, Any]
) -> dict[str, Any]:
    per = {d.name: deployment_report(d, cfg, run, judged[d.name]) for d in cfg.deployments}
    methods = {j.result.method for j in judged.values() if j.result is not None}
    estimates = {j.estimate.method for j in judged.values() if j.estimate is not None}
    return {
        "fleet": fleet_totals(cfg, run, per),
        "priority_classes": class_attainment(cfg, per),
        "deployments": per,
        "attainment_method": "; ".join(sorted(methods)) or "no trace source to replay",
        "model_estimate_method": "; ".join(sorted(estimates)) or None,
        "settings": settings,
    }


def write_fleet_outputs(
    out: Path,
    run: FleetRun,
    cfg: FleetConfig,
    variants: Mapping[str, list[VariantEngines]],
    judged: Mapping[str, Judged],
    settings: dict[str, Any],
    title: str,
    plot: bool = True,
) -> FleetOutputs:
    report = build_fleet_report(run, cfg, judged, settings)
    ddir = out / "decisions"
    ddir.mkdir(parents=True, exist_ok=True)
    final: dict[str, Path] = {"report.json": out / "report.json"}
    if plot:
        final["plot.png"] = out / "plot.png"
    for d in cfg.deployments:
        final[f"decisions/{d.name}.csv"] = ddir / f"{d.name}.csv"
    tmp = {k: p.with_name(f".tmp-{p.name}") for k, p in final.items()}
    try:
        for d in cfg.deployments:
            engines = {v.name: v for v in variants[d.name]}
            write_fleet_csv(tmp[f"decisions/{d.name}.csv"], run, d.name, engines)
        report["outputs"] = {k: str(v.resolve()) for k, v in final.items()}
        write_report_json(tmp["report.json"], report)
        if plot:
            from sla_planner.offline.fleet_plot import write_fleet_plot

            write_fleet_plot(
                tmp["plot.png"],
                run.allocations,
                [d.name for d in cfg.deployments],
                {n: j.result for n, j in judged.items()},
                {d.name: d.slo.attainment for d in cfg.deployments},
                report["fleet"]["budget"],
                run.interval_s,
                title,
            )
        for k, path in final.items():
            os.replace(tmp[k], path)
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
    return FleetOutputs(final["report.json"], final.get("plot.png"), _csvs(final), report)


def _csvs(final: Mapping[str, Path]) -> dict[str, Path]:
    return {
        k.removeprefix("decisions/").removesuffix(".csv"): p
        for k, p in final.items()
        if k.startswith("decisions/")
    }


def write_fleet_csv(
    path: Path, run: FleetRun, name: str, engines: Mapping[str, VariantEngines]
) -> None:
    """The single-deployment decisions.csv columns, then the fleet's (variant, GPU types, ...)."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FLEET_COLUMNS)
        for k, alloc in enumerate(run.allocations):
            a = alloc.by_name(name)
            need = run.needs[k][name]
            ttft, itl = expected_latency_ms(a, need, engines[a.variant])
            fc = need.forecast
            nan = math.nan
            p, d = a.prefill, a.decode
            gpu = p.gpu_type if p.gpu_type == d.gpu_type else f"{p.gpu_type}+{d.gpu_type}"
            held = sum(a.held.gpus_by_type().values()) if a.held else 0
            reasons = sorted({r.value for r in (*a.reasons, *p.reasons, *d.reasons)})
            w.writerow([
                _num(alloc.timestamp), p.replicas, d.replicas, p.gpus, d.gpus,
                _num(fc.requests if fc else nan), _num(fc.isl if fc else nan),
                _num(fc.osl if fc else nan), _num(ttft), _num(itl),
                a.variant, gpu, p.gpu_type, d.gpu_type, held, _num(a.cost_per_hour),
                _num(a.expected_attainment), _num(run.actual[name][k].requests), "|".join(reasons),
            ])  # fmt: skip
