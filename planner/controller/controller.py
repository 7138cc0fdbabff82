"""The in-cluster controller: reads demand and the cluster, asks the pure planner, writes the cluster.

Split like Kubernetes' HPA: `sla_planner.model.old_planner.Planner` is the replica calculator (pure, no I/O);
this module is the controller around it. Everything with side effects is injected (clock,
MetricsSource, one Actuator per pool, leadership, metrics exporter), so the loop runs in
simulated time in tests.

Rules it keeps, and why:
- Separate prefill and decode loops, each on its own interval; one decision (one shared GPU
  budget) feeds both. A pool scaled up on its own tick is capped by what the other pool holds
  *now*, so the budget holds at every instant, not only after both pools have moved.
- Readiness: no new scale-up on top of one still starting (ready < desired within the startup
  grace) - stacking would over-provision before the first scale-up has had any effect.
- Any failure (metrics, 404, 403, 409 beyond retries, API down, planner error) holds the pool at
  its last good state, says why (log line, reason, error counter) and retries on a short timer.
- Never act on bad data or stale leadership: no scale-down while the newest demand data is
  incomplete, a failed forecast holds, planning runs under a deadline (tick_deadline) and
  feeds the loop's health (health), every write is fenced (lease_guard), absurd growth is
  refused (pool_action).
- One pool changed and the other not: reported as partial (log, metric, decision endpoint).
- Only the leader writes; standbys keep observing and deciding so a failover starts warm.
- Start and every gain of leadership resume from the cluster: read replicas, seed the planner.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from sla_planner.actuators.base import Actuator, ActuatorError, WriteGuard
from sla_planner.controller.clock import Clock
from sla_planner.controller.demand_feed import DemandFeed, Failure, PlanningCore
from sla_planner.controller.error_kinds import classify_actuator_error
from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.controller.health import LoopHealth
from sla_planner.controller.partial import report_partial
from sla_planner.controller.pool_action import (
    ActionKind,
    budget_cap,
    plan_pool_action,
    starting_since,
)
from sla_planner.controller.pool_state import (
    POOLS,
    LoopSettings,
    PoolState,
    current_snapshot,
    decided_snapshot,
    other_pool_gpus,
    pool_decision,
)
from sla_planner.controller.resume import resume_from_cluster
from sla_planner.controller.snapshot import ControllerSnapshot, PoolSnapshot, log_decision
from sla_planner.controller.tick_deadline import DeadlineExceeded, DeadlineRunner
from sla_planner.model.config import PlannerConfig
from sla_planner.model.reasons import ErrorKind, ReasonCode
from sla_planner.model.types import Decision, Pool
from sla_planner.sources.base import MetricsSource

log = logging.getLogger("sla_planner.controller")


class Controller:
    def __init__(
        self,
        *,
        planner: PlanningCore,
        source: MetricsSource,
        actuators: Mapping[Pool, Actuator],
        clock: Clock,
        config: PlannerConfig,
        gpus_per_replica: Mapping[Pool, int],
        loop: LoopSettings | None = None,
        metrics: PlannerMetrics | None = None,
        is_leader: Callable[[], bool] | None = None,
        logger: logging.Logger | None = None,
        write_guard: WriteGuard | None = None,
        deadline: DeadlineRunner | None = None,
        health: LoopHealth | None = None,
    ) -> None:
        """`write_guard` fences every write (LeaseGuard); `deadline` runs the planning part of
        a tick; `health` is told when ticks start and end (defaults: built here)."""
        self.planner = planner
        self.source = source
        self.actuators = dict(actuators)
        self.clock = clock
        self.config = config
        self.gpr = {p: int(gpus_per_replica[p]) for p in POOLS}
        self.loop = loop or LoopSettings()
        self.metrics = metrics if metrics is not None else PlannerMetrics()
        self._is_leader = is_leader or (lambda: True)
        self.log = logger or log
        self.step_s = float(config.interval_s)
        self.grace_s = (
            self.loop.startup_grace_s if self.loop.startup_grace_s is not None else config.startup_s
        )
        intervals = {
            Pool.PREFILL: self.loop.prefill_interval_s or self.step_s,
            Pool.DECODE: self.loop.decode_interval_s or self.step_s,
        }
        self._pools = {p: PoolState(p, intervals[p], next_due=-math.inf) for p in POOLS}
        keep = min(self.loop.backfill_intervals, config.history_window)
        self._feed = DemandFeed(planner, source, self.metrics, self.log, self.step_s, keep)
        shortest = min(intervals.values())
        self.deadline_s = self.loop.tick_deadline_s or shortest
        self._deadline = deadline or DeadlineRunner("planner")
        self.health = health or LoopHealth(
            self.loop.liveness_stale_s or 3 * shortest,
            clock.now,
            self._deadline.stuck_for,
        )
        self._guard = write_guard
        self._stop: threading.Event | None = None
        self._seeded = False
        self._resume_error: Failure | None = None
        self._was_leader = False
        self._partial = False
        self._lock = threading.Lock()
        self._snapshot: ControllerSnapshot | None = None

    # ------------------------------------------------------------------ public

    def snapshot(self) -> ControllerSnapshot | None:
        with self._lock:
            return self._snapshot

    def next_wakeup(self) -> float:
        times = [s.next_due for s in self._pools.values()]
        times += [s.retry_due for s in self._pools.values() if s.retry_due is not None]
        return min(times)

    def run(self, stop: threading.Event, max_ticks: int | None = None) -> int:
        """Tick until `stop` is set (SIGTERM) or `max_ticks` ticks ran. Returns ticks run."""
        self._stop = stop  # also cuts a planning call short
        ticks = 0
        while not stop.is_set() and (max_ticks is None or ticks < max_ticks):
            self.tick()
            ticks += 1
            if stop.is_set() or (max_ticks is not None and ticks >= max_ticks):
                break
            # Wake at least every retry interval so a gain of leadership is acted on promptly.
            wait = min(self.next_wakeup() - self.clock.now(), self.loop.retry_interval_s)
            self.clock.sleep(max(wait, 0.0))
        return ticks

    def tick(self, force: bool = False) -> ControllerSnapshot:
        """Do whatever is due at clock.now(): observe, decide, actuate. `force`: all pools due."""
        self.health.tick_started()
        try:
            return self._tick(force)
        finally:
            self.health.tick_finished()

    def _tick(self, force: bool) -> ControllerSnapshot:
        now = self.clock.now()
        leader = bool(self._is_leader())
        if leader and not self._was_leader:
            # Gained leadership: resume from what the cluster runs now, and act at once.
            self._seeded = False
            force = True
        self._was_leader = leader
        self.metrics.set_leader(leader)

        regular, retry = self._due(now, force)
        due = regular | retry
        if not due:
            return self._publish(now, leader)

        if not self._seeded:
            self._resume(now)
        if not self._seeded:
            # Never act on a decision made without the cluster's replicas seeded in: the
            # stabiliser would not know what runs and could scale straight down.
            code, text = self._resume_error or (ReasonCode.HOLD_API, "unknown error")
            return self._hold(due, now, leader, code, f"cluster state could not be read: {text}")

        needs_decision = bool(regular) or any(self._pools[p].retry_needs_decision for p in retry)
        if needs_decision:
            failure = self._plan(now)
            if failure is not None:
                return self._hold(due, now, leader, *failure)
        if self._feed.decision is None:
            return self._hold(due, now, leader, ReasonCode.HOLD_PLANNER, "no decision yet")
        # Planning blocked (I/O, compute): leadership may have lapsed meanwhile (a gain waits
        # for the next tick, which resumes from the cluster first).
        leader = leader and bool(self._is_leader())

        # Read both pools: the budget cap needs the other pool's state, and /metrics shows both.
        read_errors = {p: e for p in POOLS if (e := self._read_status(p)) is not None}
        # Scale-downs first so a pool growing in the same tick finds the GPUs already freed.
        for p in sorted(due, key=self._direction):
            if p in read_errors:
                kind, text = read_errors[p]
                self.metrics.count_error(kind)
                self._fail(p, now, ReasonCode.hold(kind), text, needs_decision=False)
            else:
                self._actuate(p, now, leader)
        self._partial = report_partial(
            self._pools, self.metrics, self.log, self.loop.retry_interval_s, self._partial
        )
        return self._publish(now, leader)

    # ------------------------------------------------------- reactive hook
    # Used by sla_planner.controller.reactive_loop between ticks; kept to these two members.

    @property
    def decision(self) -> Decision | None:
        """The decision in force (the last good one)."""
        return self._feed.decision

    def actuate_now(self, decision: Decision, pools: Iterable[Pool]) -> ControllerSnapshot | None:
        """Make `decision` the one in force and apply it to `pools` now, through the path a
        tick takes (budget cap, readiness hold, leader fencing, error holds). None before
        the cluster's replicas were read (nothing to act from)."""
        if not self._seeded:
            return None
        now = self.clock.now()
        leader = bool(self._is_leader())
        self._feed.decision = decision
        for p in pools:
            if (err := self._read_status(p)) is not None:
                self.metrics.count_error(err[0])
                self._fail(p, now, ReasonCode.hold(err[0]), err[1], needs_decision=False)
            else:
                self._actuate(p, now, leader)
        self._partial = report_partial(
            self._pools, self.metrics, self.log, self.loop.retry_interval_s, self._partial
        )
        return self._publish(now, leader)

    # --------------------------------------------------------------- internals

    def _due(self, now: float, force: bool) -> tuple[set[Pool], set[Pool]]:
        """(pools on their regular tick, pools only retrying); schedules the next regular tick."""
        regular = {p for p, s in self._pools.items() if force or now >= s.next_due}
        retry = {
            p for p, s in self._pools.items() if s.retry_due is not None and now >= s.retry_due
        } - regular
        for p in regular:
            s = self._pools[p]
            s.next_due = (math.floor(now / s.interval_s) + 1) * s.interval_s
        for p in regular | retry:
            self._pools[p].retry_due = None
        return regular, retry

    def _plan(self, now: float) -> Failure | None:
        """Observe and decide under the tick deadline; a failure or overrun is a hold."""
        try:
            return self._deadline.run(
                lambda: self._feed.observe(now) or self._feed.decide(now),
                self.deadline_s,
                self._stop,
            )
        except DeadlineExceeded as exc:
            self.metrics.count_error(ErrorKind.DEADLINE)
            self.log.warning(
                "tick_deadline_exceeded deadline_s=%g error=%r", self.deadline_s, str(exc)
            )
            return ReasonCode.HOLD_DEADLINE, f"planning did not finish in time: {exc}"

    def _hold(
        self, due: set[Pool], now: float, leader: bool, code: ReasonCode, why: str
    ) -> ControllerSnapshot:
        """Hold every due pool at its last good state (a failure before actuation)."""
        for p in due:
            self._fail(p, now, code, why, needs_decision=True)
        return self._publish(now, leader)

    def _direction(self, p: Pool) -> int:
        st = self._pools[p].status
        if st is None or self._feed.decision is None:
            return 0
        return -1 if pool_decision(self._feed.decision, p).replicas < st.desired else 1

    def _resume(self, now: float) -> None:
        """Read what the cluster runs and seed the planner with it (start, restart, new leader)."""
        err = resume_from_cluster(self._pools, self.actuators, self.planner, now, self.log)
        if err is not None:
            self.metrics.count_error(err[0])
            self._resume_error = (ReasonCode.hold(err[0]), err[1])
            return
        self._resume_error = None
        self._seeded = True

    def _read_status(self, p: Pool) -> tuple[ErrorKind, str] | None:
        try:
            self._pools[p].status = self.actuators[p].status()
        except ActuatorError as exc:
            kind = classify_actuator_error(exc)
            return kind, str(exc)
        return None

    def _actuate(self, p: Pool, now: float, leader: bool) -> None:
        s = self._pools[p]
        assert self._feed.decision is not None and s.status is not None
        st = s.status
        s.starting_since = starting_since(st, s.starting_since, now)
        action = plan_pool_action(
            pool_decision(self._feed.decision, p),
            st,
            target=s.target,
            since=s.starting_since,
            cap=budget_cap(
                self.config.budget.max_gpus, other_pool_gpus(self._pools, p, self.gpr), self.gpr[p]
            ),
            budget_gpus=self.config.budget.max_gpus,
            leader=leader,
            grace_s=self.grace_s,
            now=now,
            data_gap=self._feed.incomplete,
            max_step_factor=self.loop.max_step_factor,
        )
        if action.kind is ActionKind.STANDBY:
            self._set(p, now, action.replicas, ReasonCode.STANDBY, action.reason, False)
            return
        if action.kind is ActionKind.HOLD_ABSURD:
            self.metrics.count_error(ErrorKind.ABSURD_DECISION)
            self._set(p, now, s.target, ReasonCode.HOLD_ABSURD, action.reason, True)
            return
        if action.kind is ActionKind.HOLD_INCOMPLETE:
            self._set(p, now, s.target, ReasonCode.HOLD_INCOMPLETE, action.reason, True)
            return
        if action.kind is ActionKind.HOLD_STARTING:
            self._set(p, now, s.target, ReasonCode.HOLD_STARTING, action.reason, True)
            self._schedule_retry(p, now, needs_decision=False)
            return
        if action.startup_timeout:
            self.metrics.count_error(ErrorKind.STARTUP_TIMEOUT)
        want = action.replicas
        assert want is not None
        if action.kind is ActionKind.STEADY:
            s.target = want
            s.failing = None
            s.last_ok_at = now
            self._set(p, now, want, ReasonCode.STEADY, action.reason, False)
            return
        err = self._scale(p, want)
        if err is not None:
            kind, text = err
            self._fail(p, now, ReasonCode.hold(kind), text, needs_decision=False)
            return
        code = ReasonCode.SCALE_UP if want > st.desired else ReasonCode.SCALE_DOWN
        if want > st.desired:
            s.starting_since = now
        s.target = want
        s.failing = None
        s.last_ok_at = now
        s.last_change_at = now
        s.status = replace(st, desired=want, ready=min(st.ready, want))
        self._set(p, now, want, code, action.reason, False)

    def _scale(self, p: Pool, replicas: int) -> tuple[ErrorKind, str] | None:
        """None on success, else (error kind, text). The actuator is the one retry layer (409:
        re-read and rewrite a bounded number of times); the guard fences each write."""
        if not self._is_leader():  # leadership may have lapsed since the tick began
            self.metrics.count_error(ErrorKind.NOT_LEADER)
            return ErrorKind.NOT_LEADER, "lost leadership before writing"
        try:
            self.actuators[p].scale(replicas, guard=self._guard)
            return None
        except ActuatorError as exc:
            kind = classify_actuator_error(exc)
            self.metrics.count_error(kind)
            return kind, str(exc)

    def _fail(
        self, p: Pool, now: float, code: ReasonCode, why: str, *, needs_decision: bool
    ) -> None:
        """Hold `p` at its last good target because something failed; retry soon."""
        s = self._pools[p]
        s.failing = why
        self._set(p, now, s.target, code, f"holding at {s.target}: {why}", True)
        self._schedule_retry(p, now, needs_decision=needs_decision)

    def _schedule_retry(self, p: Pool, now: float, *, needs_decision: bool) -> None:
        s = self._pools[p]
        s.retry_needs_decision = s.retry_needs_decision or needs_decision
        due = now + self.loop.retry_interval_s
        s.retry_due = due if due < s.next_due else None  # else the regular tick comes first

    def _set(
        self, p: Pool, now: float, desired: int | None, code: ReasonCode, reason: str, held: bool
    ) -> None:
        s = self._pools[p]
        if not held:
            s.retry_needs_decision = False
        pd = pool_decision(self._feed.decision, p) if self._feed.decision is not None else None
        s.snapshot = decided_snapshot(s, pd, desired, code, reason, held, now)
        self.metrics.count_decision(p.value, code)

    def _publish(self, now: float, leader: bool) -> ControllerSnapshot:
        pools = {}
        for p in POOLS:
            s = self._pools[p]
            s.snapshot = pools[p] = current_snapshot(s)
        used = sum((self._pools[p].target or 0) * self.gpr[p] for p in POOLS)
        snap = ControllerSnapshot(
            timestamp=self._feed.decision.timestamp if self._feed.decision else None,
            prefill=pools[Pool.PREFILL],
            decode=pools[Pool.DECODE],
            forecast=self._feed.decision.forecast if self._feed.decision else None,
            gpus_used=used,
            gpu_budget=self.config.budget.max_gpus,
            is_leader=leader,
            partial=self._partial,
            notes=self._feed.notes,
            last_metrics_ok_at=self._feed.last_ok_at,
            last_tick_at=now,
            data_incomplete=self._feed.incomplete,
        )
        self.metrics.update(snap)
        for ps in (snap.prefill, snap.decode):
            if ps.updated_at == now:
                log_decision(self.log, ps, snap)
        with self._lock:
            self._snapshot = snap
        return snap


__all__ = [
    "Controller",
    "ControllerSnapshot",
    "LoopSettings",
    "PlanningCore",
    "PoolSnapshot",
    "classify_actuator_error",
]
