"""The dry run's three output files (decisions.csv, report.json, plot.png), written whole or not
at all."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sla_planner.errors import SlaPlannerError
from sla_planner.model.size.latency_curves import Curves
from sla_planner.offline.report import DECISION_COLUMNS


class OutputError(SlaPlannerError):
    """The dry run's files could not be written (disk full, permissions): exit code 1."""


@dataclass(frozen=True)
class PoolProfiles:
    """Profiles and curves per pool (one profile for both unless --decode-profile is given)."""

    prefill: Any  # EngineProfile
    decode: Any
    prefill_curves: Curves
    decode_curves: Curves
    warnings: list[str]


@dataclass(frozen=True)
class Outputs:
    decisions_csv: Path
    report_json: Path
    plot_png: Path | None
    report: dict[str, Any]


@contextmanager
def staged(out: Path, final: Mapping[str, Path]) -> Iterator[dict[str, Path]]:
    """Temporary names beside each final path, renamed over them once the block has written
    them all: no half-written outputs. A write error is one OutputError naming the fix."""
    # ".tmp-" in front keeps the extension matplotlib needs.
    tmp = {k: p.with_name(f".tmp-{p.name}") for k, p in final.items()}
    try:
        yield tmp
        for k, path in final.items():
            os.replace(tmp[k], path)
    except OSError as e:
        raise OutputError(
            f"--out {out}: cannot write the dry-run files ({e.strerror or e}); free some space "
            "or pick another --out"
        ) from None
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)


def write_outputs(
    out: Path,
    result: Any,
    profiles: PoolProfiles,
    config: Any,
    settings: dict[str, Any],
    label: str,
    plot: bool = True,
    extra: dict[str, Any] | None = None,
) -> Outputs:
    """Write the three files via temporary names, then rename: no half-written outputs.
    `extra` keys are added to report.json (e.g. "simulated": closed-loop figures)."""
    from sla_planner.offline.report import write_decisions_csv, write_report_json

    report, attainment = _report(result, profiles, config, settings, extra)
    final = {"decisions.csv": out / "decisions.csv", "report.json": out / "report.json"}
    if plot:
        final["plot.png"] = out / "plot.png"
    with staged(out, final) as tmp:
        write_decisions_csv(tmp["decisions.csv"], result.decisions, result.actual)
        report["outputs"] = {k: str(v.resolve()) for k, v in final.items()}
        write_report_json(tmp["report.json"], report)
        if plot:
            _plot(tmp["plot.png"], result, attainment, config, report["settings"], label)
    return Outputs(final["decisions.csv"], final["report.json"], final.get("plot.png"), report)


def _report(
    result: Any,
    profiles: PoolProfiles,
    config: Any,
    settings: dict[str, Any],
    extra: dict[str, Any] | None,
) -> tuple[dict[str, Any], Any]:
    """report.json's content and the per-interval attainment it summarises."""
    from sla_planner.offline.report import build_report, evaluate_attainment, summarize

    attainment = evaluate_attainment(
        result.decisions,
        result.actual,
        profiles.prefill_curves,
        config.sla,
        decode_curves=profiles.decode_curves,
    )
    summary = summarize(result, attainment, config.interval_s)
    # Range warnings raised while planning/evaluating (e.g. ISL beyond the measured range).
    settings = {**settings, "profile_warnings": list(dict.fromkeys(profiles.warnings))}
    report = build_report(summary, attainment, settings)
    report.update(extra or {})
    return report, attainment


def _plot(
    path: Path, result: Any, attainment: Any, config: Any, settings: dict[str, Any], label: str
) -> None:
    from sla_planner.offline.plot import write_plot

    title = (
        f"sla-planner dry run: {label} from {settings['start_iso']}\n"
        f"profile {settings['profile']}, forecaster {config.forecaster}, "
        f"SLA TTFT {config.sla.ttft_ms:g} ms / ITL {config.sla.itl_ms:g} ms"
    )
    write_plot(
        path,
        result.decisions,
        result.actual,
        attainment,
        config.sla,
        config.interval_s,
        config.budget.max_gpus,
        title,
    )


# -- a fleet's files -------------------------------------------------------------------------
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


