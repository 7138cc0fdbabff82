"""Wire the fleet controller from a fleet run file: per deployment a planner sizing every
variant and a Prometheus source with its own selector; per variant one actuator per pool;
optional Lease leader election; the fleet's metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sla_planner.controller.clock import Clock
from sla_planner.controller.demand_feed import DemandFeed
from sla_planner.controller.fleet_controller import FleetController
from sla_planner.controller.fleet_exporter import FleetMetrics
from sla_planner.controller.fleet_pools import POOL_ORDER, DeploymentRuntime, FleetPool, PoolKey
from sla_planner.controller.fleet_run_config import FleetRunConfig
from sla_planner.controller.health import LoopHealth
from sla_planner.controller.lease_guard import LeaseGuard
from sla_planner.controller.pool_state import LoopSettings, PoolState
from sla_planner.controller.tick_deadline import DeadlineRunner
from sla_planner.controller.wiring import _build_elector
from sla_planner.errors import CommandError
from sla_planner.model.fleet.plan import FleetSettings
from sla_planner.model.fleet.planning import DeploymentPlanner
from sla_planner.sources.base import MetricsSource
from sla_planner.sources.fleet_file import LoadedFleet, deployment_prometheus

log = logging.getLogger("sla_planner.run")


@dataclass
class FleetRuntime:
    """Everything `run` wires for a fleet (built separately so tests can drive it)."""

    config: FleetRunConfig
    controller: FleetController
    metrics: FleetMetrics
    clock: Clock
    is_leader: Callable[[], bool]
    elector: Any | None  # sla_planner.controller.leader.LeaderElector
    api_client: Any | None

    def close(self) -> None:
        if self.api_client is not None:
            self.api_client.close()


def build_fleet_runtime(
    loaded: LoadedFleet[FleetRunConfig],
    *,
    clock: Clock,
    kubeconfig: str | None = None,
    api_client: Any | None = None,
    sources: Mapping[str, MetricsSource] | None = None,
    logger: logging.Logger | None = None,
) -> FleetRuntime:
    """Wire the fleet controller. `api_client`/`sources` (per deployment) override the built
    ones (tests)."""
    cfg = loaded.config
    api_client = _api_client(cfg, api_client, kubeconfig)
    metrics = FleetMetrics()
    loop = _loop_settings(cfg)
    deadline = DeadlineRunner("fleet planner")
    assert loop.liveness_stale_s is not None
    health = LoopHealth(loop.liveness_stale_s, clock.now, deadline.stuck_for)
    elector, is_leader = _build_elector(cfg, api_client, clock, metrics, health)  # type: ignore[arg-type]
    deployments = [
        _deployment(loaded, d.name, api_client, metrics, (sources or {}).get(d.name), loop)
        for d in cfg.deployments
    ]
    controller = FleetController(
        deployments=deployments,
        settings=FleetSettings.from_config(cfg),
        clock=clock,
        interval_s=cfg.interval_s,
        loop=loop,
        metrics=metrics,
        is_leader=is_leader,
        logger=logger,
        write_guard=LeaseGuard(elector.confirm_for_write if elector is not None else None),
        deadline=deadline,
        health=health,
    )
    return FleetRuntime(cfg, controller, metrics, clock, is_leader, elector, api_client)


def _deployment(
    loaded: LoadedFleet[FleetRunConfig],
    name: str,
    api_client: Any | None,
    metrics: FleetMetrics,
    source: MetricsSource | None,
    loop: LoopSettings,
) -> DeploymentRuntime:
    from sla_planner.actuators.factory import build_actuator

    cfg = loaded.config
    d = next(x for x in cfg.deployments if x.name == name)
    engines = loaded.variants[name]
    planner = DeploymentPlanner(d, cfg, engines)
    if source is None:
        from sla_planner.sources.prometheus_source import PrometheusSource

        source = PrometheusSource(deployment_prometheus(cfg, d))
    keep = min(loop.backfill_intervals, planner.config.history_window)
    feed = DemandFeed(planner, source, metrics.scoped(name), log, cfg.interval_s, keep)  # type: ignore[arg-type]
    pools: dict[Any, FleetPool] = {}
    for v, e in zip(d.variants, engines, strict=True):
        for p, engine in zip(POOL_ORDER, (e.prefill, e.decode), strict=True):
            key = PoolKey(name, v.name, p)
            target = getattr(v.targets, p.value)
            actuator = build_actuator(target, api_client, pool=str(key))
            state = PoolState(p, cfg.interval_s, next_due=float("-inf"))
            pools[(v.name, p)] = FleetPool(
                key, engine.gpu_type, engine.gpus_per_replica, actuator, state
            )
    return DeploymentRuntime(
        name, cfg.rank(d), planner, feed, pools, tuple(v.name for v in d.variants)
    )


def _api_client(cfg: FleetRunConfig, api_client: Any | None, kubeconfig: str | None) -> Any:
    targets = [
        getattr(v.targets, p) for d in cfg.deployments for v in d.variants for p in ("prefill", "decode")
    ]  # fmt: skip
    needs_kube = cfg.leader_election.enabled or any(
        t.kind != "MetricsOnly" or t.observe is not None for t in targets
    )
    if api_client is None and needs_kube:
        from sla_planner.actuators.kube_client import KubeConfigError, load_api_client

        try:
            return load_api_client(kubeconfig)
        except KubeConfigError as exc:
            raise CommandError(str(exc)) from None
    return api_client


def _loop_settings(cfg: FleetRunConfig) -> LoopSettings:
    lc = cfg.loop
    return LoopSettings(
        retry_interval_s=lc.retry_interval_s,
        startup_grace_s=lc.startup_grace_s,
        backfill_intervals=lc.backfill_intervals,
        tick_deadline_s=lc.tick_deadline_s,
        liveness_stale_s=lc.liveness_stale_intervals * cfg.interval_s,
        max_step_factor=lc.max_step_factor,
    )
