"""The dry run's three output files (decisions.csv, report.json, plot.png), written whole or not
at all."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sla_planner.errors import SlaPlannerError


class OutputError(SlaPlannerError):
    """The dry run's files could not be written (disk full, permissions): exit code 1."""


@dataclass(frozen=True)
class PoolProfiles:
    """Profiles and curves per pool (one profile for both unless --decode-profile is given)."""

    prefill: Any  # EngineProfile
    decode: Any
    prefill_curves: Any  # ProfileCurves
    decode_curves: Any
    warnings: list[str]


@dataclass(frozen=True)
class Outputs:
    decisions_csv: Path
    report_json: Path
    plot_png: Path | None
    report: dict[str, Any]


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
    tmp = {k: out / f".tmp-{k}" for k in final}  # keeps the extension matplotlib needs
    try:
        write_decisions_csv(tmp["decisions.csv"], result.decisions, result.actual)
        report["outputs"] = {k: str(v.resolve()) for k, v in final.items()}
        write_report_json(tmp["report.json"], report)
        if plot:
            _plot(tmp["plot.png"], result, attainment, config, report["settings"], label)
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
