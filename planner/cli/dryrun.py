"""`sla-planner dry-run`: what the planner would have done over past demand, and at what cost.

Every flag has a default; with none at all it runs the embedded demo (the bundled Azure 2023
conversation trace, the bundled H200 Llama-3.1-8B FP8 profile, TTFT 200 ms, ITL 25 ms,
60 s intervals, 120 s startup, output in ./sla-planner-dry-run).

Flags live in `dryrun_args`; the demand source comes from `dryrun_source` (trace files) or
`dryrun_prometheus` (Prometheus); the files are written by `offline.outputs`.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from sla_planner.cli.arg_types import iso
from sla_planner.cli.dryrun_args import build_dryrun_parser
from sla_planner.cli.dryrun_prometheus import build_prometheus_spec, wants_prometheus
from sla_planner.cli.dryrun_source import SourceSpec, build_trace_spec
from sla_planner.cli.messages import format_validation_error
from sla_planner.errors import UsageError
from sla_planner.offline.outputs import Outputs, PoolProfiles, write_outputs

# Decisions one dry run makes: ~69 days of 60 s intervals, up to about an hour of planning
# (10-30 ms a decision). A trace spanning decades asks for millions: refused, not attempted.
MAX_DRY_RUN_INTERVALS = 100_000


def register(subparsers: argparse._SubParsersAction) -> None:
    build_dryrun_parser(subparsers).set_defaults(func=run)


def _build_source(args: argparse.Namespace) -> SourceSpec:
    """The demand to replay: Prometheus when its flags are given, else a trace file."""
    if wants_prometheus(args):
        from sla_planner.model.config import PlannerConfig

        return build_prometheus_spec(args, PlannerConfig().history_window)
    return build_trace_spec(args)


def _build_config(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from sla_planner.model.config import PlannerConfig

    data = {
        "slo": {"ttft_ms": args.ttft_ms, "itl_ms": args.itl_ms, "attainment": args.attainment},
        "interval_s": args.interval_s,
        "startup_s": args.startup_s,
        "budget": {"max_gpus": args.max_gpus},
        "prefill": {"min_replicas": args.min_prefill, "max_replicas": args.max_prefill},
        "decode": {"min_replicas": args.min_decode, "max_replicas": args.max_decode},
        "forecaster": args.forecaster,
    }
    if getattr(args, "reactive", None) is not None:
        data["reactive"] = {"enabled": args.reactive}
    try:
        return PlannerConfig.model_validate(data)
    except ValidationError as e:
        raise UsageError(_flag_names(format_validation_error(e))) from None


_FLAG_OF = {
    "slo.ttft_ms": "--ttft-ms",
    "slo.itl_ms": "--itl-ms",
    "slo.attainment": "--attainment",
    "interval_s": "--interval-s",
    "startup_s": "--startup-s",
    "budget.max_gpus": "--max-gpus",
    "prefill.min_replicas": "--min-prefill",
    "prefill.max_replicas": "--max-prefill",
    "decode.min_replicas": "--min-decode",
    "decode.max_replicas": "--max-decode",
    "prefill": "--min-prefill/--max-prefill",
    "decode": "--min-decode/--max-decode",
    "forecaster": "--forecaster",
}


_FLAG_LOC = re.compile(
    r"(?<![\w.-])("
    + "|".join(re.escape(k) for k in sorted(_FLAG_OF, key=len, reverse=True))
    + r"):"
)


def _flag_names(message: str) -> str:
    """Settings paths in a validation message -> the flags that set them (one pass, so a flag
    name is never rewritten again)."""
    return _FLAG_LOC.sub(lambda m: f"{_FLAG_OF[m.group(1)]}:", message)


def _check_forecaster(name: str) -> None:
    from sla_planner.forecasters.registry import available_forecasters

    names = list(available_forecasters())
    if name not in names:
        raise UsageError(f"--forecaster {name!r} is not known; choose one of: {', '.join(names)}")


def _load_profiles(args: argparse.Namespace) -> PoolProfiles:
    """A profile is measured at one TP size; latency at another can't be derived from it, so
    --prefill-gpus/--decode-gpus must match the pool's profile (give a decode profile measured
    at another TP size with --decode-profile)."""
    from sla_planner.profiles.interpolation import ProfileCurves
    from sla_planner.profiles.registry import load_profile

    prefill = load_profile(args.profile)
    decode = load_profile(args.decode_profile) if args.decode_profile else prefill
    checks = (
        ("--prefill-gpus", args.prefill_gpus, prefill, "--profile"),
        ("--decode-gpus", args.decode_gpus, decode, "--decode-profile" if args.decode_profile else "--decode-profile or --profile"),
    )  # fmt: skip
    for flag, value, prof, fix in checks:
        tp = prof.gpus_per_replica
        if value is not None and value != tp:
            raise UsageError(
                f"{flag} {value} does not match profile {prof.name!r}, measured with {tp} "
                f"GPU(s) per replica; latency at another TP size can't be derived from it: pass a "
                f"profile measured at TP {value} ({fix}) or drop {flag}"
            )
    warnings: list[str] = []
    pc = ProfileCurves(prefill, warn=warnings.append)
    dc = pc if decode is prefill else ProfileCurves(decode, warn=warnings.append)
    return PoolProfiles(prefill, decode, pc, dc, warnings)


def run(args: argparse.Namespace) -> int:
    # User input first (flags, trace, profile, output dir), so mistakes surface before work.
    config = _build_config(args)
    spec = _build_source(args)
    n = _interval_count(spec, args.interval_s)
    profiles = _load_profiles(args)
    _check_targets(config, profiles)
    _check_forecaster(args.forecaster)
    out = _prepare_out(Path(args.out))

    from sla_planner.config.fleet import fleet_of_one
    from sla_planner.model.types import DEFAULT_DEPLOYMENT as NAME
    from sla_planner.offline.session import replay

    warm = spec.warmup_intervals if args.warmup is None else min(args.warmup, spec.warmup_intervals)
    warm = min(warm, config.history_window)
    fleet = fleet_of_one(
        config,
        (profiles.prefill, profiles.prefill_curves),
        (profiles.decode, profiles.decode_curves),
    )
    t0 = time.perf_counter()
    with _progress_bar(args.progress, n) as bar:
        replayed = replay(
            fleet,
            {NAME: spec.source},
            spec.start,
            spec.end,
            warmup={NAME: warm},
            judge=args.judge,
            progress=lambda k: bar.update(1),
        )
    result = replayed.run.only
    settings = _run_settings(args, spec, result, profiles, config)
    lengths = replayed.lengths.get(NAME)
    warnings = [*_target_warnings(config, profiles, result.actual), *_guard_warnings(result)]
    if lengths is not None and lengths.warning() is not None:
        warnings.append(lengths.warning())
    extra: dict[str, Any] = {
        "warnings": warnings,
        **_judgements(result, replayed.judged[NAME], spec, profiles, config, lengths),
    }
    paths = write_outputs(
        out, result, profiles, config, settings, spec.label, plot=not args.no_plot, extra=extra
    )
    slo_csv = _write_slo(out, result)
    _print_summary(paths, spec.label, config, time.perf_counter() - t0, slo_csv)
    return 0


def _write_slo(out: Path, result: Any) -> Path | None:
    """slo.csv for a closed-loop run (the SLO controller's trace), else nothing."""
    if not result.closed_loop:
        return None
    from sla_planner.offline.slo_report import write_slo_csv

    return write_slo_csv(out, result)


def _judgements(
    result: Any,
    judged: Any,
    spec: SourceSpec,
    profiles: PoolProfiles,
    config: Any,
    lengths: Any = None,
) -> dict[str, Any]:
    """report.json's verdicts: "judged" by the discrete-event replay (the default judge,
    independent of the sizing; trace and Prometheus sources, with where its request lengths
    came from) and "simulated" by the closed-loop model (a quick estimate that shares the
    sizing's queueing model; trace sources)."""
    from sla_planner.evaluation.judge import judged_block
    from sla_planner.evaluation.simulator import simulate_dry_run

    out: dict[str, Any] = {}
    if judged is not None:
        out["judged"] = judged_block(judged, lengths.label if lengths is not None else None)
    if result.closed_loop:  # the SLO controller fed by the judge
        from sla_planner.offline.slo_report import slo_block

        out["slo"] = slo_block(result, config.slo.attainment)
    simulated = simulate_dry_run(
        result, spec.source, profiles.prefill_curves, config, profiles.decode_curves
    )
    if simulated is not None:
        out["simulated"] = simulated
    return out


_TARGET_FLAG = {"ttft_ms": "--ttft-ms", "itl_ms": "--itl-ms"}


def _check_targets(config: Any, profiles: PoolProfiles) -> None:
    """A target no request can meet (below the profile's floor) is refused before the run."""
    from sla_planner.model.size.feasibility import impossible_targets

    for t in impossible_targets(config.sla, profiles.prefill_curves, profiles.decode_curves):
        flag = _TARGET_FLAG[t.target]
        name = (profiles.prefill if t.target == "ttft_ms" else profiles.decode).name
        raise UsageError(
            f"{flag} {t.value_ms:g} is below what profile {name!r} can do: "
            f"{t.message}; set {flag} to at least {math.ceil(t.floor_ms * 100) / 100:g} or "
            "pass a faster profile"
        )


def _target_warnings(config: Any, profiles: PoolProfiles, actual: Any) -> list[str]:
    """Targets below the idle latency of the replayed demand's mean request (request-weighted)."""
    from sla_planner.model.size.feasibility import target_warnings

    n = isl = osl = 0.0
    for a in actual:
        if a.requests > 0 and math.isfinite(a.isl_mean) and math.isfinite(a.osl_mean):
            n += a.requests
            isl += a.requests * a.isl_mean
            osl += a.requests * a.osl_mean
    if not n > 0:
        return []
    return target_warnings(
        config.sla, profiles.prefill_curves, profiles.decode_curves, isl / n, osl / n
    )


def _guard_warnings(result: Any) -> list[str]:
    """The demand guard's clips (model/robust_demand.py), as one line: how many decisions saw
    clipped demand, and the first clip."""
    clipped = [n for d in result.decisions for n in d.notes if n.startswith("demand guard:")]
    if not clipped:
        return []
    hit = sum(any(n.startswith("demand guard:") for n in d.notes) for d in result.decisions)
    return [f"{hit} decision(s) planned on clipped outliers; first: {clipped[0]}"]


def _interval_count(spec: SourceSpec, interval_s: float) -> int:
    """Intervals to replay: each is a decision (~10-30 ms), so their number bounds the run."""
    n = math.ceil((spec.end - spec.start) / interval_s - 1e-9)
    if n > MAX_DRY_RUN_INTERVALS:
        raise UsageError(
            f"--start/--end span {n:,} intervals of {interval_s:g} s (from {iso(spec.start)} to "
            f"{iso(spec.end)}); a dry run makes at most {MAX_DRY_RUN_INTERVALS:,} decisions: "
            "pick a shorter range with --start/--end or a longer --interval-s"
        )
    return n


def _run_settings(
    args: argparse.Namespace, spec: SourceSpec, result: Any, profiles: PoolProfiles, config: Any
) -> dict[str, Any]:
    """What report.json records about the run, so it can be replayed."""
    return {
        **spec.settings,
        "start": spec.start,
        "end": spec.end,
        "start_iso": iso(spec.start),
        "end_iso": iso(spec.end),
        "warmup_intervals": result.warmup_intervals,
        "profile": profiles.prefill.name,
        "profile_arg": args.profile,
        "decode_profile": profiles.decode.name,
        "gpu": profiles.prefill.gpu,
        "model": profiles.prefill.model,
        "backend": profiles.prefill.backend,
        "prefill_gpus_per_replica": profiles.prefill.gpus_per_replica,
        "decode_gpus_per_replica": profiles.decode.gpus_per_replica,
        "forecaster": config.forecaster,
        "sla": {"ttft_ms": config.slo.ttft_ms, "itl_ms": config.slo.itl_ms},
        "slo": config.slo.model_dump(),
        "budget_gpus": config.budget.max_gpus,
        "interval_s": config.interval_s,
        "startup_s": config.startup_s,
        "planner_config": config.model_dump(),
    }


def _prepare_out(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory; pick a directory path")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot create the directory ({e.strerror})") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"--out {out}: directory is not writable; pick another --out")
    return out


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _progress_bar(wanted: bool | None, total: int) -> Any:
    show = sys.stderr.isatty() if wanted is None else wanted
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="interval", desc="dry run", file=sys.stderr, leave=False)


