"""Replica lifecycle of one pool: scale-up with a startup delay, cancel, drain, removal.

Scaling to a target at time t (the decision time):
- up: new replicas are ready at t + startup_s (at t for the warm start of the first decision);
- down: first cancel replicas still starting (latest-ready first; they never served), then
  drain ready ones, least loaded first (prefill: idle longest / shortest queue; decode: fewest
  sequences). A draining replica takes no new work, finishes what it holds, then is removed.
Every replica gets a lifecycle record (requested, ready, cancelled, drain, removed times).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sla_planner.evaluation.des.state import (
    ACTIVE,
    DRAINING,
    F_DRAIN,
    F_FREE,
    F_READY,
    F_REMOVED,
    FREE,
    GONE,
    I_JN,
    I_N,
    I_QLEN,
    I_STATE,
    PoolArrays,
)


@dataclass
class ReplicaRecord:
    pool: str
    slot: int
    t_requested: float
    t_ready: float
    t_cancelled: float = math.nan
    t_drain: float = math.nan
    t_removed: float = math.nan


class Pool:
    """One pool's replica slots (kernel arrays) plus their lifecycle records."""

    def __init__(
        self,
        name: str,
        arrays: PoolArrays,
        startup_s: float,
        on_cancel: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.arr = arrays
        self.startup_s = startup_s
        self.records: list[ReplicaRecord] = []
        self._rec_of: dict[int, ReplicaRecord] = {}
        self._on_cancel = on_cancel  # why: round-robin prefill must requeue a cancelled queue

    def count(self, state: int) -> int:
        return int(np.count_nonzero(self.arr.I[:, I_STATE] == state))

    def ready_count(self, t: float) -> int:
        a = self.arr
        return int(np.count_nonzero((a.I[:, I_STATE] == ACTIVE) & (a.F[:, F_READY] <= t)))

    def _load(self, r: int) -> tuple[float, float]:
        a = self.arr
        if a.seqs:
            return float(a.I[r, I_N] + a.I[r, I_JN]), 0.0
        return float(a.I[r, I_QLEN]), float(a.F[r, F_FREE])

    def _is_empty(self, r: int) -> bool:
        a = self.arr
        if a.seqs:
            return bool(a.I[r, I_N] + a.I[r, I_JN] == 0)
        return bool(a.I[r, I_QLEN] == 0)

    def scale_to(self, target: int, t: float, warm: bool = False) -> None:
        a = self.arr
        active = self.arr.rows(ACTIVE)
        for _ in range(target - active.size):
            ready = t if warm else t + self.startup_s
            r = a.allocate(ready)
            rec = ReplicaRecord(self.name, r, t, ready)
            self.records.append(rec)
            self._rec_of[r] = rec
        excess = active.size - target
        starting = sorted(
            (r for r in active if a.F[r, F_READY] > t), key=lambda r: (-a.F[r, F_READY], -r)
        )
        for r in starting[: max(excess, 0)]:
            a.I[r, I_STATE] = FREE
            self._rec_of.pop(int(r)).t_cancelled = t
            if self._on_cancel is not None:
                self._on_cancel(int(r))
        excess -= min(len(starting), max(excess, 0))
        ready = sorted(
            (r for r in active if a.F[r, F_READY] <= t), key=lambda r: (*self._load(r), r)
        )
        for r in ready[: max(excess, 0)]:
            self._drain(int(r), t)

    def _drain(self, r: int, t: float) -> None:
        a = self.arr
        a.F[r, F_DRAIN] = t
        self._rec_of[r].t_drain = t
        if self._is_empty(r):
            # prefill: the batch in progress (if any) still completes; decode: idle
            a.I[r, I_STATE] = GONE
            a.F[r, F_REMOVED] = t if a.seqs else max(t, float(a.F[r, F_FREE]))
        else:
            a.I[r, I_STATE] = DRAINING
        self.collect()

    def collect(self) -> None:
        """Release the slots of removed replicas, stamping their records."""
        a = self.arr
        for r in np.flatnonzero(a.I[:, I_STATE] == GONE):
            self._rec_of.pop(int(r)).t_removed = float(a.F[r, F_REMOVED])
            a.I[r, I_STATE] = FREE

    def drain_tail_s(self, now: float) -> float:
        """Replica-seconds spent draining after the decision that removed them."""
        total = 0.0
        for rec in self.records:
            if not math.isnan(rec.t_drain):
                end = rec.t_removed if not math.isnan(rec.t_removed) else now
                total += max(end - rec.t_drain, 0.0)
        return total
