"""What a config file resolves to: the fleet to plan, every deployment with its planner settings,
its variants' engines and profiles, its demand and (in a cluster) its targets. A single
deployment is a fleet of one (`single=True` keeps its outputs in the single-deployment shapes:
decisions.csv, the decision endpoint's `prefill.desiredReplicas`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sla_planner.model.allocate.plan import FleetSettings
from sla_planner.model.config import PlannerConfig
from sla_planner.model.deployment import DeploymentPlanner
from sla_planner.model.planner import Allocator, Planner
from sla_planner.model.size.latency_curves import Curves
from sla_planner.model.size.variant import Engine, VariantEngines
from sla_planner.model.types import DEFAULT_DEPLOYMENT, DEFAULT_VARIANT


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    config: PlannerConfig  # its planner's settings (SLO, interval, limits, budget, ...)
    variants: tuple[VariantEngines, ...]  # the first is the default
    profiles: Mapping[str, tuple[Any, Any]]  # per variant: prefill and decode EngineProfile
    rank: int = 0  # priority rank, 0 first
    priority: int | str = 0  # as the file names it
    idle_window_s: float | None = None  # scale to zero (pools with min_replicas 0)
    demand: Any = None  # the file's demand source (trace or Prometheus), for the sources
    targets: Mapping[str, Any] = field(default_factory=dict)  # per variant: TargetsConfig
    queues: Any = None  # where the reactive path reads the engines' queues (QueueConfig)
    drain: Any = None  # the engines' in-flight gauges and the drain's knobs (DrainConfig)
    prometheus: Any = None  # its PrometheusConfig (the server with its selector)

    def engines(self, variant: str) -> VariantEngines:
        return next(v for v in self.variants if v.name == variant)

    def planner(self, *, latency_correction: bool = False, **kw: Any) -> DeploymentPlanner:
        return DeploymentPlanner(
            self.name,
            self.config,
            self.variants,
            rank=self.rank,
            idle_window_s=self.idle_window_s,
            latency_correction=latency_correction,
            **kw,
        )


@dataclass(frozen=True)
class Fleet:
    deployments: tuple[DeploymentSpec, ...]
    settings: FleetSettings  # GPUs and prices per type, startup, hysteresis
    single: bool = False  # written as one deployment (a run config, dry-run flags)
    run: Any = None  # the controller's settings (loop, leader election, server, log level)
    source: Any = None  # the file's own settings (FleetFile or RunConfig)
    base_dir: Any = None  # relative paths in the file are beside it (a Path)
    profile_warnings: tuple[str, ...] = ()

    def deployment(self, name: str) -> DeploymentSpec:
        return next(d for d in self.deployments if d.name == name)

    @property
    def interval_s(self) -> float:
        return self.deployments[0].config.interval_s

    def planner(
        self, *, latency_correction: bool = False, allocator: Allocator | None = None, **kw: Any
    ) -> Planner:
        """The fleet's planner; `allocator` shares the GPUs instead of `allocate` (baselines)."""
        return Planner(
            [d.planner(latency_correction=latency_correction, **kw) for d in self.deployments],
            self.settings,
            **({"allocator": allocator} if allocator is not None else {}),
        )

    def resolve(self, p: str) -> Any:
        from pathlib import Path

        path = Path(p).expanduser()
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path


def engine(curves: Curves, profile: Any, gpu_type: str | None = None) -> Engine:
    return Engine(curves, gpu_type or profile.gpu, int(profile.gpus_per_replica), profile.name)


def fleet_of_one(
    config: PlannerConfig,
    prefill: tuple[Any, Any],
    decode: tuple[Any, Any],
    **spec: Any,
) -> Fleet:
    """A single deployment (a run config, the dry run's flags) as a fleet of one: one
    variant, both pools on one budget (`config.budget.max_gpus`), GPU types unlimited.
    `prefill`/`decode`: (EngineProfile, curves) of each pool."""
    (pp, pc), (dp, dc) = prefill, decode
    e = VariantEngines(DEFAULT_VARIANT, engine(pc, pp), engine(dc, dp))
    d = DeploymentSpec(DEFAULT_DEPLOYMENT, config, (e,), {DEFAULT_VARIANT: (pp, dp)}, **spec)
    gpus = {e.prefill.gpu_type: None, e.decode.gpu_type: None}
    return Fleet((d,), FleetSettings(gpus=gpus, prices={}, startup_s=config.startup_s), single=True)
