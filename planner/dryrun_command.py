"""`sla-planner dry-run`: what the planner would have done over past demand, and at what cost.

Every flag has a default; with none at all it runs the embedded demo (the bundled Azure 2023
conversation trace, the bundled H200 Llama-3.1-8B FP8 profile, TTFT 200 ms, ITL 25 ms,
60 s intervals, 120 s startup, output in ./sla-planner-dry-run).

The demand source is built in `_build_source(args)`; trace files are one kind of source and
others (e.g. `--prometheus URL --start --end`) plug in there and in `add_source_arguments`.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from planner.cli import UsageError, format_validation_error
from planner.metrics_source import MetricsSource

DEFAULT_PROFILE = "dynamo-h200-llama3.1-8b-fp8-tp1"
DEFAULT_TRACE_NAME = "AzureLLMInferenceTrace_conv.csv"
DEFAULT_OUT = "sla-planner-dry-run"


def default_trace_path() -> Path:
    return Path(str(resources.files("planner") / "data" / DEFAULT_TRACE_NAME))


# --------------------------------------------------------------------------- flags


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dry-run",
        help="replay a trace through the planner: replicas, GPU-hours, expected SLA",
        description=(
            "Replay past demand through the planner interval by interval (each decision sees "
            "only earlier data) and write decisions.csv, report.json and plot.png. With no "
            "flags it runs a demo on the bundled Azure 2023 conversation trace and H200 profile."
        ),
        formatter_class=_HelpFormatter,
    )
    add_source_arguments(p)
    g = p.add_argument_group("model and SLA")
    g.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME|PATH",
        help="bundled profile name, profile YAML/JSON, or Dynamo profiler output dir",
    )
    g.add_argument(
        "--ttft-ms", type=_positive_float, default=200.0, metavar="MS", help="TTFT target, ms"
    )
    g.add_argument(
        "--itl-ms", type=_positive_float, default=25.0, metavar="MS", help="ITL target, ms"
    )
    g.add_argument(
        "--prefill-gpus",
        type=_positive_int,
        metavar="N",
        help="GPUs per prefill replica (TP size); must match the profile's",
    )
    g.add_argument(
        "--decode-gpus",
        type=_positive_int,
        metavar="N",
        help="GPUs per decode replica (TP size); must match the decode profile's",
    )
    g.add_argument(
        "--decode-profile",
        metavar="NAME|PATH",
        help="a different profile for the decode pool, e.g. another TP size (default: --profile)",
    )
    g = p.add_argument_group("planner")
    g.add_argument(
        "--interval-s", type=_positive_float, default=60.0, metavar="S", help="decision interval, s"
    )
    g.add_argument(
        "--startup-s",
        type=_nonneg_float,
        metavar="S",
        default=120.0,
        help="time for a new replica to become ready, s",
    )
    g.add_argument(
        "--max-gpus",
        type=_positive_int,
        metavar="N",
        help="global GPU budget across both pools (default: no cap)",
    )
    g.add_argument(
        "--forecaster",
        default="default",
        metavar="NAME",
        help="forecasting model: " + ", ".join(_forecaster_names()),
    )
    g.add_argument("--min-prefill", type=_nonneg_int, default=1, metavar="N", help="replicas")
    g.add_argument("--min-decode", type=_nonneg_int, default=1, metavar="N", help="replicas")
    g.add_argument(
        "--max-prefill", type=_nonneg_int, metavar="N", help="replicas (default: no cap)"
    )
    g.add_argument("--max-decode", type=_nonneg_int, metavar="N", help="replicas (default: no cap)")
    g.add_argument(
        "--warmup",
        type=_nonneg_int,
        metavar="N",
        help="intervals of history before --start fed to the forecaster "
        "(default: as many as the trace has, up to the history window)",
    )
    g = p.add_argument_group("output")
    g.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="output directory")
    g.add_argument("--no-plot", action="store_true", help="skip plot.png")
    g.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    p.set_defaults(func=run)


class _HelpFormatter(argparse.HelpFormatter):
    """Show defaults that say something (not None/False) without repeating them."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and not any(
            action.default is x for x in (None, False, argparse.SUPPRESS)
        ):
            if "default" not in text:
                text += " (default: %(default)s)"
        return text


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """Flags that choose the demand to replay. Another source adds its flags here and a branch
    in `_build_source`."""
    g = p.add_argument_group("demand source")
    g.add_argument(
        "--trace",
        metavar="FILE",
        default=None,
        help="trace file: Mooncake JSONL, Azure CSV, aggregate CSV or 10 s count CSV "
        "(default: the bundled Azure 2023 conversation trace)",
    )
    g.add_argument(
        "--tokens-from",
        metavar="FILE",
        help="per-request trace to draw ISL/OSL from, for count-only traces",
    )
    g.add_argument(
        "--rate-scale",
        type=_positive_float,
        default=1.0,
        metavar="X",
        help="multiply request counts by X",
    )
    g.add_argument("--seed", type=int, default=0, help="seed for token draws (count-only traces)")
    g.add_argument(
        "--no-prompt-scv",
        action="store_true",
        help="leave each interval's prompt-length SCV out of the trace's demand, as a "
        "Prometheus source does: prefill sizing then uses its fixed SCV instead of the measured",
    )
    g.add_argument(
        "--peak-window-s",
        type=_positive_float,
        metavar="S",
        help="sub-window for each interval's peak request rate, which the decode pool plans "
        "bursts from (default: 10 for traces; for Prometheus, its peak_window_s, else none "
        "and the planner assumes burst_fallback); Prometheus needs >= 2 scrape intervals",
    )
    g.add_argument(
        "--start",
        metavar="T",
        help="first interval: unix seconds, ISO date-time (UTC unless an offset is "
        "given), or +DURATION after the source's start (e.g. +6h)",
    )
    g.add_argument(
        "--end",
        metavar="T",
        help="end (exclusive), same forms; default: last whole interval of the source",
    )
    from planner.prometheus_dryrun import add_prometheus_arguments

    add_prometheus_arguments(p)


