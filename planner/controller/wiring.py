"""Wire the in-cluster controller from a resolved `Fleet` (a run config is a fleet of one): the
planner; per deployment a Prometheus source with its selector (feeding measured attainment to
its error budget when it has an SLO target) and, with `queues`, its reactive path; per pool of
every variant one actuator; optional Lease leader election; the metrics exporter."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sla_planner.config.fleet import DeploymentSpec, Fleet
from sla_planner.controller.clock import Clock
from sla_planner.controller.controller import Controller
from sla_planner.controller.demand_feed import DemandFeed
from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.controller.health import LoopHealth
from sla_planner.controller.lease_guard import LeaseGuard
from sla_planner.controller.pool_state import LoopSettings, PoolState
from sla_planner.controller.pools import POOL_ORDER, ControlledPool, DeploymentRuntime, PoolKey
from sla_planner.controller.reactive_loop import ReactiveLoop, ReactivePath
from sla_planner.controller.slo_feed import AttainmentFeed, SloMetrics
from sla_planner.controller.tick_deadline import DeadlineRunner
from sla_planner.errors import CommandError
from sla_planner.model.planner import Planner
from sla_planner.model.reasons import ErrorKind
from sla_planner.model.types import Pool

log = logging.getLogger("sla_planner.run")


@dataclass
class Runtime:
    """Everything `run` wires together (built separately so tests can drive it)."""

    fleet: Fleet
    controller: Controller
    metrics: PlannerMetrics
    clock: Clock
    is_leader: Callable[[], bool]
    elector: Any | None  # sla_planner.controller.leader.LeaderElector
    api_client: Any | None
    reactive: ReactiveLoop | None = None

    @property
    def config(self) -> Any:
        """The file it was built from (a RunConfig or a FleetFile)."""
        return self.fleet.source

    @property
    def runner(self) -> Any:
        """What runs the loop: the reactive loop around the controller, or the controller."""
        return self.reactive if self.reactive is not None else self.controller

    def close(self) -> None:
        if self.api_client is not None:
            self.api_client.close()


def build_runtime(
    fleet: Fleet,
    *,
    clock: Clock,
    kubeconfig: str | None = None,
    api_client: Any | None = None,
    sources: Mapping[str, Any] | None = None,
    attainment: Mapping[str, Any] | None = None,
    queues: Mapping[str, Any] | None = None,
    in_flight: Mapping[str, Any] | None = None,
    logger: logging.Logger | None = None,
) -> Runtime:
    """Wire the controller from `fleet`. `api_client`, and per deployment `sources`,
    `attainment` (the measured attainment reader), `queues` (the reactive path's load reader)
    and `in_flight` (the drain's per-pod gauge reader), override the built ones (tests)."""
    cfg = fleet.source
    api_client = _api_client(fleet, api_client, kubeconfig)
    metrics = PlannerMetrics()
    loop = loop_settings(fleet)
    planner = fleet.planner(latency_correction=cfg.loop.latency_correction)
    for d in planner.deployments.values():
        for warning in d.config_warnings:
            log.warning("config_warning deployment=%s %s", d.name, warning)
    slo = _slo_metrics(fleet, metrics, planner)
    deadline = DeadlineRunner("planner")
    assert loop.liveness_stale_s is not None
    health = LoopHealth(loop.liveness_stale_s, clock.now, deadline.stuck_for)
    elector, is_leader = build_elector(cfg, api_client, clock, metrics, health)
    runtimes = [
        _deployment(fleet, d, planner, api_client, metrics, loop, slo, sources, attainment)
        for d in fleet.deployments
    ]
    for rt in runtimes:
        _attach_drains(rt, api_client, metrics, (in_flight or {}).get(rt.name))
    controller = Controller(
        planner=planner,
        deployments=runtimes,
        clock=clock,
        loop=loop,
        metrics=metrics,
        is_leader=is_leader,
        logger=logger,
        write_guard=LeaseGuard(elector.confirm_for_write if elector is not None else None),
        deadline=deadline,
        health=health,
        startup_s=fleet.deployments[0].config.startup_s,
    )
    reactive = _reactive(fleet, controller, queues or {}, slo)
    return Runtime(fleet, controller, metrics, clock, is_leader, elector, api_client, reactive)


def _deployment(
    fleet: Fleet,
    d: DeploymentSpec,
    planner: Planner,
    api_client: Any | None,
    metrics: PlannerMetrics,
    loop: LoopSettings,
    slo: SloMetrics | None,
    sources: Mapping[str, Any] | None,
    attainment: Mapping[str, Any] | None,
) -> DeploymentRuntime:
    from sla_planner.actuators.factory import build_actuator

    cfg = d.config
    source = (sources or {}).get(d.name)
    reader = (attainment or {}).get(d.name)
    if source is None:
        from sla_planner.sources.prometheus_attainment import PrometheusAttainment
        from sla_planner.sources.prometheus_source import PrometheusSource

        source = PrometheusSource(d.prometheus)
        if d.queues is not None:  # the engines' gauges confirm (or not) a jump in demand
            from sla_planner.sources.prometheus_gauges import EngineGauges, EngineGaugeSource

            source = EngineGaugeSource(source, EngineGauges(d.prometheus, d.queues))
        if reader is None and cfg.slo.attainment is not None:
            reader = PrometheusAttainment(d.prometheus)
    scoped = metrics.scoped(d.name)
    if cfg.slo.attainment is not None and reader is not None:
        targets = (cfg.slo.ttft_ms, cfg.slo.itl_ms)
        source = AttainmentFeed(source, reader, planner, targets, slo, scoped.count_error, d.name)
    keep = min(loop.backfill_intervals, cfg.history_window)

    def observe(sample: Any, name: str = d.name) -> str | None:
        return planner.observe(sample, name)

    feed = DemandFeed(observe, source, scoped, log, cfg.interval_s, keep)
    intervals = {Pool.PREFILL: loop.prefill_interval_s, Pool.DECODE: loop.decode_interval_s}
    pools: dict[tuple[str, Pool], ControlledPool] = {}
    for v in d.variants:
        targets = d.targets[v.name]
        for p, engine in zip(POOL_ORDER, (v.prefill, v.decode), strict=True):
            key = PoolKey(d.name, v.name, p)
            label = p.value if fleet.single else str(key)
            actuator = build_actuator(getattr(targets, p.value), api_client, pool=label)
            state = PoolState(p, intervals[p] or cfg.interval_s, next_due=float("-inf"))
            pools[(v.name, p)] = ControlledPool(
                key, engine.gpu_type, engine.gpus_per_replica, actuator, state
            )
    return DeploymentRuntime(d, feed, pools)


def _attach_drains(
    rt: DeploymentRuntime, api_client: Any | None, metrics: PlannerMetrics, reader: Any | None
) -> None:
    """With the engines' in-flight gauges configured (`drain`), every pool that scales an
    object drains before it is lowered; without, nothing changes."""
    cfg = rt.spec.drain
    if cfg is None:
        return
    from sla_planner.actuators.factory import build_replica_pods
    from sla_planner.controller.drain import PoolDrainer

    if reader is None:
        from sla_planner.sources.prometheus_in_flight import InFlightReader

        reader = InFlightReader(
            rt.spec.prometheus, gauge=cfg.gauge, query=cfg.query, selector=cfg.selector,
            pod_label=cfg.pod_label, namespace_label=cfg.namespace_label,
        )  # fmt: skip
    scoped = metrics.scoped(rt.name)
    for (variant, p), fp in rt.pools.items():
        target = getattr(rt.spec.targets[variant], p.value)
        pods = build_replica_pods(target, api_client, serving_label=cfg.serving_label)
        if pods is None:  # MetricsOnly: the planner lowers nothing itself
            continue
        key = fp.key

        def count(outcome: str, key: PoolKey = key) -> None:
            metrics.count_drain(outcome, key.deployment, key.variant, key.pool.value)

        fp.drain = PoolDrainer(
            str(key), pods, reader, timeout_s=cfg.drain_timeout_s, settle_s=cfg.settle_s,
            log=log, count_error=scoped.count_error, count_drain=count,
        )  # fmt: skip
    log.info(
        "drain=on deployment=%s gauge=%s timeout_s=%g serving_label=%s",
        rt.name, cfg.gauge if cfg.query is None else "query", cfg.drain_timeout_s,
        cfg.serving_label or "-",
    )  # fmt: skip


def _slo_metrics(fleet: Fleet, metrics: PlannerMetrics, planner: Planner) -> SloMetrics | None:
    """The SLO gauges, when some deployment has an SLO target or a reactive path to report."""
    used = [
        d
        for d in fleet.deployments
        if d.config.slo.attainment is not None or d.config.reactive.enabled
    ]
    if not used:
        return None
    m = SloMetrics(metrics.registry)
    for d in used:
        m.start(d.name)
        status = planner.deployment(d.name).budget_status
        if status is not None:
            m.update(status, d.name)
    return m


def _reactive(
    fleet: Fleet, controller: Controller, readers: Mapping[str, Any], slo: SloMetrics | None
) -> ReactiveLoop | None:
    """The reactive loop around `controller` over the deployments that have one, or None."""
    from sla_planner.model.reactive import capacity

    paths = {}
    for d in fleet.deployments:
        cfg = d.config
        if not cfg.reactive.enabled:
            continue
        reader = readers.get(d.name)
        if reader is None:
            if d.queues is None:
                log.info(
                    "reactive_path=off deployment=%s: set its queues (prefill_selector, "
                    "decode_selector) to read the engines' queues every %g s",
                    d.name,
                    cfg.reactive.interval_s,
                )
                continue
            from sla_planner.sources.prometheus_queues import QueueReader

            reader = QueueReader(d.prometheus, d.queues)

        def cap(variant: str, isl: float, osl: float, spec: DeploymentSpec = d) -> Any:
            e = spec.engines(variant)
            return capacity(e.prefill.curves, e.decode.curves, isl, osl, spec.config.slo.itl_ms)

        limits = (cfg.prefill.max_replicas, cfg.decode.max_replicas)
        paths[d.name] = ReactivePath(reader, cfg.reactive, cap, cfg.slo.ttft_ms, limits)
    return ReactiveLoop(controller, paths, slo) if paths else None


def _api_client(fleet: Fleet, api_client: Any | None, kubeconfig: str | None) -> Any:
    targets = [
        getattr(t, p) for d in fleet.deployments for t in d.targets.values() for p in ("prefill", "decode")
    ]  # fmt: skip
    needs_kube = fleet.source.leader_election.enabled or any(
        t.kind != "MetricsOnly" or t.observe is not None for t in targets
    )
    if api_client is None and needs_kube:
        from sla_planner.actuators.kube_client import KubeConfigError, load_api_client

        try:
            return load_api_client(kubeconfig)
        except KubeConfigError as exc:
            raise CommandError(str(exc)) from None
    return api_client


def build_elector(
    cfg: Any, api_client: Any | None, clock: Clock, metrics: PlannerMetrics, health: Any
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


def loop_settings(fleet: Fleet) -> LoopSettings:
    lc = fleet.source.loop
    intervals = [x for x in (lc.prefill_interval_s, lc.decode_interval_s) if x is not None]
    shortest = min([fleet.interval_s, *intervals])
    return LoopSettings(
        prefill_interval_s=lc.prefill_interval_s,
        decode_interval_s=lc.decode_interval_s,
        retry_interval_s=lc.retry_interval_s,
        startup_grace_s=lc.startup_grace_s,
        backfill_intervals=lc.backfill_intervals,
        tick_deadline_s=lc.tick_deadline_s,
        liveness_stale_s=lc.liveness_stale_intervals * shortest,
        max_step_factor=lc.max_step_factor,
    )