def _pct(x: float | None) -> str:
    return "n/a (no requests)" if x is None or math.isnan(x) else f"{100 * x:.2f}%"


def _print_summary(
    paths: Outputs, label: str, config: Any, wall_s: float, slo_csv: Path | None = None
) -> None:
    r = paths.report
    s = r["settings"]
    budget = s["budget_gpus"] if s["budget_gpus"] is not None else "none"
    lines = [
        f"dry run: {r['intervals']} intervals of {config.interval_s:g} s over {label} "
        f"({r['total_requests']:,.0f} requests), profile {s['profile']}, "
        f"forecaster {config.forecaster}",
        *(f"  warning            {w}" for w in r.get("warnings", [])),
        f"  GPU-hours          {r['gpu_hours']:.2f}",
        f"  SLA attainment     {_pct(r['expected_sla_attainment'])} expected "
        f"(TTFT {config.sla.ttft_ms:g} ms: {_pct(r['expected_ttft_attainment'])}, "
        f"ITL {config.sla.itl_ms:g} ms: {_pct(r['expected_itl_attainment'])})",
    ]
    judged = r.get("judged")
    if judged:  # every request replayed through the decided replicas
        lines.append(
            f"  judged             {_pct(judged['attainment'])} of requests met both targets "
            f"(discrete-event replay, lengths: {judged.get('lengths', 'n/a')}; "
            f"p99 TTFT {judged['ttft_ms']['p99']:.0f} ms, p99 ITL {judged['itl_ms']['p99']:.1f} ms)"
        )
    slo = r.get("slo")
    if slo:  # closed loop: the SLO controller fed by the judge
        lines.append(
            f"  SLO                {_pct(slo['target'])} target, {_pct(slo['attainment'])} "
            f"measured (budget burn {slo.get('burn_rate', math.nan):.2f}; "
            f"{slo['windows_below_target']} of {slo['windows']} intervals below target; "
            f"{slo['reactive_scale_ups']} reactive scale-ups)"
        )
    sim = r.get("simulated")
    if sim:  # trace sources: the model's closed-loop estimate, 10 s bins
        lines.append(
            f"  model estimate     {_pct(sim['attainment'])} of requests (closed-loop simulator, "
            f"{sim['bin_s']:g} s bins, replicas ready {config.startup_s:g} s after each decision)"
        )
    lines += [
        f"  peak GPUs          {r['peak_gpus']} (budget: {budget})",
        f"  scaling actions    {r['scaling_actions']} (prefill {r['prefill_scaling_actions']}, "
        f"decode {r['decode_scaling_actions']})",
        f"  decisions          {paths.decisions_csv}",
        f"  report             {paths.report_json}",
    ]
    if slo_csv is not None:
        lines.append(f"  SLO per interval   {slo_csv}")
    if paths.plot_png is not None:
        lines.append(f"  plot               {paths.plot_png}")
    for w in s.get("profile_warnings", [])[:3]:
        lines.append(f"  profile warning    {' '.join(str(w).split())}")
    lines.append(f"  wall time          {wall_s:.1f} s")
    print("\n".join(lines))
