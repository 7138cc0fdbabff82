"""The `dry-run` subcommand's flags: one function per flag group, so each stays readable."""

from __future__ import annotations

import argparse

from sla_planner.cli.arg_types import (
    HelpFormatter,
    attainment,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
    rate_scale,
)
from sla_planner.cli.dryrun_prometheus import add_prometheus_arguments
from sla_planner.cli.dryrun_source import DEMO_RATE_SCALE
from sla_planner.model.config import DEFAULT_MAX_REPLICAS, REPLICAS_LIMIT

DEFAULT_PROFILE = "dynamo-h200-llama3.1-8b-fp8-tp1"
DEFAULT_OUT = "sla-planner-dry-run"


def build_dryrun_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "dry-run",
        help="replay a trace through the planner: replicas, GPU-hours, expected SLA",
        description=(
            "Replay past demand through the planner interval by interval (each decision sees "
            "only earlier data) and write decisions.csv, report.json and plot.png. With no "
            "flags it runs a demo on the bundled Azure 2023 conversation trace and H200 profile."
        ),
        formatter_class=HelpFormatter,
    )
    add_source_arguments(p)
    add_model_arguments(p)
    add_planner_arguments(p)
    add_output_arguments(p)
    return p


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Profile(s) and SLA targets."""
    g = p.add_argument_group("model and SLA")
    g.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME|PATH",
        help="bundled profile name, profile YAML/JSON, or Dynamo profiler output dir",
    )
    g.add_argument(
        "--ttft-ms", type=positive_float, default=200.0, metavar="MS", help="TTFT target, ms"
    )
    g.add_argument(
        "--itl-ms", type=positive_float, default=25.0, metavar="MS", help="ITL target, ms"
    )
    g.add_argument(
        "--attainment",
        type=attainment,
        default=0.99,
        metavar="A|off",
        help="SLO: share of requests to meet both targets (0.99 or 99%%); the planner sizes to "
        "meet it, not exceed it, corrected by the judge's measurements; 'off': the "
        "fixed-margin sizing",
    )
    g.add_argument(
        "--prefill-gpus",
        type=positive_int,
        metavar="N",
        help="GPUs per prefill replica (TP size); must match the profile's",
    )
    g.add_argument(
        "--decode-gpus",
        type=positive_int,
        metavar="N",
        help="GPUs per decode replica (TP size); must match the decode profile's",
    )
    g.add_argument(
        "--decode-profile",
        metavar="NAME|PATH",
        help="a different profile for the decode pool, e.g. another TP size (default: --profile)",
    )


def add_planner_arguments(p: argparse.ArgumentParser) -> None:
    """Planner timing, budget, forecaster and replica limits."""
    g = p.add_argument_group("planner")
    g.add_argument(
        "--interval-s", type=positive_float, default=60.0, metavar="S", help="decision interval, s"
    )
    g.add_argument(
        "--startup-s",
        type=nonneg_float,
        metavar="S",
        default=120.0,
        help="time for a new replica to become ready, s",
    )
    g.add_argument(
        "--max-gpus",
        type=positive_int,
        metavar="N",
        help="global GPU budget across both pools (default: no cap)",
    )
    g.add_argument(
        "--forecaster",
        default="default",
        metavar="NAME",
        help="forecasting model: " + ", ".join(_forecaster_names()),
    )
    g.add_argument("--min-prefill", type=nonneg_int, default=1, metavar="N", help="replicas")
    g.add_argument("--min-decode", type=nonneg_int, default=1, metavar="N", help="replicas")
    ceiling = f"replicas (default: {DEFAULT_MAX_REPLICAS}; at most {REPLICAS_LIMIT})"
    g.add_argument("--max-prefill", type=nonneg_int, metavar="N", help=ceiling)
    g.add_argument("--max-decode", type=nonneg_int, metavar="N", help=ceiling)
    g.add_argument(
        "--warmup",
        type=nonneg_int,
        metavar="N",
        help="intervals of history before --start fed to the forecaster "
        "(default: as many as the trace has, up to the history window)",
    )


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """Where results go and how progress is shown."""
    g = p.add_argument_group("output")
    g.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="output directory")
    g.add_argument("--no-plot", action="store_true", help="skip plot.png")
    g.add_argument(
        "--judge",
        choices=("des", "none"),
        default="des",
        help="judge the decisions by a discrete-event replay of every request (a trace's, or "
        "those Prometheus' counters and token histograms describe; report.json's judged.lengths "
        "says where their lengths came from); "
        "with an --attainment target the replay runs in the loop (the planner reads each "
        "interval's measured attainment before the next decision); 'none' skips it",
    )
    g.add_argument(
        "--reactive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="in the closed loop, the fast path between decisions: scale up at once on a "
        "burst beyond the plan, checked every 5 s (default: the config's reactive.enabled)",
    )
    g.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """Flags that choose the demand to replay. Another source adds its flags here and a branch
    in `dryrun._build_source`."""
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
        help="per-request trace to draw ISL/OSL from: for count-only traces, and for aggregate "
        "traces, whose judge otherwise assumes lognormal lengths around each bin's means",
    )
    g.add_argument(
        "--rate-scale",
        type=rate_scale,
        default=None,
        metavar="X",
        help="multiply request counts by X (default 1; the demo, with no --trace: "
        f"{DEMO_RATE_SCALE:g}, so both pools scale)",
    )
    g.add_argument("--seed", type=int, default=0, help="seed for token draws (traces)")
    g.add_argument(
        "--no-prompt-scv",
        action="store_true",
        help="leave each interval's prompt-length SCV out of the trace's demand, as a "
        "Prometheus source does: prefill sizing then uses its fixed SCV instead of the measured",
    )
    g.add_argument(
        "--peak-window-s",
        type=positive_float,
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
    add_prometheus_arguments(p)


def _forecaster_names() -> list[str]:
    from sla_planner.forecasters.registry import available_forecasters

    return list(available_forecasters())
