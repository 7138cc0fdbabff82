"""A drain-aware scale-down of one pool, carried across ticks (never a sleep inside one).

Each tick the pool's decision lowers it, `PoolDrainer.scale_down` reads its replicas (the
target's pods) and their in-flight gauges, picks the replicas the target will remove
(`drain_plan.removal_set`), marks them (they leave the router, see `actuators.replica_pods`)
and answers "wait" until every one of them is idle or out of time (`drain_timeout_s` after it
was marked); then the controller lowers `replicas`, the write fenced by the Lease like any
other. Any tick that does not lower the pool (a scale-up, steady, a hold on bad data) calls
`settle`: a drain in progress is cancelled and its marks are taken off (the replicas serve
again at once), and marks a previous leader left are cleared.

State lives in the cluster (the marks and when they were made) plus a little in memory; a
restarted planner or a new leader (`reset`) reads the marks back: a scale-down it still wants
resumes with the same deadlines, one it no longer wants is undone. Every write goes through
the WriteGuard (a fresh Lease check). Reads or writes that fail raise ActuatorError; the pool
holds and retries, so a drain never turns into a blind scale-down, except by its timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from sla_planner.actuators.base import ActuatorError, WriteGuard
from sla_planner.actuators.replica_pods import RemovalOrder, ReplicaPods, ReplicaView
from sla_planner.controller.drain_plan import (
    Candidate,
    DrainingReplica,
    DrainView,
    Progress,
    progress,
    removal_set,
    replica_in_flight,
)
from sla_planner.model.reasons import ErrorKind
from sla_planner.sources.base import MetricsSourceError


class InFlight(Protocol):
    def read(self, namespace: str, now: float) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class DrainStep:
    proceed: bool  # lower replicas now
    reason: str
    timed_out: tuple[str, ...] = ()  # replicas lowered with work on them


def _describe(c: Candidate) -> str:
    load = "unknown" if c.in_flight is None else f"{c.in_flight:g} in flight"
    return f"{c.id} ({load})"


class PoolDrainer:
    def __init__(
        self,
        name: str,
        pods: ReplicaPods,
        in_flight: InFlight,
        *,
        timeout_s: float,
        settle_s: float,
        log: logging.Logger,
        count_error: Callable[[ErrorKind], None],
        count_drain: Callable[[str], None],
    ) -> None:
        self.name, self.pods, self.in_flight = name, pods, in_flight
        self.timeout_s, self.settle_s = float(timeout_s), float(settle_s)
        self.log, self.count_error, self.count_drain = log, count_error, count_drain
        self.view = DrainView(timeout_s=self.timeout_s)
        self.maybe_marked = True  # marks may be in the cluster: checked on the next settle
        self._blocked_since: float | None = None

    def reset(self) -> None:
        """After a start or a gain of leadership: what is in memory may be stale."""
        self.view, self.maybe_marked, self._blocked_since = DrainView(timeout_s=self.timeout_s), True, None  # fmt: skip

    # -- a tick that lowers the pool -------------------------------------------------------
    def scale_down(self, current: int, keep: int, now: float, guard: WriteGuard | None) -> DrainStep:  # fmt: skip
        """Whether the pool may go from `current` to `keep` replicas now. Raises ActuatorError
        when the pods cannot be read or marked (the pool holds)."""
        replicas, blocked = self.pods.replicas()
        if blocked is not None:
            return self._blocked(blocked, current, keep, now)
        self._blocked_since = None
        cands = self._candidates(replicas, now)
        chosen = removal_set(cands, keep, self.pods.order)
        marked = self._mark(replicas, chosen, keep, now, guard)
        prog = progress(marked, now, self.timeout_s, self.settle_s)
        self.view = DrainView(
            tuple(DrainingReplica(c.id, c.in_flight, c.marked_at or now) for c in marked),
            keep,
            self.timeout_s,
        )
        if not prog.done:
            return DrainStep(False, self._waiting(marked, prog, current, keep, now))
        by_id = {r.id: r for r in replicas}
        self.pods.remove([by_id[c.id] for c in marked], guard)
        return self._finish(marked, prog, current, keep, now)

    def _candidates(self, replicas: list[ReplicaView], now: float) -> list[Candidate]:
        try:
            loads = self.in_flight.read(self.pods.namespace, now)
        except MetricsSourceError as exc:
            self.count_error(ErrorKind.IN_FLIGHT)
            self.log.warning("drain_in_flight_failed pool=%s error=%r: loads unknown", self.name, str(exc))  # fmt: skip
            loads = {}
        return [
            Candidate(
                r.id,
                r.index,
                r.rank,
                replica_in_flight((loads.get(p.name) for p in r.pods), r.ready),
                r.marked_at,
            )
            for r in replicas
        ]

    def _mark(
        self,
        replicas: list[ReplicaView],
        chosen: tuple[Candidate, ...],
        keep: int,
        now: float,
        guard: WriteGuard | None,
    ) -> list[Candidate]:
        """Unmark replicas no longer to be removed (capacity back first), mark the chosen."""
        ids = {c.id for c in chosen}
        for r in replicas:
            if r.marked_at is not None and r.id not in ids:
                self.pods.unmark(r, guard)
        by_id = {r.id: r for r in replicas}
        out: list[Candidate] = []
        fresh: list[str] = []
        for c in chosen:
            since = c.marked_at if c.marked_at is not None else now
            if not by_id[c.id].fully_marked:
                self.pods.mark(by_id[c.id], since, guard)
                self.maybe_marked = True
                fresh.append(c.id)
            out.append(replace(c, marked_at=since))
        if fresh:
            self.log.info("drain_started pool=%s replicas=%s lower_to=%d", self.name, ",".join(fresh), keep)  # fmt: skip
        return out

    def _waiting(
        self, marked: list[Candidate], prog: Progress, current: int, keep: int, now: float
    ) -> str:
        busy = [c for c in marked if c.id in prog.busy]
        oldest = min(c.marked_at or now for c in marked)
        left = [_describe(c) for c in busy]
        return (
            f"draining {len(marked)} replica(s) before lowering {current} -> {keep}: waiting for "
            f"{', '.join(left)}; {len(prog.idle)} idle; {now - oldest:.0f} s of "
            f"{self.timeout_s:.0f} s"
        )

    def _finish(
        self, marked: list[Candidate], prog: Progress, current: int, keep: int, now: float
    ) -> DrainStep:
        self.view = DrainView(timeout_s=self.timeout_s)
        if not marked:
            return DrainStep(True, f"nothing to drain: lowering {current} -> {keep}")
        if prog.timed_out:
            late = [_describe(c) for c in marked if c.id in prog.timed_out]
            self.count_error(ErrorKind.DRAIN_TIMEOUT)
            self.count_drain("timed_out")
            self.log.warning("drain_timeout pool=%s replicas=%s timeout_s=%g: lowering with work on them", self.name, ",".join(prog.timed_out), self.timeout_s)  # fmt: skip
            why = f"drain timed out after {self.timeout_s:.0f} s with {', '.join(late)}"
            return DrainStep(True, f"{why}: lowering {current} -> {keep}", prog.timed_out)
        self.count_drain("drained")
        self.log.info("drain_done pool=%s replicas=%s", self.name, ",".join(prog.idle))
        ids = ", ".join(c.id for c in marked)
        return DrainStep(True, f"drained {ids}: lowering {current} -> {keep}")

    def _blocked(self, why: str, current: int, keep: int, now: float) -> DrainStep:
        since = self._blocked_since = self._blocked_since if self._blocked_since is not None else now  # fmt: skip
        self.view = DrainView((), keep, self.timeout_s, why)
        if now - since < self.timeout_s:
            return DrainStep(
                False,
                f"not lowering {current} -> {keep} yet: {why}, so the replicas removed cannot "
                f"be chosen; {now - since:.0f} s of {self.timeout_s:.0f} s",
            )
        self._blocked_since = None
        self.count_error(ErrorKind.DRAIN_TIMEOUT)
        self.count_drain("timed_out")
        self.view = DrainView(timeout_s=self.timeout_s)
        return DrainStep(True, f"drain timed out after {self.timeout_s:.0f} s ({why}): lowering {current} -> {keep}")  # fmt: skip

    # -- a tick that does not lower it ------------------------------------------------------
    def settle(self, spec_replicas: int, guard: WriteGuard | None, *, leader: bool) -> None:
        """Cancel a drain in progress and clear marks of replicas that stay (a standby only
        forgets: it never writes). Failures are logged and retried on the next tick."""
        draining = bool(self.view.replicas) or self.view.blocked is not None
        self.view, self._blocked_since = DrainView(timeout_s=self.timeout_s), None
        if not leader or not self.maybe_marked:
            return
        try:
            replicas, _ = self.pods.replicas()
            marked = [r for r in replicas if r.marked_at is not None]
            pending = self._pending(replicas, marked, spec_replicas)
            for r in marked:
                if r not in pending:
                    self.pods.unmark(r, guard)
        except ActuatorError as exc:
            self.log.warning("drain_undo_failed pool=%s error=%r: retried next tick", self.name, str(exc))  # fmt: skip
            return
        self.maybe_marked = bool(pending)
        undone = [r.id for r in marked if r not in pending]
        if draining:
            self.count_drain("cancelled")
        if draining or undone:
            self.log.info("drain_cancelled pool=%s unmarked=%s", self.name, ",".join(undone) or "-")  # fmt: skip

    def _pending(
        self, replicas: list[ReplicaView], marked: list[ReplicaView], spec_replicas: int
    ) -> list[ReplicaView]:
        """Marked replicas the target is still to remove (after a lowering): left marked."""
        if self.pods.order is RemovalOrder.HIGHEST_INDEX:
            return [r for r in marked if r.index is not None and r.index >= spec_replicas]
        return marked if len(replicas) > spec_replicas else []
