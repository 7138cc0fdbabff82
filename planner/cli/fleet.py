"""`sla-planner fleet dry-run [--config FILE] [--out DIR]`: what the fleet planner would have done
for many deployments sharing GPU pools, and at what cost and attainment.

With no flags it runs the bundled demo fleet (three deployments over the bundled traces, two
GPU types, three priority classes, a budget below the sum of their peaks). A bad config is one
`sla-planner: error:` line naming the field, exit code 2.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from sla_planner.cli.arg_types import iso
from sla_planner.errors import UsageError

DEFAULT_OUT = "sla-planner-fleet-dry-run"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fleet", help="plan many deployments and GPU types under one budget")
    sub = p.add_subparsers(dest="fleet_command", metavar="COMMAND", parser_class=type(p))
    p.set_defaults(func=lambda _a: _need_command(p))
    dr = sub.add_parser(
        "dry-run",
        help="replay a fleet's demand: allocations, cost and attainment per deployment",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dr.add_argument(
        "--config", metavar="FILE", help="fleet config YAML (default: the bundled demo fleet)"
    )
    dr.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"default: {DEFAULT_OUT}")
    dr.add_argument("--no-plot", action="store_true", help="skip plot.png")
    dr.add_argument(
        "--judge",
        choices=("des", "simulator"),
        default="des",
        help="what measures attainment: 'des' (default) replays every request through a "
        "discrete-event engine, independent of the sizing, with the closed-loop simulator's "
        "model estimate reported beside it; 'simulator' uses the model estimate alone (faster)",
    )
    dr.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
    # SUPPRESS keeps a top-level --debug (main adds it to the first level of commands only).
    dr.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors"
    )
    dr.set_defaults(func=run_dry_run)


def _need_command(p: argparse.ArgumentParser) -> int:
    raise UsageError(f"'{p.prog}' needs a command: dry-run (see '{p.prog} --help')")


def run_dry_run(args: argparse.Namespace) -> int:
    from sla_planner.cli.dryrun import _prepare_out, _progress_bar
    from sla_planner.config.resolve import demo_fleet_path, load_fleet
    from sla_planner.offline.outputs import verdicts, write_fleet_outputs
    from sla_planner.offline.session import replay
    from sla_planner.offline.sources import build_sources

    path = Path(args.config) if args.config else demo_fleet_path()
    fleet = load_fleet(path)
    _check_forecasters(fleet)
    fs = build_sources(fleet)
    out = _prepare_out(Path(args.out))
    t0 = time.perf_counter()
    n = math.ceil((fs.end - fs.start) / fleet.interval_s - 1e-9)
    with _progress_bar(args.progress, n) as bar:
        replayed = replay(
            fleet,
            fs.sources,
            fs.start,
            fs.end,
            warmup=fs.warmup,
            judge=args.judge,
            progress=lambda k: bar.update(1),
        )
    judged = verdicts(replayed, fleet, fs.sources, args.judge)
    settings = _settings(fleet, path, fs, args.config)
    title = (
        f"sla-planner fleet dry run: {path.name} from {iso(fs.start)} "
        f"({len(fleet.deployments)} deployments, {', '.join(fleet.settings.gpus)})"
    )
    outputs = write_fleet_outputs(
        out, replayed.run, fleet, judged, settings, title, plot=not args.no_plot
    )
    _print_summary(outputs, fleet, time.perf_counter() - t0)
    return 0


def _check_forecasters(fleet: Any) -> None:
    from sla_planner.forecasters.registry import available_forecasters

    names = list(available_forecasters())
    cfg = fleet.source
    for d in cfg.deployments:
        name = d.forecaster or cfg.forecaster
        if name not in names:
            where = f"deployments.{d.name}.forecaster" if d.forecaster else "forecaster"
            raise UsageError(f"{where}: {name!r} is not known; choose one of: {', '.join(names)}")


def _settings(fleet: Any, path: Path, fs: Any, config_arg: str | None) -> dict[str, Any]:
    cfg = fleet.source
    return {
        "config": str(path.resolve()),
        "demo": config_arg is None,
        "start": fs.start,
        "end": fs.end,
        "start_iso": iso(fs.start),
        "end_iso": iso(fs.end),
        "warmup_intervals": fs.warmup,
        "sources": fs.settings,
        "variants": {
            d.name: {
                v.name: {
                    "prefill": f"{v.prefill.profile} on {v.prefill.gpu_type} x{v.prefill.gpus_per_replica}",
                    "decode": f"{v.decode.profile} on {v.decode.gpu_type} x{v.decode.gpus_per_replica}",
                }
                for v in d.variants
            }
            for d in fleet.deployments
        },
        "fleet_config": cfg.model_dump(
            mode="json", exclude={"prometheus", "leader_election", "server", "loop", "log_level"}
        ),
        "profile_warnings": list(fleet.profile_warnings),
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}%"


def _print_summary(outputs: Any, fleet: Any, wall_s: float) -> None:
    r = outputs.report
    f = r["fleet"]
    cfg = fleet.source
    budget = ", ".join(f"{t} {f['peak_gpus_by_type'][t]}/{n}" for t, n in f["budget"].items())
    lines = [
        f"fleet dry run: {len(cfg.deployments)} deployments, {r['settings']['start_iso']} .. "
        f"{r['settings']['end_iso']}, {f['requests']:,.0f} requests",
        *(f"  warning                {w}" for w in r.get("warnings", [])),
        f"  {'deployment':<14}{'class':<10}{'variant':<14}{'GPU-h':>7}{'cost':>9}"
        f"{'attained':>10}{'target':>8}{'preempt':>9}{'cold-delayed':>14}",
    ]
    for name, d in r["deployments"].items():
        cold = d["cold_start"]["delayed_requests"] if d["cold_start"] else 0.0
        lines.append(
            f"  {name:<14}{d['priority']!s:<10}{d['variant_main'] or '-':<14}{d['gpu_hours']:>7.2f}"
            f"{d['cost']:>9.2f}{_pct(d['attainment']):>10}{_pct(d['slo']['attainment']):>8}"
            f"{d['priority_preemptions']:>9}{cold:>14,.0f}"
        )
    for name, text in f.get("slo_shortfalls", {}).items():
        lines.append(f"  {name}: {text}")
    lines += [
        f"  fleet: {f['gpu_hours']:.2f} GPU-hours, cost {f['cost']:.2f}, attainment "
        f"{_pct(f['attainment'])}, SLO-weighted {_pct(f['slo_weighted_attainment'])}",
        f"  peak GPUs / budget: {budget} (budget respected: {f['budget_respected']})",
        f"  attainment by          {r['attainment_method'].split(':')[0].split(' of ')[0]}",
        f"  report                 {outputs.report_json}",
    ]
    est = f.get("model_estimate")
    if est:
        lines.insert(
            -1,
            f"  model estimate         attainment {_pct(est['attainment'])}, SLO-weighted "
            f"{_pct(est['slo_weighted_attainment'])} (closed-loop simulator)",
        )
    if outputs.plot_png is not None:
        lines.append(f"  plot                   {outputs.plot_png}")
    lines.append(f"  decisions              {outputs.report_json.parent / 'decisions'}/")
    lines.append(f"  wall time              {wall_s:.1f} s")
    print("\n".join(lines))
