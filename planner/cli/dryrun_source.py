"""The dry run's demand source from its flags: a trace file (here) or Prometheus
(`dryrun_prometheus`), with the time range to replay."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sla_planner.cli.arg_types import iso, parse_time
from sla_planner.errors import UsageError
from sla_planner.sources.base import MetricsSource

DEFAULT_TRACE_NAME = "AzureLLMInferenceTrace_conv.csv"
# The no-flag demo replays the bundled conversation trace at this rate (~22 req/s): at its own
# 5.5 req/s one replica per pool carries it all hour and the demo shows nothing scaling.
DEMO_RATE_SCALE = 4.0


def default_trace_path() -> Path:
    return Path(str(resources.files("sla_planner") / "data" / DEFAULT_TRACE_NAME))


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


def build_trace_spec(args: argparse.Namespace) -> SourceSpec:
    """The trace to replay, from the source flags (Prometheus: `dryrun_prometheus`)."""
    from sla_planner.sources.trace_files import load_trace
    from sla_planner.sources.trace_source import MAX_SUBWINDOWS, TraceMetricsSource

    peak = getattr(args, "peak_window_s", None)
    if peak is not None and args.interval_s / peak > MAX_SUBWINDOWS:
        raise UsageError(
            f"--peak-window-s {peak:g} splits each {args.interval_s:g} s interval into "
            f"{args.interval_s / peak:,.0f} sub-windows (at most {MAX_SUBWINDOWS:,}); use a "
            f"window of at least {args.interval_s / MAX_SUBWINDOWS:g} s"
        )
    trace_path = Path(args.trace) if args.trace else default_trace_path()
    scale = args.rate_scale
    if scale is None:
        scale = 1.0 if args.trace else DEMO_RATE_SCALE
    trace = load_trace(trace_path)
    tokens = load_trace(args.tokens_from) if args.tokens_from else None
    source = TraceMetricsSource(
        trace,
        tokens_from=tokens,
        rate_scale=scale,
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
        "rate_scale": scale,
        "seed": args.seed,
        "peak_window_s": source.peak_window_s,
        "prompt_scv": source.prompt_scv,
    }
    return SourceSpec(source, start, end, available, settings, label=trace_path.name)
