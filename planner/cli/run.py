"""`sla-planner run --config FILE [--once] [--kubeconfig PATH]`: the in-cluster control loop.

Builds everything from the RunConfig (profile, planner, Prometheus source, one actuator per
pool, optional Lease leader election), serves the HTTP API in a background thread and runs the
controller in the main thread until SIGTERM/SIGINT. `--once` runs a single tick, prints the
decision as JSON and exits (handy to check a config against a cluster).
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from typing import Any

from sla_planner.cli.logs import configure_logging
from sla_planner.cli.serve import serve_until_stopped, tick_holding_lease
from sla_planner.controller.clock import RealClock
from sla_planner.controller.wiring import Runtime, build_runtime
from sla_planner.errors import CommandError

log = logging.getLogger("sla_planner.run")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the planner as an in-cluster controller (or metrics exporter)",
        description=(
            "Run the control loop: read demand from Prometheus, decide prefill/decode replicas "
            "under the GPU budget, scale the targets (or publish for HPA/KEDA), and serve "
            "/metrics, /healthz, /readyz, /api/v1/decision. Stops cleanly on SIGTERM."
        ),
    )
    p.add_argument(
        "--config",
        required=True,
        metavar="FILE",
        help="run config YAML, or a fleet file (with deployments:) to plan many deployments",
    )
    p.add_argument(
        "--once", action="store_true", help="run one tick, print the decision JSON, exit"
    )
    p.add_argument(
        "--kubeconfig",
        metavar="PATH",
        default=None,
        help="kubeconfig to use (default: in-cluster ServiceAccount, else $KUBECONFIG)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sla_planner.config.resolve import load_config

    fleet = load_config(args.config)  # a run config, or a fleet file (with deployments:)
    configure_logging(fleet.source.log_level)
    for warning in fleet.profile_warnings:
        log.warning("profile_warning %s", warning)
    stop = threading.Event()
    rt = build_runtime(fleet, clock=RealClock(stop), kubeconfig=args.kubeconfig)
    try:
        if args.once:
            return _run_once(rt)
        return _serve(rt, stop)
    finally:
        rt.close()


def _run_once(rt: Runtime) -> int:
    from sla_planner.controller.api_models import decision_out, fleet_out

    snap = tick_holding_lease(rt.elector, lambda: rt.controller.tick(force=True))
    fleet = None if rt.fleet.single else fleet_out(snap)
    out = decision_out(snap.single()) if rt.fleet.single else fleet
    if out is None or (fleet is not None and not fleet.deployments):
        reasons = "; ".join(
            f"{fp.pool.pool}: {fp.pool.reason}"
            if rt.fleet.single
            else f"{name}/{v}/{p}: {fp.pool.reason}"
            for name, d in snap.deployments.items()
            for v, pools in d.pools.items()
            for p, fp in pools.items()
        )
        raise CommandError(f"no decision could be made ({reasons})")
    print(json.dumps(out.model_dump(exclude_unset=True), indent=2))  # drain: only while one runs
    return 0


def _serve(rt: Runtime, stop: threading.Event) -> int:
    from sla_planner.controller.api import create_app

    cfg = rt.config

    def make_app() -> Any:
        return create_app(
            snapshot=rt.controller.snapshot,
            metrics=rt.metrics,
            clock=rt.clock,
            is_leader=rt.is_leader,
            stale_after_s=cfg.loop.ready_stale_intervals * rt.fleet.interval_s,
            health=rt.controller.health.problem,
            single=rt.fleet.single,
        )

    return serve_until_stopped(
        stop,
        rt.runner.run,
        rt.elector,
        make_app if cfg.server.enabled else None,
        cfg.server.host,
        cfg.server.port,
    )