def verdicts(
    replayed: Any, fleet: Any, sources: Mapping[str, Any], judge: str = "des"
) -> dict[str, Any]:
    """Each deployment's verdict and cold starts: with judge "des" the discrete-event judge's
    (None where it cannot replay the source) and the closed-loop simulator's model estimate
    beside it; with "simulator" the model estimate alone."""
    from sla_planner.evaluation.cold_start import cold_starts
    from sla_planner.evaluation.estimate import (
        estimate as simulate,
    )
    from sla_planner.evaluation.estimate import (
        schedule_demand,
        served_schedule,
        verdict,
    )
    from sla_planner.offline.report import Judged

    run = replayed.run
    out: dict[str, Any] = {}
    for d in fleet.deployments:
        decisions = run.deployments[d.name].decisions
        sched = served_schedule(decisions, run.interval_s)
        dm = schedule_demand(sched, sources[d.name])
        r = replayed.judged.get(d.name)
        res = verdict(r, sched.intervals, FLEET_JUDGE_METHOD) if r is not None else None
        est = None
        if dm is not None:
            curves = {v.name: (v.prefill.curves, v.decode.curves) for v in d.variants}
            slo = (d.config.slo.ttft_ms, d.config.slo.itl_ms)
            est = simulate(sched, dm, curves, slo, d.config.startup_s)
        cold = cold_starts(sched, dm, d.config.startup_s) if dm is not None else None
        u = replayed.lengths.get(d.name) if res is not None else None
        lengths = (u.label, u.warning()) if u is not None else (None, None)
        out[d.name] = Judged(res, cold, est, *lengths) if judge == "des" else Judged(est, cold)
    return out


FLEET_JUDGE_METHOD = (
    "discrete-event replay of every request (sla_planner.evaluation.des), each run of one "
    "variant with its own prefill and decode profiles, replicas ready startup_s after the "
    "decision, shared prefill queue; a request meets the SLO when its TTFT and its mean ITL "
    "both meet the targets; requests never served are misses"
)


def build_fleet_report(
    run: Any, fleet: Any, judged: Mapping[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    from sla_planner.offline.report import class_attainment, deployment_report, fleet_totals

    per = {d.name: deployment_report(d, fleet, run, judged[d.name]) for d in fleet.deployments}
    methods = {j.result.method for j in judged.values() if j.result is not None}
    estimates = {j.estimate.method for j in judged.values() if j.estimate is not None}
    return {
        "fleet": fleet_totals(fleet, run, per),
        "priority_classes": class_attainment(fleet, per),
        "deployments": per,
        "attainment_method": "; ".join(sorted(methods)) or "no source with requests to replay",
        "model_estimate_method": "; ".join(sorted(estimates)) or None,
        "warnings": [
            f"{name}: {j.lengths_warning}" for name, j in judged.items() if j.lengths_warning
        ],
        "settings": settings,
    }


def write_fleet_outputs(
    out: Path,
    run: Any,
    fleet: Any,
    judged: Mapping[str, Any],
    settings: dict[str, Any],
    title: str,
    plot: bool = True,
) -> FleetOutputs:
    from sla_planner.offline.report import write_report_json

    report = build_fleet_report(run, fleet, judged, settings)
    names = [d.name for d in fleet.deployments]
    ddir = out / "decisions"
    final: dict[str, Path] = {"report.json": out / "report.json"}
    if plot:
        final["plot.png"] = out / "plot.png"
    for name in names:
        final[f"decisions/{name}.csv"] = ddir / f"{name}.csv"
    with staged(out, final) as tmp:
        ddir.mkdir(parents=True, exist_ok=True)
        for name in names:
            write_fleet_csv(tmp[f"decisions/{name}.csv"], run, name)
        report["outputs"] = {k: str(v.resolve()) for k, v in final.items()}
        write_report_json(tmp["report.json"], report)
        if plot:
            from sla_planner.offline.plot import write_fleet_plot

            write_fleet_plot(
                tmp["plot.png"],
                run.ticks,
                names,
                {n: j.result for n, j in judged.items()},
                {d.name: d.config.slo.attainment or 1.0 for d in fleet.deployments},
                report["fleet"]["budget"],
                run.interval_s,
                title,
            )
    decisions = {
        k.removeprefix("decisions/").removesuffix(".csv"): p
        for k, p in final.items()
        if k.startswith("decisions/")
    }
    return FleetOutputs(final["report.json"], final.get("plot.png"), decisions, report)


def write_fleet_csv(path: Path, run: Any, name: str) -> None:
    """The single-deployment decisions.csv columns, then the fleet's (variant, GPU types, ...)."""
    from sla_planner.offline.report import _num

    r = run.deployments[name]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FLEET_COLUMNS)
        for a, actual in zip(r.decisions, r.actual, strict=True):
            fc = a.forecast
            p, d = a.prefill, a.decode
            gpu = p.gpu_type if p.gpu_type == d.gpu_type else f"{p.gpu_type}+{d.gpu_type}"
            held = sum(a.held.gpus_by_type().values()) if a.held else 0
            reasons = sorted({x.value for x in (*a.reasons, *p.reasons, *d.reasons)})
            w.writerow([
                _num(a.timestamp), p.replicas, d.replicas, p.gpus, d.gpus,
                _num(fc.requests), _num(fc.isl), _num(fc.osl),
                _num(p.expected_latency_ms), _num(d.expected_latency_ms),
                a.variant, gpu, p.gpu_type, d.gpu_type, held, _num(a.cost_per_hour),
                _num(a.expected_attainment), _num(actual.requests), "|".join(reasons),
            ])  # fmt: skip
