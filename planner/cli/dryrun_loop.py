"""Which loop a dry run replays demand through.

- With an attainment target (`--attainment`, default 0.99), the discrete-event judge
  (`--judge des`, default) and a trace source: the closed loop
  (sla_planner.offline.closed_loop), the judge as the plant the SLO planner controls, with the
  reactive path between decisions unless it is turned off.
- Otherwise the open loop (sla_planner.offline.dryrun): decisions from demand alone, judged
  afterwards. `--attainment off` is exactly the planner and dry run before SLO targeting.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def closed_loop_wanted(args: argparse.Namespace, spec: Any, config: Any) -> bool:
    from sla_planner.sources.trace_source import TraceMetricsSource

    return (
        args.judge == "des"
        and config.slo.attainment is not None
        and isinstance(spec.source, TraceMetricsSource)
    )


def replay(
    args: argparse.Namespace,
    spec: Any,
    profiles: Any,
    config: Any,
    warmup: int,
    progress: Callable[[int], None],
) -> Any:
    """DryRunResult (open loop) or ClosedLoopResult (closed loop)."""
    from sla_planner.model.slo_planner import make_planner

    planner = make_planner(config, profiles.prefill_curves, decode_curves=profiles.decode_curves)
    if not closed_loop_wanted(args, spec, config):
        from sla_planner.offline.dryrun import run_dry_run

        return run_dry_run(
            spec.source,
            planner,
            spec.start,
            spec.end,
            args.interval_s,
            progress=progress,
            warmup_intervals=warmup,
        )
    from sla_planner.offline.closed_loop import build_judge, reactive_hook, run_closed_loop

    judge = build_judge(
        spec.source,
        spec.start,
        spec.end,
        profiles.prefill,
        profiles.decode,
        config,
        seed=spec.source.seed,
    )
    return run_closed_loop(
        spec.source,
        planner,
        judge,
        spec.start,
        spec.end,
        args.interval_s,
        reactive=reactive_hook(config, profiles.prefill_curves, profiles.decode_curves),
        progress=progress,
        warmup_intervals=warmup,
    )
