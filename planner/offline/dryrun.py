"""Replay demand through a policy, interval by interval, with no clock and no cluster: what it
would have done (a single deployment is a fleet of one).

For each interval t in time order the policy first decides for t (having seen only the
intervals before t), then observes what actually happened in t. That ordering is the whole
guarantee that a dry run never peeks at the future.

With plants (`offline.closed_loop.LoopPlant`, the discrete-event judge per deployment) the
loop is closed: each deployment's interval is replayed as it is decided, its measured
attainment is fed back before the next decision (`observe_attainment`), and the reactive rule
may raise a pool between decisions. Without, decisions come from demand alone and are judged
afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sla_planner.evaluation.des.replay import ReplayResult
from sla_planner.model.planner import Policy
from sla_planner.model.types import Decision, DemandSample, FleetDecision
from sla_planner.offline.closed_loop import (
    IntervalRecord,
    LoopPlant,
    Reaction,
    decided_ledger,
    replay_interval,
)
from sla_planner.sources.base import MetricsSource, MetricsSourceError
from sla_planner.sources.trace_binning import interval_count


@dataclass
class DeploymentRun:
    """What the dry run saw and decided for one deployment."""

    name: str
    decisions: list[Decision]  # one per interval, in time order
    actual: list[DemandSample]  # the demand that then arrived in each interval
    warmup_intervals: int = 0  # history observed before `start` (no decisions made)
    judged: ReplayResult | None = None  # the closed loop's plant, when there was one
    records: list[IntervalRecord] = field(default_factory=list)
    reactions: list[Reaction] = field(default_factory=list)
    reactive_holds: list[Reaction] = field(default_factory=list)  # checks a guard held

    @property
    def closed_loop(self) -> bool:
        return bool(self.records)


@dataclass
class DryRun:
    start: float
    interval_s: float
    ticks: list[FleetDecision]  # one per interval
    deployments: dict[str, DeploymentRun]

    @property
    def intervals(self) -> int:
        return len(self.ticks)

    @property
    def only(self) -> DeploymentRun:
        """The one deployment of a single-deployment run."""
        if len(self.deployments) != 1:
            raise ValueError(f"{len(self.deployments)} deployments: name the one you want")
        return next(iter(self.deployments.values()))


def run_dry_run(
    sources: Mapping[str, MetricsSource],
    policy: Policy,
    start: float,
    end: float,
    interval_s: float,
    *,
    warmup: Mapping[str, int] | None = None,
    plants: Mapping[str, LoopPlant] | None = None,
    progress: Callable[[int], None] | None = None,
) -> DryRun:
    """Decide for every interval of [start, end) and return decisions with the actual demand.

    `warmup[name]` intervals before `start` (clipped to what the source covers) are fed to the
    policy as history first, so a run starting mid-trace does not begin cold. `progress(k)`
    is called after each planned interval with k = intervals done so far."""
    runs = {
        name: _fetch(name, src, policy, start, end, interval_s, (warmup or {}).get(name, 0))
        for name, src in sources.items()
    }
    ticks: list[FleetDecision] = []
    n = interval_count(start, end, interval_s)
    for k in range(n):
        now = start + k * interval_s
        fd = policy.decide(now)  # before this interval's demand and attainment: no look-ahead
        ticks.append(fd)
        # What every pool holds during the interval: a deployment's reactions are recorded
        # in it, so the deployments replayed after it see their GPUs taken.
        ledger = decided_ledger(fd) if plants else None
        for name, run in runs.items():
            d = fd.by_name(name) if len(runs) > 1 else fd.only
            run.decisions.append(d)
            plant = (plants or {}).get(name)
            if plant is None:
                policy.observe(run.actual[k], name)
                continue
            span = (now, now + interval_s)
            window, ran = replay_interval(plant, policy, fd, d, span, run, ledger)
            policy.observe(run.actual[k], name)
            feedback = getattr(policy, "observe_attainment", None)
            if feedback is not None:
                feedback(window, name)
            status = _status(policy, name)
            run.records.append(
                IntervalRecord(now, now + interval_s, *ran, int(window.finished), int(window.met), status)
            )  # fmt: skip
        if progress is not None:
            progress(k + 1)
    for name, plant in (plants or {}).items():
        runs[name].judged = plant.plant.finish()
    return DryRun(start, interval_s, ticks, runs)


def _status(policy: Any, name: str) -> Any:
    deployments = getattr(policy, "deployments", None)
    if isinstance(deployments, Mapping) and name in deployments:
        return getattr(deployments[name], "budget_status", None)
    return getattr(policy, "budget_status", None)


def _fetch(
    name: str,
    source: MetricsSource,
    policy: Policy,
    start: float,
    end: float,
    interval_s: float,
    warmup: int,
) -> DeploymentRun:
    """Check the range, feed the policy its warm-up history, and fetch the demand of every
    interval to replay."""
    if not (interval_s > 0 and math.isfinite(interval_s)):
        raise ValueError(f"interval must be a positive number of seconds, got {interval_s}")
    n = interval_count(start, end, interval_s)
    if n <= 0:
        raise ValueError(f"empty time range: start {start} is not before end {end}")
    warm = _warmup_count(source, start, interval_s, warmup)
    if warm:
        history = source.fetch(start - warm * interval_s, start, interval_s)
        _check(history, warm, "warm-up")
        for sample in history:
            policy.observe(sample, name)
    actual = source.fetch(start, end, interval_s)
    _check(actual, n, "dry-run")
    return DeploymentRun(name, [], list(actual), warm)


def _warmup_count(source: MetricsSource, start: float, interval_s: float, wanted: int) -> int:
    if wanted <= 0:
        return 0
    rng = source.time_range()
    if rng is None:
        return wanted
    available = math.floor((start - rng[0]) / interval_s + 1e-9)
    return max(0, min(wanted, available))


def _check(samples: Sequence[DemandSample], n: int, what: str) -> None:
    if len(samples) != n:
        raise MetricsSourceError(
            f"{what} source returned {len(samples)} intervals, expected {n}; "
            "the source must return every interval (zero-traffic ones included)"
        )