def _typed(kind: type, check: Any, what: str) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what
    return parse


_positive_float = _typed(float, lambda x: x > 0 and math.isfinite(x), "a number > 0")
_nonneg_float = _typed(float, lambda x: x >= 0 and math.isfinite(x), "a number >= 0")
_positive_int = _typed(int, lambda x: x > 0, "an integer > 0")
_nonneg_int = _typed(int, lambda x: x >= 0, "an integer >= 0")


# --------------------------------------------------------------------------- time range

_DURATION = re.compile(r"^\+(\d+(?:\.\d*)?)([smhd]?)$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_time(text: str, origin: float, flag: str) -> float:
    """unix seconds | ISO 8601 (naive = UTC) | +DURATION (s/m/h/d) after `origin`."""
    t = text.strip()
    m = _DURATION.match(t)
    if m:
        return origin + float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        return float(t)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not a time; use unix seconds, an ISO date-time such as "
            "2024-05-12T06:00:00 (UTC), or +DURATION such as +6h"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class SourceSpec:
    """A demand source with the time range to replay and what to record about it."""

    source: MetricsSource
    start: float
    end: float
    warmup_intervals: int
    settings: dict[str, Any] = field(default_factory=dict)
    label: str = ""


def _resolve_range(args: argparse.Namespace, covered: tuple[float, float]) -> tuple[float, float]:
    lo, hi = covered
    step = args.interval_s
    start = parse_time(args.start, lo, "--start") if args.start else lo
    if args.end:
        end = parse_time(args.end, lo, "--end")
    else:
        # Whole intervals only: a trailing partial interval would look like a demand drop.
        end = start + max(1, math.floor((hi - start) / step + 1e-9)) * step
    span = f"the source covers {iso(lo)} .. {iso(hi)} ({lo:.0f} .. {hi:.0f})"
    if not (lo - 1e-6 <= start < hi):
        raise UsageError(f"--start {args.start} is outside the data: {span}; pick a time inside it")
    if end <= start:
        raise UsageError(f"--end {args.end} is not after the start {iso(start)}")
    if end > hi + step:
        raise UsageError(
            f"--end {args.end} is past the end of the data: {span}; pick a time inside it"
        )
    return start, end


def _build_source(args: argparse.Namespace) -> SourceSpec:
    """The demand to replay, from the source flags. Add other sources (Prometheus) here."""
    from planner.prometheus_dryrun import build_prometheus_spec, wants_prometheus

    if wants_prometheus(args):
        from planner.config import PlannerConfig

        return build_prometheus_spec(args, PlannerConfig().history_window)
    from planner.traces import TraceMetricsSource, load_trace

    trace_path = Path(args.trace) if args.trace else default_trace_path()
    trace = load_trace(trace_path)
    tokens = load_trace(args.tokens_from) if args.tokens_from else None
    peak = getattr(args, "peak_window_s", None)
    source = TraceMetricsSource(
        trace,
        tokens_from=tokens,
        rate_scale=args.rate_scale,
        seed=args.seed,
        peak_window_s=10.0 if peak is None else peak,
        prompt_scv=not getattr(args, "no_prompt_scv", False),
    )
    covered = source.time_range()
    assert covered is not None
    start, end = _resolve_range(args, covered)
    available = math.floor((start - covered[0]) / args.interval_s + 1e-9)
    settings = {
        "source": "trace",
        "trace": str(trace_path.resolve()),
        "trace_format": trace.format,
        "tokens_from": str(Path(args.tokens_from).resolve()) if args.tokens_from else None,
        "rate_scale": args.rate_scale,
        "seed": args.seed,
        "peak_window_s": source.peak_window_s,
        "prompt_scv": source.prompt_scv,
    }
    return SourceSpec(source, start, end, available, settings, label=trace_path.name)


# --------------------------------------------------------------------------- planner


def _build_config(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from planner.config import PlannerConfig

    data = {
        "sla": {"ttft_ms": args.ttft_ms, "itl_ms": args.itl_ms},
        "interval_s": args.interval_s,
        "startup_s": args.startup_s,
        "budget": {"max_gpus": args.max_gpus},
        "prefill": {"min_replicas": args.min_prefill, "max_replicas": args.max_prefill},
        "decode": {"min_replicas": args.min_decode, "max_replicas": args.max_decode},
        "forecaster": args.forecaster,
    }
    try:
        return PlannerConfig.model_validate(data)
    except ValidationError as e:
        raise UsageError(_flag_names(format_validation_error(e))) from None


_FLAG_OF = {
    "sla.ttft_ms": "--ttft-ms",
    "sla.itl_ms": "--itl-ms",
    "interval_s": "--interval-s",
    "startup_s": "--startup-s",
    "budget.max_gpus": "--max-gpus",
    "prefill": "--min-prefill/--max-prefill",
    "decode": "--min-decode/--max-decode",
    "forecaster": "--forecaster",
}


def _flag_names(message: str) -> str:
    for loc, flag in _FLAG_OF.items():
        message = message.replace(f"{loc}:", f"{flag}:")
    return message


def _forecaster_names() -> list[str]:
    from forecasters.registry import available_forecasters

    return list(available_forecasters())


def _check_forecaster(name: str) -> None:
    from forecasters.registry import available_forecasters

    names = list(available_forecasters())
    if name not in names:
        raise UsageError(f"--forecaster {name!r} is not known; choose one of: {', '.join(names)}")


@dataclass(frozen=True)
class PoolProfiles:
    """Profiles and curves per pool (one profile for both unless --decode-profile is given)."""

    prefill: Any  # EngineProfile
    decode: Any
    prefill_curves: Any  # ProfileCurves
    decode_curves: Any
    warnings: list[str]


def _load_profiles(args: argparse.Namespace) -> PoolProfiles:
    """A profile is measured at one TP size; latency at another can't be derived from it, so
    --prefill-gpus/--decode-gpus must match the pool's profile (give a decode profile measured
    at another TP size with --decode-profile)."""
    from profiles import load_profile
    from profiles.interpolation import ProfileCurves

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


# --------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> int:
    # User input first (flags, trace, profile, output dir), so mistakes surface before work.
    config = _build_config(args)
    spec = _build_source(args)
    profiles = _load_profiles(args)
    _check_forecaster(args.forecaster)
    out = _prepare_out(Path(args.out))

    from planner.core import Planner
    from planner.dryrun import run_dry_run

    planner = Planner(config, profiles.prefill_curves, decode_curves=profiles.decode_curves)
    n = math.ceil((spec.end - spec.start) / args.interval_s - 1e-9)
    warm = spec.warmup_intervals if args.warmup is None else min(args.warmup, spec.warmup_intervals)
    warm = min(warm, config.history_window)
    t0 = time.perf_counter()
    with _progress_bar(args.progress, n) as bar:
        result = run_dry_run(
            spec.source,
            planner,
            spec.start,
            spec.end,
            args.interval_s,
            progress=lambda k: bar.update(1),
            warmup_intervals=warm,
        )
    settings = {
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
        "sla": config.sla.model_dump(),
        "budget_gpus": config.budget.max_gpus,
        "interval_s": config.interval_s,
        "startup_s": config.startup_s,
        "planner_config": config.model_dump(),
    }
    from planner.simulator import simulate_dry_run

    simulated = simulate_dry_run(
        result, spec.source, profiles.prefill_curves, config, profiles.decode_curves
    )
    paths = write_outputs(
        out,
        result,
        profiles,
        config,
        settings,
        spec.label,
        plot=not args.no_plot,
        extra={"simulated": simulated} if simulated is not None else None,
    )
    _print_summary(paths, spec.label, config, time.perf_counter() - t0)
    return 0


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
    from planner.report import (
        build_report,
        evaluate_attainment,
        summarize,
        write_decisions_csv,
        write_report_json,
    )

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
    final = {"decisions.csv": out / "decisions.csv", "report.json": out / "report.json"}
    if plot:
        final["plot.png"] = out / "plot.png"
    tmp = {k: out / f".tmp-{k}" for k in final}  # keeps the extension matplotlib needs
    try:
        write_decisions_csv(tmp["decisions.csv"], result.decisions, result.actual)
        report["outputs"] = {k: str(v.resolve()) for k, v in final.items()}
        write_report_json(tmp["report.json"], report)
        if plot:
            from planner.plot import write_plot

            title = (
                f"sla-planner dry run: {label} from {settings['start_iso']}\n"
                f"profile {settings['profile']}, forecaster {config.forecaster}, "
                f"SLA TTFT {config.sla.ttft_ms:g} ms / ITL {config.sla.itl_ms:g} ms"
            )
            write_plot(
                tmp["plot.png"],
                result.decisions,
                result.actual,
                attainment,
                config.sla,
                config.interval_s,
                config.budget.max_gpus,
                title,
            )
        for k, path in final.items():
            os.replace(tmp[k], path)
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
    return Outputs(final["decisions.csv"], final["report.json"], final.get("plot.png"), report)


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


def _print_summary(paths: Outputs, label: str, config: Any, wall_s: float) -> None:
    r = paths.report
    s = r["settings"]
    budget = s["budget_gpus"] if s["budget_gpus"] is not None else "none"
    lines = [
        f"dry run: {r['intervals']} intervals of {config.interval_s:g} s over {label} "
        f"({r['total_requests']:,.0f} requests), profile {s['profile']}, "
        f"forecaster {config.forecaster}",
        f"  GPU-hours          {r['gpu_hours']:.2f}",
        f"  SLA attainment     {_pct(r['expected_sla_attainment'])} expected "
        f"(TTFT {config.sla.ttft_ms:g} ms: {_pct(r['expected_ttft_attainment'])}, "
        f"ITL {config.sla.itl_ms:g} ms: {_pct(r['expected_itl_attainment'])})",
    ]
    sim = r.get("simulated")
    if sim:  # trace sources: the closed-loop figure, with startup delay and 10 s bursts
        lines.append(
            f"  simulated          {_pct(sim['attainment'])} of requests met both targets "
            f"(closed loop, {sim['bin_s']:g} s bins, replicas ready {config.startup_s:g} s after "
            "each decision)"
        )
    lines += [
        f"  peak GPUs          {r['peak_gpus']} (budget: {budget})",
        f"  scaling actions    {r['scaling_actions']} (prefill {r['prefill_scaling_actions']}, "
        f"decode {r['decode_scaling_actions']})",
        f"  decisions          {paths.decisions_csv}",
        f"  report             {paths.report_json}",
    ]
    if paths.plot_png is not None:
        lines.append(f"  plot               {paths.plot_png}")
    for w in s.get("profile_warnings", [])[:3]:
        lines.append(f"  profile warning    {' '.join(str(w).split())}")
    lines.append(f"  wall time          {wall_s:.1f} s")
    print("\n".join(lines))
