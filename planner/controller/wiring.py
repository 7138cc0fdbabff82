"""Wire the in-cluster controller from a RunConfig: profiles, planner, demand source, one
actuator per pool, optional Lease leader election, metrics exporter."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sla_planner.controller.clock import Clock
from sla_planner.controller.controller import Controller
from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.controller.health import LoopHealth
from sla_planner.controller.lease_guard import LeaseGuard
from sla_planner.controller.pool_state import LoopSettings
from sla_planner.controller.run_config import RunConfig
from sla_planner.controller.tick_deadline import DeadlineRunner
from sla_planner.errors import CommandError, UsageError
from sla_planner.model.reasons import ErrorKind
from sla_planner.model.types import Pool

log = logging.getLogger("sla_planner.run")


@dataclass
class Runtime:
    """Everything `run` wires together (built separately so tests can drive it)."""

    config: RunConfig
    controller: Controller
    metrics: PlannerMetrics
    clock: Clock
    is_leader: Callable[[], bool]
    elector: Any | None  # sla_planner.controller.leader.LeaderElector
    api_client: Any | None
    reactive: Any | None = None  # sla_planner.controller.reactive_loop.ReactiveLoop

    @property
    def runner(self) -> Any:
        """What runs the loop: the reactive loop around the controller, or the controller."""
        return self.reactive if self.reactive is not None else self.controller

    def close(self) -> None:
        if self.api_client is not None:
            self.api_client.close()


def build_runtime(
    cfg: RunConfig,
    *,
    clock: Clock,
    kubeconfig: str | None = None,
    api_client: Any | None = None,
    source: Any | None = None,
    attainment: Any | None = None,
    queues: Any | None = None,
) -> Runtime:
    """Wire the controller from `cfg`. `api_client`/`source`/`attainment` (the measured
    attainment reader)/`queues` (the reactive path's load reader) override the built ones."""
    from sla_planner.controller import slo_wiring

    planner, curves, decode_curves = _build_planner(cfg)
    if source is None:
        from sla_planner.sources.prometheus_attainment import PrometheusAttainment
        from sla_planner.sources.prometheus_source import PrometheusSource

        source = PrometheusSource(cfg.metrics.prometheus)
        if attainment is None and cfg.planner.slo.attainment is not None:
            attainment = PrometheusAttainment(cfg.metrics.prometheus)
    actuators, api_client = _build_actuators(cfg, api_client, kubeconfig)
    metrics = PlannerMetrics()
    slo = slo_wiring.slo_metrics(cfg, metrics, planner)
    source = slo_wiring.with_attainment(cfg, source, attainment, planner, metrics, slo)
    loop = _loop_settings(cfg)
    deadline = DeadlineRunner("planner")
    health = LoopHealth(_liveness_stale_s(cfg), clock.now, deadline.stuck_for)
    elector, is_leader = _build_elector(cfg, api_client, clock, metrics, health)
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
        loop=loop,
        metrics=metrics,
        is_leader=is_leader,
        write_guard=LeaseGuard(elector.confirm_for_write if elector is not None else None),
        deadline=deadline,
        health=health,
    )
    reactive = slo_wiring.reactive_loop(cfg, controller, queues, (curves, decode_curves), slo)
    return Runtime(cfg, controller, metrics, clock, is_leader, elector, api_client, reactive)


def _build_planner(cfg: RunConfig) -> tuple[Any, Any, Any]:
    """(planner, prefill curves, decode curves) from the config's profile(s)."""
    from sla_planner.model.size.correction import CorrectedCurves, CorrectingPlanner
    from sla_planner.model.slo_planner import make_planner
    from sla_planner.profiles.errors import ProfileError
    from sla_planner.profiles.interpolation import ProfileCurves
    from sla_planner.profiles.registry import load_profile

    def load(key: str, name: str) -> Any:
        try:
            return ProfileCurves(load_profile(name))
        except ProfileError as exc:
            raise UsageError(f"{key} {name!r}: {exc}") from None

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
            planner: Any = CorrectingPlanner(
                make_planner(cfg.planner, corrected, decode_curves=corrected_decode),
                corrected,
                decode_curves=corrected_decode,
            )
        else:
            planner = make_planner(cfg.planner, curves, decode_curves=decode_curves)
    except ValueError as exc:  # e.g. pool minimums that cannot fit the GPU budget
        raise UsageError(f"planner settings: {exc}") from None
    for warning in getattr(planner, "config_warnings", ()) or ():
        log.warning("config_warning %s", warning)
    return planner, curves, decode_curves


def _build_actuators(
    cfg: RunConfig, api_client: Any | None, kubeconfig: str | None
) -> tuple[dict[Pool, Any], Any | None]:
    """One actuator per pool, and the Kubernetes client when anything needs one."""
    from sla_planner.actuators.factory import build_actuator

    targets = {Pool.PREFILL: cfg.targets.prefill, Pool.DECODE: cfg.targets.decode}
    needs_kube = cfg.leader_election.enabled or any(
        t.kind != "MetricsOnly" or t.observe is not None for t in targets.values()
    )
    if api_client is None and needs_kube:
        from sla_planner.actuators.kube_client import KubeConfigError, load_api_client

        try:
            api_client = load_api_client(kubeconfig)
        except KubeConfigError as exc:
            raise CommandError(str(exc)) from None
    actuators = {p: build_actuator(t, api_client, pool=p.value) for p, t in targets.items()}
    return actuators, api_client


def _build_elector(
    cfg: RunConfig, api_client: Any | None, clock: Clock, metrics: PlannerMetrics, health: Any
) -> tuple[Any | None, Callable[[], bool]]:
    """(Lease elector, is_leader) when leader election is on; else (None, always leader).
    The elector renews only while the loop is healthy (leadership follows the loop)."""
    le = cfg.leader_election
    if not le.enabled:
        return None, lambda: True
    from kubernetes import client

    from sla_planner.controller.leader import LeaderElector

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
        on_error=lambda _why: metrics.count_error(ErrorKind.LEADER_ELECTION),
        loop_problem=health.problem,
    )
    return elector, elector.is_leader


def _loop_settings(cfg: RunConfig) -> LoopSettings:
    lc = cfg.loop
    return LoopSettings(
        prefill_interval_s=lc.prefill_interval_s,
        decode_interval_s=lc.decode_interval_s,
        retry_interval_s=lc.retry_interval_s,
        startup_grace_s=lc.startup_grace_s,
        backfill_intervals=lc.backfill_intervals,
        tick_deadline_s=lc.tick_deadline_s,
        liveness_stale_s=_liveness_stale_s(cfg),
        max_step_factor=lc.max_step_factor,
    )


def _liveness_stale_s(cfg: RunConfig) -> float:
    lc = cfg.loop
    intervals = [x for x in (lc.prefill_interval_s, lc.decode_interval_s) if x is not None]
    shortest = min([cfg.planner.interval_s, *intervals])
    return lc.liveness_stale_intervals * shortest
