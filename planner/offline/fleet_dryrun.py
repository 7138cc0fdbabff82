"""Replay a fleet's demand through a fleet policy, interval by interval (no clock, no cluster).

As in the single-deployment dry run, every deployment's planner first gives its need for
interval t (having seen only the intervals before t), the policy allocates the fleet, and only
then does each planner observe what arrived in t: no decision peeks at the future.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sla_planner.model.fleet.planning import DeploymentPlanner
from sla_planner.model.fleet.types import DeploymentNeed, FleetAllocation
from sla_planner.model.types import DemandSample
from sla_planner.offline.dryrun import _check
from sla_planner.offline.fleet_sources import FleetSources
from sla_planner.sources.base import MetricsSource
from sla_planner.sources.fleet_file import LoadedFleet
from sla_planner.sources.trace_binning import interval_count


class FleetPolicy(Protocol):
    """Ours (`model.fleet.fleet.FleetAllocator`) and the baselines
    (`sla_planner_bench.baselines.fleet`)."""

    name: str

    def decide(self, needs: Sequence[DeploymentNeed], now: float) -> FleetAllocation: ...


@dataclass(frozen=True)
class FleetRun:
    start: float
    interval_s: float
    allocations: list[FleetAllocation]  # one per interval
    needs: list[dict[str, DeploymentNeed]]  # what each deployment asked for, per interval
    actual: dict[str, list[DemandSample]]  # the demand that then arrived, per deployment
    warmup: dict[str, int]

    @property
    def intervals(self) -> int:
        return len(self.allocations)


def run_fleet_dry_run(
    planners: Mapping[str, DeploymentPlanner],
    sources: Mapping[str, MetricsSource],
    policy: FleetPolicy,
    gpus: Mapping[str, int],
    start: float,
    end: float,
    interval_s: float,
    warmup: Mapping[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> FleetRun:
    """Allocate the fleet for every interval of [start, end); see the module docstring."""
    if not (interval_s > 0 and math.isfinite(interval_s)):
        raise ValueError(f"interval must be a positive number of seconds, got {interval_s}")
    n = interval_count(start, end, interval_s)
    if n <= 0:
        raise ValueError(f"empty time range: start {start} is not before end {end}")
    warm = dict(warmup or {})
    actual: dict[str, list[DemandSample]] = {}
    for name, planner in planners.items():
        k = warm.get(name, 0)
        if k > 0:
            history = sources[name].fetch(start - k * interval_s, start, interval_s)
            _check(history, k, f"{name} warm-up")
            for sample in history:
                planner.observe(sample)
        actual[name] = sources[name].fetch(start, end, interval_s)
        _check(actual[name], n, f"{name} dry-run")
    allocations: list[FleetAllocation] = []
    needs: list[dict[str, DeploymentNeed]] = []
    for k in range(n):
        now = start + k * interval_s
        tick = {name: p.need(now, gpus) for name, p in planners.items()}
        allocations.append(policy.decide(list(tick.values()), now))  # before observing
        needs.append(tick)
        for name, p in planners.items():
            p.observe(actual[name][k])
        if progress is not None:
            progress(k + 1)
    return FleetRun(start, interval_s, allocations, needs, actual, warm)


def fleet_planners(loaded: LoadedFleet) -> dict[str, DeploymentPlanner]:
    """One single-deployment planner per deployment, sizing on each of its variants."""
    cfg = loaded.config
    return {d.name: DeploymentPlanner(d, cfg, loaded.variants[d.name]) for d in cfg.deployments}


def replay_fleet(
    loaded: LoadedFleet,
    sources: FleetSources,
    policy: FleetPolicy,
    progress: Callable[[int], None] | None = None,
) -> FleetRun:
    """`run_fleet_dry_run` over a loaded fleet file and its sources, with fresh planners."""
    cfg = loaded.config
    return run_fleet_dry_run(
        fleet_planners(loaded),
        sources.sources,
        policy,
        {t: p.count for t, p in cfg.cluster.gpus.items()},
        sources.start,
        sources.end,
        cfg.interval_s,
        warmup=sources.warmup,
        progress=progress,
    )
