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
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from planner.clock import Clock, RealClock
from planner.exporter import PlannerMetrics
from planner.run_config import RunConfig, RunConfigError, load_run_config
from planner.runtime import Controller, LoopSettings
from planner.types import Pool

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
    p.add_argument("--config", required=True, metavar="FILE", help="run config YAML")
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


@dataclass
class Runtime:
    """Everything `run` wires together (built separately so tests can drive it)."""

    config: RunConfig
    controller: Controller
    metrics: PlannerMetrics
    clock: Clock
    is_leader: Callable[[], bool]
    elector: Any | None  # planner.leader.LeaderElector
    api_client: Any | None

    def close(self) -> None:
        if self.api_client is not None:
            self.api_client.close()


def _usage(message: str) -> Exception:
    from planner.cli import UsageError  # imported late: cli imports this module

    return UsageError(message)


def _command_error(message: str) -> Exception:
    from planner.cli import CommandError

    return CommandError(message)


def build_runtime(
    cfg: RunConfig,
    *,
    clock: Clock,
    kubeconfig: str | None = None,
    api_client: Any | None = None,
    source: Any | None = None,
) -> Runtime:
    """Wire the controller from `cfg`. `api_client`/`source` override the built ones (tests)."""
    from actuators.factory import build_actuator
    from planner.core import Planner
    from planner.correction import CorrectedCurves, CorrectingPlanner
    from profiles import ProfileCurves, ProfileError, load_profile

    def load(key: str, name: str) -> Any:
        try:
            return ProfileCurves(load_profile(name))
        except ProfileError as exc:
            raise _usage(f"{key} {name!r}: {exc}") from None

    curves = load("profile", cfg.profile)
    # No decode_profile: the decode pool runs the same engine config as prefill.
    decode_curves = (
        curves if cfg.decode_profile is None else load("decode_profile", cfg.decode_profile)
    )
    try:
        if cfg.loop.latency_correction:
            # Live engines drift from their profile; learn observed/expected latency (bounded,
            # smoothed) and size with the corrected curves. No-op when metrics lack latency.
            # Each pool's factor must scale its own profile, hence one wrapper per profile.
            corrected = CorrectedCurves(curves)
            corrected_decode = (
                corrected if decode_curves is curves else CorrectedCurves(decode_curves)
            )
            planner = CorrectingPlanner(
                Planner(cfg.planner, corrected, decode_curves=corrected_decode),
                corrected,
                decode_curves=corrected_decode,
            )
        else:
            planner = Planner(cfg.planner, curves, decode_curves=decode_curves)
    except ValueError as exc:  # e.g. pool minimums that cannot fit the GPU budget
        raise _usage(f"planner settings: {exc}") from None
    for warning in getattr(planner, "config_warnings", ()) or ():
        log.warning("config_warning %s", warning)

    if source is None:
        from planner.prometheus_source import PrometheusSource

        source = PrometheusSource(cfg.metrics.prometheus)

    targets = {Pool.PREFILL: cfg.targets.prefill, Pool.DECODE: cfg.targets.decode}
    needs_kube = cfg.leader_election.enabled or any(
        t.kind != "MetricsOnly" or t.observe is not None for t in targets.values()
    )
    if api_client is None and needs_kube:
        from actuators.kube_client import KubeConfigError, load_api_client

        try:
            api_client = load_api_client(kubeconfig)
        except KubeConfigError as exc:
            raise _command_error(str(exc)) from None
    actuators = {p: build_actuator(t, api_client, pool=p.value) for p, t in targets.items()}

    metrics = PlannerMetrics()
    elector = None
    is_leader: Callable[[], bool] = lambda: True  # noqa: E731 - no election: always acts
    le = cfg.leader_election
    if le.enabled:
        from kubernetes import client

        from planner.leader import LeaderElector

        elector = LeaderElector(
            client.CoordinationV1Api(api_client),
            namespace=le.resolved_namespace(),
            name=le.lease_name,
            identity=le.resolved_identity(),
            clock=clock,
            lease_duration_s=le.lease_duration_s,
            renew_deadline_s=le.renew_deadline_s,
            retry_period_s=le.retry_period_s,
            on_change=metrics.set_leader,
            on_error=lambda _why: metrics.count_error("leader_election"),
        )
        is_leader = elector.is_leader
    lc = cfg.loop
    controller = Controller(
        planner=planner,
        source=source,
        actuators=actuators,
        clock=clock,
        config=cfg.planner,
        gpus_per_replica={
            Pool.PREFILL: curves.gpus_per_replica,
            Pool.DECODE: decode_curves.gpus_per_replica,
        },
        loop=LoopSettings(
            prefill_interval_s=lc.prefill_interval_s,
            decode_interval_s=lc.decode_interval_s,
            retry_interval_s=lc.retry_interval_s,
            startup_grace_s=lc.startup_grace_s,
            conflict_retries=lc.conflict_retries,
            backfill_intervals=lc.backfill_intervals,
        ),
        metrics=metrics,
        is_leader=is_leader,
    )
    return Runtime(cfg, controller, metrics, clock, is_leader, elector, api_client)


def configure_logging(level: str) -> None:
    # One line per event, key=value after the logger name: greppable and parseable.
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
    )


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_run_config(args.config)
    except RunConfigError as exc:
        raise _usage(str(exc)) from None
    configure_logging(cfg.log_level)
    stop = threading.Event()
    clock = RealClock(stop)
    rt = build_runtime(cfg, clock=clock, kubeconfig=args.kubeconfig)
    try:
        if args.once:
            return _run_once(rt)
        return _serve(rt, stop)
    finally:
        rt.close()


def _run_once(rt: Runtime) -> int:
    from planner.api import decision_out

    if rt.elector is not None:
        rt.elector.try_acquire_or_renew()
    try:
        snap = rt.controller.tick(force=True)
    finally:
        if rt.elector is not None:
            rt.elector.release()
    out = decision_out(snap)
    if out is None:
        reasons = f"prefill: {snap.prefill.reason}; decode: {snap.decode.reason}"
        raise _command_error(f"no decision could be made ({reasons})")
    print(json.dumps(out.model_dump(), indent=2))
    return 0


def _serve(rt: Runtime, stop: threading.Event) -> int:
    from planner.api import ApiServer, create_app

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("shutdown signal=%s: finishing the current tick", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    server = None
    elector_thread = None
    try:
        if rt.config.server.enabled:
            app = create_app(
                snapshot=rt.controller.snapshot,
                metrics=rt.metrics,
                clock=rt.clock,
                is_leader=rt.is_leader,
                stale_after_s=rt.config.loop.ready_stale_intervals * rt.config.planner.interval_s,
            )
            server = ApiServer(app, rt.config.server.host, rt.config.server.port).start()
            log.info("api_listening url=%s", server.url)
        if rt.elector is not None:
            elector_thread = threading.Thread(
                target=rt.elector.run, args=(stop,), name="leader-election", daemon=True
            )
            elector_thread.start()
        rt.controller.run(stop)
    finally:
        stop.set()
        if elector_thread is not None:
            elector_thread.join(timeout=10)  # releases the Lease on its way out
        if server is not None:
            server.stop()
        for s, h in previous.items():
            signal.signal(s, h)
        log.info("stopped")
    return 0
