"""The drain planner (pure: no I/O, no clock): which replicas a scale-down removes, and whether
they have finished their work.

Which ones go depends on the target (`RemovalOrder`):
- HIGHEST_INDEX (LWS, PCSG): the target removes the indices >= the new replicas, whatever their
  load; those are the ones to drain.
- DELETION_COST (Deployment), DELETE_CHOSEN (PodClique): the planner chooses. The target's
  own classes come first (unassigned, Pending, not ready: `rank`), so a replica of an earlier
  class is removed before any later one; within the class where the cut falls, the planner
  takes replicas already draining first (a drain is not moved once begun), then the least
  loaded (unknown load last), then by name.

A chosen replica is done once it reads 0 in flight at least `settle_s` after it was marked (the
router has let go of it and its gauge was scraped since), or once `timeout_s` has passed since
it was marked (timed out: it is removed with what it holds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sla_planner.actuators.replica_pods import RemovalOrder


@dataclass(frozen=True)
class Candidate:
    id: str
    index: int | None  # group index (HIGHEST_INDEX), None for one pod per replica
    rank: tuple[int, ...]  # the target's own removal classes, lower first
    in_flight: float | None  # requests it holds; None: unknown
    marked_at: float | None  # when its drain began; None: not draining


def replica_in_flight(values: Iterable[float | None], ready: bool) -> float | None:
    """A replica's in-flight requests from its pods' gauges (None: a pod without a series). No
    series at all: unknown if it serves (it may hold work), 0 if none of its pods is ready."""
    known = [v for v in values if v is not None]
    if known:
        return float(sum(known))
    return None if ready else 0.0


def _load(c: Candidate) -> tuple[bool, float]:
    return (c.in_flight is None, c.in_flight if c.in_flight is not None else math.inf)


def removal_set(
    candidates: Sequence[Candidate], keep: int, order: RemovalOrder
) -> tuple[Candidate, ...]:
    """The replicas the target removes when lowered to `keep` replicas, in removal order."""
    if order is RemovalOrder.HIGHEST_INDEX:
        gone = [c for c in candidates if c.index is not None and c.index >= keep]
        return tuple(sorted(gone, key=lambda c: -(c.index or 0)))
    n = len(candidates) - max(keep, 0)
    if n <= 0:
        return ()
    ordered = sorted(candidates, key=lambda c: c.rank)
    cut = ordered[n - 1].rank
    sure = [c for c in ordered if c.rank < cut]
    tied = [c for c in ordered if c.rank == cut]
    tied.sort(key=lambda c: (c.marked_at is None, *_load(c), c.id))
    return (*sure, *tied[: n - len(sure)])


@dataclass(frozen=True)
class Progress:
    idle: tuple[str, ...]  # done: nothing in flight since the router let go
    busy: tuple[str, ...]  # still holding work (or unknown), within the timeout
    timed_out: tuple[str, ...]  # out of time with work (or unknown) on them

    @property
    def done(self) -> bool:
        return not self.busy


def progress(
    chosen: Sequence[Candidate], now: float, timeout_s: float, settle_s: float
) -> Progress:
    """How far the drain of `chosen` (each marked, `marked_at` set) has come at `now`."""
    idle: list[str] = []
    busy: list[str] = []
    late: list[str] = []
    for c in chosen:
        age = now - (c.marked_at if c.marked_at is not None else now)
        if c.in_flight == 0 and age >= settle_s:
            idle.append(c.id)
        elif age >= timeout_s:
            late.append(c.id)
        else:
            busy.append(c.id)
    return Progress(tuple(idle), tuple(busy), tuple(late))


@dataclass(frozen=True)
class DrainingReplica:
    id: str
    in_flight: float | None  # None: unknown
    since: float  # when its drain began


@dataclass(frozen=True)
class DrainView:
    """A pool's drain as published (decision JSON, /metrics); no replicas: none in progress."""

    replicas: tuple[DrainingReplica, ...] = ()
    lower_to: int | None = None  # the replicas the scale-down goes to
    timeout_s: float = 0.0
    blocked: str | None = None  # why the removed replicas cannot be told (a rollout)
