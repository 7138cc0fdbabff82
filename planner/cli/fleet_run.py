"""`sla-planner run --config FLEET.yaml`: the fleet control loop (a fleet file is one with
`deployments:`; see sla_planner.controller.fleet_run_config).

Builds the fleet controller (a planner and a Prometheus selector per deployment, an actuator
per pool of every variant, optional Lease leader election), serves the fleet's HTTP API in a
background thread and runs the loop in the main thread until SIGTERM/SIGINT. `--once` runs one
tick, prints the fleet's decision as JSON and exits.
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
from sla_planner.controller.fleet_run_config import load_fleet_run_config
from sla_planner.controller.fleet_wiring import FleetRuntime, build_fleet_runtime
from sla_planner.errors import CommandError

log = logging.getLogger("sla_planner.run")


def run_fleet(args: argparse.Namespace) -> int:
    loaded = load_fleet_run_config(args.config)
    configure_logging(loaded.config.log_level)
    for warning in dict.fromkeys(loaded.profile_warnings):
        log.warning("profile_warning %s", warning)
    stop = threading.Event()
    rt = build_fleet_runtime(loaded, clock=RealClock(stop), kubeconfig=args.kubeconfig)
    try:
        if args.once:
            return _run_once(rt)
        return _serve(rt, stop)
    finally:
        rt.close()


def _run_once(rt: FleetRuntime) -> int:
    from sla_planner.controller.fleet_api import fleet_out

    snap = tick_holding_lease(rt.elector, lambda: rt.controller.tick(force=True))
    out = fleet_out(snap)
    if out is None or not out.deployments:
        reasons = "; ".join(
            f"{name}/{v}/{p}: {fp.pool.reason}"
            for name, d in snap.deployments.items()
            for v, pools in d.pools.items()
            for p, fp in pools.items()
        )
        raise CommandError(f"no decision could be made ({reasons})")
    print(json.dumps(out.model_dump(), indent=2))
    return 0


def _serve(rt: FleetRuntime, stop: threading.Event) -> int:
    from sla_planner.controller.fleet_api import create_fleet_app

    cfg = rt.config

    def make_app() -> Any:
        return create_fleet_app(
            snapshot=rt.controller.snapshot,
            metrics=rt.metrics,
            clock=rt.clock,
            is_leader=rt.is_leader,
            stale_after_s=cfg.loop.ready_stale_intervals * cfg.interval_s,
            health=rt.controller.health.problem,
        )

    return serve_until_stopped(
        stop,
        rt.controller.run,
        rt.elector,
        make_app if cfg.server.enabled else None,
        cfg.server.host,
        cfg.server.port,
    )
