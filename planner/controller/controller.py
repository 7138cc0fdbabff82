"""The in-cluster controller: reads demand and the cluster, asks the pure planner, writes the
cluster. One deployment or a fleet of them: a single deployment is a fleet of one.

Split like Kubernetes' HPA: `sla_planner.model.planner.Planner` is the replica calculator
(pure, no I/O), and per pool `pool_action.plan_pool_action`; this module is the controller
around them. Everything with side effects is injected (clock, one MetricsSource per
deployment, one Actuator per pool, leadership, metrics exporter), so the loop runs in
simulated time in tests.

Rules it keeps, and why:
- Every pool (deployment x variant x pool) ticks on its own interval (prefill and decode may
  differ); one plan of the whole fleet feeds them all. A pool scaled on its own tick is capped
  by what every other pool holds *now* (`gpu_ledger`), so the budgets hold at every instant.
- Readiness: no new scale-up on top of one still starting (ready < desired within the grace).
- Any failure (metrics, 404, 403, 409 beyond retries, API down, planner error) holds the pool
  at its last good state, says why (log line, reason, error counter) and retries on a short
  timer. A deployment whose demand or planning fails is held as it runs and its GPUs are taken
  off the budget before the others are planned.
- Never act on bad data or stale leadership: no scale-down while the newest demand data is
  incomplete, a failed forecast holds, planning runs under a deadline (tick_deadline) and
  feeds the loop's health (health), every write is fenced (lease_guard), absurd growth is
  refused (pool_action).
- One pool changed and its sibling not: reported as partial (log, metric, decision endpoint).
- Only the leader writes; standbys keep observing and deciding so a failover starts warm.
- Start and every gain of leadership resume from the cluster: read every pool, seed the
  planner with what runs (variants included: a variant still starting beside another is the
  new side of a switch).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence

from sla_planner.actuators.base import ActuatorError, WriteGuard
from sla_planner.controller.actuation import Actuation
from sla_planner.controller.clock import Clock
from sla_planner.controller.demand_feed import Failure
from sla_planner.controller.error_kinds import classify_actuator_error
from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.controller.health import LoopHealth
from sla_planner.controller.pool_state import LoopSettings
from sla_planner.controller.pools import (
    ControlledPool,
    DeploymentRuntime,
    cluster_state,
    running_variant,
)
from sla_planner.controller.snapshot import FleetSnapshot, build_snapshot, log_pool_decision
from sla_planner.controller.tick_deadline import DeadlineExceeded, DeadlineRunner
from sla_planner.model.forecast.demand_forecaster import ForecastError
from sla_planner.model.planner import Planner
from sla_planner.model.reasons import ErrorKind, ReasonCode
from sla_planner.model.types import Decision, FleetDecision, Pool

log = logging.getLogger("sla_planner.controller")


class Controller:
    def __init__(
        self,
        *,
        planner: Planner,
        deployments: Sequence[DeploymentRuntime],
        clock: Clock,
        loop: LoopSettings | None = None,
        metrics: PlannerMetrics | None = None,
        is_leader: Callable[[], bool] | None = None,
        logger: logging.Logger | None = None,
        write_guard: WriteGuard | None = None,
        deadline: DeadlineRunner | None = None,
        health: LoopHealth | None = None,
        startup_s: float = 120.0,
    ) -> None:
        """`write_guard` fences every write (LeaseGuard); `deadline` runs the planning part of
        a tick; `health` is told when ticks start and end (defaults: built here)."""
        self.planner = planner
        self.deployments = {d.name: d for d in deployments}
        self.clock = clock
        self.loop = loop or LoopSettings()
        self.metrics = metrics if metrics is not None else PlannerMetrics()
        self._is_leader = is_leader or (lambda: True)
        self.log = logger or log
        self.step_s = float(next(iter(self.deployments.values())).spec.config.interval_s)
        shortest = min(fp.state.interval_s for fp in self.pools)
        self.deadline_s = self.loop.tick_deadline_s or shortest
        self._deadline = deadline or DeadlineRunner("planner")
        self.health = health or LoopHealth(
            self.loop.liveness_stale_s or 3 * shortest, clock.now, self._deadline.stuck_for
        )
        grace = self.loop.startup_grace_s
        self.act = Actuation(
            self.deployments,
            planner.settings.gpus,
            self.metrics,
            self.log,
            self.loop,
            grace if grace is not None else startup_s,
            write_guard,
            self._is_leader,
        )
        self._stop: threading.Event | None = None
        self._seeded = False
        self._resume_error: Failure | None = None
        self._was_leader = False
        self._decision: FleetDecision | None = None
        self._lock = threading.Lock()
        self._snapshot: FleetSnapshot | None = None

    # ------------------------------------------------------------------ public

    @property
    def pools(self) -> list[ControlledPool]:
        return [fp for d in self.deployments.values() for fp in d.pools.values()]

    @property
    def decision(self) -> FleetDecision | None:
        """The plan in force (the last good one)."""
        return self._decision

    def snapshot(self) -> FleetSnapshot | None:
        with self._lock:
            return self._snapshot

    def next_wakeup(self) -> float:
        times = [fp.state.next_due for fp in self.pools]
        times += [fp.state.retry_due for fp in self.pools if fp.state.retry_due is not None]
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

    def tick(self, force: bool = False) -> FleetSnapshot:
        """Do whatever is due at clock.now(): observe, decide, actuate. `force`: every pool is
        due (a start, a gain of leadership, `--once`)."""
        self.health.tick_started()
        try:
            return self._tick(force)
        finally:
            self.health.tick_finished()

    # ------------------------------------------------------- reactive hook
    # Used by sla_planner.controller.reactive_loop between ticks.

    def actuate_now(
        self, deployment: str, decision: Decision, pools: Iterable[Pool]
    ) -> FleetSnapshot | None:
        """Make `decision` the one in force for `deployment` and apply it to its active
        variant's `pools` now, through the path a tick takes (budget ledger, readiness hold,
        leader fencing, error holds). None before the cluster's replicas were read."""
        if not self._seeded or self._decision is None:
            return None
        now = self.clock.now()
        leader = bool(self._is_leader())
        self.act.refresh(FleetDecision(now, (decision,), self._decision.budget))
        d = self.deployments[deployment]
        due = [d.pool(decision.variant, p) for p in pools]
        self.act.actuate(due, now, leader)
        return self._publish(now, leader)

    # --------------------------------------------------------------- internals

    def _tick(self, force: bool) -> FleetSnapshot:
        now = self.clock.now()
        leader = bool(self._is_leader())
        if leader and not self._was_leader:
            self._seeded = False  # gained leadership: resume from the cluster, act at once
            force = True
        self._was_leader = leader
        self.metrics.set_leader(leader)
        regular, retry = self._due(now, force)
        due = [*regular, *retry]
        if not due:
            return self._publish(now, leader)
        if not self._seeded:
            self._resume(now)
        if not self._seeded:
            # Never act on a decision made without the cluster's replicas seeded in: the
            # stabiliser would not know what runs and could scale straight down.
            code, text = self._resume_error or (ReasonCode.HOLD_API, "unknown error")
            self.act.hold(due, now, code, f"cluster state could not be read: {text}")
            return self._publish(now, leader)
        if regular or any(fp.state.retry_needs_decision for fp in retry):
            failure = self._plan(now)
            if failure is not None:
                self.act.hold(due, now, *failure)
                return self._publish(now, leader)
        if self._decision is None:
            if all(d.failure is None for d in self.deployments.values()):
                self.act.hold(due, now, ReasonCode.HOLD_PLANNER, "no decision yet")
                return self._publish(now, leader)
        leader = leader and bool(self._is_leader())  # planning blocked: it may have lapsed
        self.act.actuate(due, now, leader)
        return self._publish(now, leader)

    def _due(self, now: float, force: bool) -> tuple[list[ControlledPool], list[ControlledPool]]:
        """(pools on their regular tick, pools only retrying); schedules the next regular tick."""
        regular = [fp for fp in self.pools if force or now >= fp.state.next_due]
        retry = [
            fp
            for fp in self.pools
            if fp.state.retry_due is not None and now >= fp.state.retry_due and fp not in regular
        ]
        for fp in regular:
            s = fp.state
            s.next_due = (math.floor(now / s.interval_s) + 1) * s.interval_s
        for fp in (*regular, *retry):
            fp.state.retry_due = None
        return regular, retry

    def _resume(self, now: float) -> None:
        """Read what every pool runs (start, restart, new leader) and seed the planner with it;
        nothing is seeded unless every pool could be read."""
        statuses = {}
        for fp in self.pools:
            try:
                statuses[fp.key] = fp.actuator.status()
            except ActuatorError as exc:
                kind = classify_actuator_error(exc)
                self.metrics.count_error(kind, fp.key.deployment)
                self.log.warning(
                    "resume_failed pool=%s kind=%s error=%r: holding until the target can be read",
                    fp.key,
                    kind,
                    str(exc),
                )
                self._resume_error = (ReasonCode.hold(kind), f"{fp.key}: {exc}")
                return
        for fp in self.pools:
            st = statuses[fp.key]
            fp.state.status, fp.state.target, fp.state.last_ok_at = st, st.desired, now
            # When a scale-up in progress began is unknown: count the grace from now.
            fp.state.starting_since = now if st.ready < st.desired else None
        for d in self.deployments.values():
            variant = running_variant(d)
            p, q = d.running(variant)
            self.planner.seed(p, q, now, d.name, variant)
        self.act.reset_drains()  # marks a previous leader left are read back from the pods
        self._resume_error, self._seeded = None, True
        running = " ".join(f"{fp.key}={fp.state.target}" for fp in self.pools)
        self.log.info("resumed %s", running)

    def _plan(self, now: float) -> Failure | None:
        """Observe every deployment and plan the fleet under the tick deadline; a failure of
        the whole (deadline, planner) holds every due pool."""
        try:
            decision = self._deadline.run(lambda: self._decide(now), self.deadline_s, self._stop)
        except DeadlineExceeded as exc:
            self.metrics.count_error(ErrorKind.DEADLINE)
            self.log.warning("tick_deadline_exceeded deadline_s=%g error=%r", self.deadline_s, str(exc))  # fmt: skip
            return ReasonCode.HOLD_DEADLINE, f"planning did not finish in time: {exc}"
        except Exception as exc:  # keep the last good state; the error is logged in full
            self.metrics.count_error(ErrorKind.PLANNER)
            self.log.exception("planner failed to decide")
            return ReasonCode.HOLD_PLANNER, f"planner error: {type(exc).__name__}: {exc}"
        if decision.deployments:  # else every deployment holds: the last plan stays in force
            self._decision = decision
        self.act.refresh(decision)
        self.metrics.count_preemptions(decision)
        return None

    def _decide(self, now: float) -> FleetDecision:
        for d in self.deployments.values():
            d.failure = d.feed.observe(now)
        skip = {n for n, d in self.deployments.items() if d.failure is not None}
        cluster = {
            n: cluster_state(d, self.planner.state.get(n), now, self.step_s)
            for n, d in self.deployments.items()
        }
        decision = self.planner.decide(now, cluster=cluster, skip=skip, catch=True)
        for name, exc in decision.errors.items():
            self.deployments[name].failure = self._failure(name, exc)
        return decision

    def _failure(self, name: str, exc: Exception) -> Failure:
        if isinstance(exc, ForecastError):  # never zero demand in its place: hold, say why
            self.metrics.count_error(ErrorKind.FORECAST, name)
            self.log.warning("forecast_failed deployment=%s error=%r", name, str(exc))
            return ReasonCode.HOLD_FORECAST, f"forecast failed: {exc}"
        self.metrics.count_error(ErrorKind.PLANNER, name)
        self.log.error("planner failed for deployment %s: %s: %s", name, type(exc).__name__, exc)
        return ReasonCode.HOLD_PLANNER, f"planner error: {type(exc).__name__}: {exc}"

    def _publish(self, now: float, leader: bool) -> FleetSnapshot:
        snap = build_snapshot(
            self.deployments, self._decision, self.act.ledger(), now, leader, self.act.partial
        )
        self.metrics.update(snap)
        for name, d in snap.deployments.items():
            for pools in d.pools.values():
                for fp in pools.values():
                    if fp.pool.updated_at == now:
                        log_pool_decision(self.log, name, fp, snap)
        with self._lock:
            self._snapshot = snap
        return snap
