"""Replay demand through the planner, interval by interval, with no clock and no cluster.

For each interval t in time order the planner first decides for t (having seen only the
intervals before t), then observes what actually happened in t. That ordering is the whole
guarantee that a dry run never peeks at the future.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sla_planner.model.types import Decision, DemandSample
from sla_planner.sources.base import MetricsSource, MetricsSourceError
from sla_planner.sources.trace_binning import interval_count


class PlannerLike(Protocol):
    """What the dry run needs of sla_planner.model.planner.Planner."""

    def observe(self, sample: DemandSample) -> None: ...

    def decide(self, now: float) -> Decision: ...


@dataclass(frozen=True)
class DryRunResult:
    decisions: list[Decision]  # one per interval, in time order
    actual: list[DemandSample]  # the demand that then arrived in each interval
    warmup_intervals: int = 0  # history observed before `start` (no decisions made)


def run_dry_run(
    source: MetricsSource,
    planner: PlannerLike,
    start: float,
    end: float,
    interval_s: float,
    progress: Callable[[int], None] | None = None,
    warmup_intervals: int = 0,
) -> DryRunResult:
    """Decide for every interval of [start, end) and return decisions with the actual demand.

    `warmup_intervals` intervals before `start` (clipped to what the source covers) are fed to
    the planner as history first, so a run starting mid-trace does not begin cold.
    `progress(k)` is called after each planned interval with k = intervals done so far.
    """
    warm, actual = fetch_replay(source, planner, start, end, interval_s, warmup_intervals)
    decisions: list[Decision] = []
    for k, sample in enumerate(actual, start=1):
        decisions.append(planner.decide(sample.start))  # before observing: no look-ahead
        planner.observe(sample)
        if progress is not None:
            progress(k)
    return DryRunResult(decisions=decisions, actual=actual, warmup_intervals=warm)


def fetch_replay(
    source: MetricsSource,
    planner: PlannerLike,
    start: float,
    end: float,
    interval_s: float,
    warmup_intervals: int,
) -> tuple[int, list[DemandSample]]:
    """Check the range, feed the planner its warm-up history, and return (warm-up intervals
    fed, the demand of every interval to replay). Shared by the open and closed loops."""
    if not (interval_s > 0 and math.isfinite(interval_s)):
        raise ValueError(f"interval must be a positive number of seconds, got {interval_s}")
    n = interval_count(start, end, interval_s)
    if n <= 0:
        raise ValueError(f"empty time range: start {start} is not before end {end}")
    warm = _warmup_count(source, start, interval_s, warmup_intervals)
    if warm:
        history = source.fetch(start - warm * interval_s, start, interval_s)
        _check(history, warm, "warm-up")
        for sample in history:
            planner.observe(sample)
    actual = source.fetch(start, end, interval_s)
    _check(actual, n, "dry-run")
    return warm, list(actual)


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
