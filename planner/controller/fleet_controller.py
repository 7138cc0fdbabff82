"""The in-cluster fleet controller: many deployments and GPU types under one budget.

Each tick (every `interval_s`, and on short retries of held pools) it reads every deployment's
demand from its own Prometheus selector, asks the pure fleet allocator
(`model.fleet.fleet.allocate`) for every deployment's variant and replicas, and scales every
variant's pools. It keeps the single-deployment controller's rules, with the same pieces:
- demand through `DemandFeed` (missing, NaN or incomplete data is never zero demand), planning
  under the tick deadline (`DeadlineRunner`), the loop's health for /healthz and the Lease;
- per pool `plan_pool_action`: absurd growth refused, standby when not the leader, no
  scale-down on incomplete data, no scale-up stacked on one still starting;
- every write fenced by the Lease guard; failures hold the pool at its last good state and
  retry every `retry_interval_s`; the actuator is the one retry layer (409s);
- start and every gain of leadership resume from the cluster (`fleet_pools.cluster_state`).
A deployment whose demand or forecast fails is held as it runs and left out of the allocation
(its GPUs taken off the budget first), so the others are planned as usual. Per-type budgets
hold at every instant: a pool scaled up is capped by what every other pool of its GPU type
holds right now (`gpu_ledger`); scale-downs go first, then higher priority classes.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from sla_planner.actuators.base import ActuatorError, WriteGuard
from sla_planner.controller.clock import Clock
from sla_planner.controller.demand_feed import Failure
from sla_planner.controller.error_kinds import classify_actuator_error
from sla_planner.controller.fleet_actuation import FleetActuation
from sla_planner.controller.fleet_exporter import FleetMetrics
from sla_planner.controller.fleet_pools import DeploymentRuntime, FleetPool, cluster_state
from sla_planner.controller.fleet_publish import build_snapshot
from sla_planner.controller.fleet_snapshot import FleetSnapshot
from sla_planner.controller.health import LoopHealth
from sla_planner.controller.pool_state import LoopSettings
from sla_planner.controller.tick_deadline import DeadlineExceeded, DeadlineRunner
from sla_planner.model.allocate.allocator import FleetBudgetError
from sla_planner.model.fleet.fleet import allocate
from sla_planner.model.fleet.plan import FleetSettings
from sla_planner.model.fleet.types import DeploymentNeed, FleetAllocation, FleetState
from sla_planner.model.forecast.demand_forecaster import ForecastError
from sla_planner.model.reasons import ErrorKind, ReasonCode

log = logging.getLogger("sla_planner.fleet_controller")


class FleetController:
    def __init__(
        self,
        *,
        deployments: Sequence[DeploymentRuntime],
        settings: FleetSettings,
        clock: Clock,
        interval_s: float,
        loop: LoopSettings | None = None,
        metrics: FleetMetrics | None = None,
        is_leader: Callable[[], bool] | None = None,
        logger: logging.Logger | None = None,
        write_guard: WriteGuard | None = None,
        deadline: DeadlineRunner | None = None,
        health: LoopHealth | None = None,
    ) -> None:
        self.deployments = {d.name: d for d in deployments}
        self.settings = settings
        self.clock = clock
        self.step_s = float(interval_s)
        self.loop = loop or LoopSettings()
        self.metrics = metrics if metrics is not None else FleetMetrics()
        self._is_leader = is_leader or (lambda: True)
        self.log = logger or log
        self.deadline_s = self.loop.tick_deadline_s or self.step_s
        self._deadline = deadline or DeadlineRunner("fleet planner")
        self.health = health or LoopHealth(
            self.loop.liveness_stale_s or 3 * self.step_s, clock.now, self._deadline.stuck_for
        )
        grace = self.loop.startup_grace_s
        self.act = FleetActuation(
            self.deployments,
            settings.gpus,
            self.metrics,
            self.log,
            self.loop,
            grace if grace is not None else settings.startup_s,
            write_guard,
            self._is_leader,
        )
        self._next_due = -math.inf
        self.act.next_due = lambda: self._next_due
        self._stop: threading.Event | None = None
        self._seeded = False
        self._resume_error: Failure | None = None
        self._was_leader = False
        self._state = FleetState()
        self._alloc: FleetAllocation | None = None
        self._needs: dict[str, DeploymentNeed] = {}
        self._lock = threading.Lock()
        self._snapshot: FleetSnapshot | None = None

    # ------------------------------------------------------------------ public

    @property
    def pools(self) -> list[FleetPool]:
        return [fp for d in self.deployments.values() for fp in d.pools.values()]

    @property
    def allocation(self) -> FleetAllocation | None:
        return self._alloc

    def snapshot(self) -> FleetSnapshot | None:
        with self._lock:
            return self._snapshot

    def next_wakeup(self) -> float:
        retries = [fp.state.retry_due for fp in self.pools if fp.state.retry_due is not None]
        return min([self._next_due, *retries])

    def run(self, stop: threading.Event, max_ticks: int | None = None) -> int:
        """Tick until `stop` is set (SIGTERM) or `max_ticks` ticks ran. Returns ticks run."""
        self._stop = stop
        ticks = 0
        while not stop.is_set() and (max_ticks is None or ticks < max_ticks):
            self.tick()
            ticks += 1
            if stop.is_set() or (max_ticks is not None and ticks >= max_ticks):
                break
            wait = min(self.next_wakeup() - self.clock.now(), self.loop.retry_interval_s)
            self.clock.sleep(max(wait, 0.0))
        return ticks

    def tick(self, force: bool = False) -> FleetSnapshot:
        """Do whatever is due at clock.now(). `force`: a regular tick now."""
        self.health.tick_started()
        try:
            return self._tick(force)
        finally:
            self.health.tick_finished()

    # --------------------------------------------------------------- internals

    def _tick(self, force: bool) -> FleetSnapshot:
        now = self.clock.now()
        leader = bool(self._is_leader())
        if leader and not self._was_leader:
            self._seeded = False  # gained leadership: resume from the cluster, act at once
            force = True
        self._was_leader = leader
        self.metrics.set_leader(leader)
        due, regular = self._due(now, force)
        if not due:
            return self._publish(now, leader)
        if not self._seeded:
            self._resume(now)
        if not self._seeded:
            code, text = self._resume_error or (ReasonCode.HOLD_API, "unknown error")
            self.act.hold(due, now, code, f"cluster state could not be read: {text}")
            return self._publish(now, leader)
        if regular or any(fp.state.retry_needs_decision for fp in due):
            failure = self._plan(now)
            if failure is not None:
                self.act.hold(due, now, *failure)
                return self._publish(now, leader)
        if self._alloc is None:
            self.act.hold(due, now, ReasonCode.HOLD_PLANNER, "no decision yet")
            return self._publish(now, leader)
        leader = leader and bool(self._is_leader())  # planning blocked: it may have lapsed
        self.act.actuate(due, self._alloc, self._needs, now, leader)
        return self._publish(now, leader)

    def _due(self, now: float, force: bool) -> tuple[list[FleetPool], bool]:
        """(pools due, is it a regular tick): every pool on a regular tick (scheduling the
        next one), else the pools whose retry is due."""
        if force or now >= self._next_due:
            self._next_due = (math.floor(now / self.step_s) + 1) * self.step_s
            for fp in self.pools:
                fp.state.retry_due = None
            return self.pools, True
        due = [fp for fp in self.pools if fp.state.retry_due is not None]
        due = [fp for fp in due if now >= (fp.state.retry_due or math.inf)]
        for fp in due:
            fp.state.retry_due = None
        return due, False

    def _resume(self, now: float) -> None:
        """Read what every pool runs (start, restart, new leader); nothing is seeded unless
        every pool could be read."""
        statuses = {}
        for fp in self.pools:
            try:
                statuses[fp.key] = fp.actuator.status()
            except ActuatorError as exc:
                kind = classify_actuator_error(exc)
                self.metrics.count_error(kind, fp.key.deployment)
                self.log.warning("resume_failed pool=%s kind=%s error=%r", fp.key, kind, str(exc))
                self._resume_error = (ReasonCode.hold(kind), f"{fp.key}: {exc}")
                return
        for fp in self.pools:
            st = statuses[fp.key]
            fp.state.status, fp.state.target, fp.state.last_ok_at = st, st.desired, now
            fp.state.starting_since = now if st.ready < st.desired else None
        self._state = FleetState()  # the variants and histories are read from the cluster
        self._resume_error, self._seeded = None, True
        running = " ".join(f"{fp.key}={fp.state.target}" for fp in self.pools)
        self.log.info("resumed %s", running)

    def _plan(self, now: float) -> Failure | None:
        """Observe every deployment and allocate the fleet under the tick deadline; a failure
        of the whole (deadline, allocator) holds every due pool."""
        try:
            alloc, state, needs = self._deadline.run(
                lambda: self._decide(now), self.deadline_s, self._stop
            )
        except DeadlineExceeded as exc:
            self.metrics.count_error(ErrorKind.DEADLINE)
            self.log.warning("tick_deadline_exceeded deadline_s=%g error=%r", self.deadline_s, str(exc))  # fmt: skip
            return ReasonCode.HOLD_DEADLINE, f"planning did not finish in time: {exc}"
        except FleetBudgetError as exc:
            self.metrics.count_error(ErrorKind.PLANNER)
            self.log.warning("fleet_allocation_failed error=%r", str(exc))
            return ReasonCode.HOLD_PLANNER, f"the fleet cannot be allocated: {exc}"
        except Exception as exc:  # keep the last good state; the error is logged in full
            self.metrics.count_error(ErrorKind.PLANNER)
            self.log.exception("fleet planner failed to decide")
            return ReasonCode.HOLD_PLANNER, f"planner error: {type(exc).__name__}: {exc}"
        self._alloc, self._state, self._needs = alloc, state, needs
        self.metrics.count_preemptions(alloc)
        return None

    def _decide(self, now: float) -> tuple[FleetAllocation, FleetState, dict[str, DeploymentNeed]]:
        needs: dict[str, DeploymentNeed] = {}
        for d in self.deployments.values():
            d.failure = d.feed.observe(now)
            if d.failure is None:
                d.failure = self._need(d, now, needs)
        ok = [d for d in self.deployments.values() if d.failure is None]
        held = [d for d in self.deployments.values() if d.failure is not None]
        state = FleetState(
            {d.name: cluster_state(d, self._state.get(d.name), now, self.step_s) for d in ok}
        )
        # A held deployment keeps what it runs: those GPUs are not the others' to share.
        free = dict(self.settings.gpus)
        for d in held:
            for t, g in d.holding().items():
                free[t] = max(free.get(t, 0) - g, 0)
        alloc, nxt = allocate(list(needs.values()), state, now, replace(self.settings, gpus=free))
        kept = {d.name: s for d in held if (s := self._state.get(d.name)) is not None}
        return alloc, FleetState({**kept, **nxt.deployments}), needs

    def _need(
        self, d: DeploymentRuntime, now: float, needs: dict[str, DeploymentNeed]
    ) -> Failure | None:
        try:
            needs[d.name] = d.planner.need(now, self.settings.gpus)
        except ForecastError as exc:  # never zero demand in its place: hold, say why
            self.metrics.count_error(ErrorKind.FORECAST, d.name)
            self.log.warning("forecast_failed deployment=%s error=%r", d.name, str(exc))
            return ReasonCode.HOLD_FORECAST, f"forecast failed: {exc}"
        except Exception as exc:
            self.metrics.count_error(ErrorKind.PLANNER, d.name)
            self.log.exception("planner failed for deployment %s", d.name)
            return ReasonCode.HOLD_PLANNER, f"planner error: {type(exc).__name__}: {exc}"
        return None

    def _publish(self, now: float, leader: bool) -> FleetSnapshot:
        snap = build_snapshot(
            self.deployments,
            self._alloc,
            self._needs,
            self.settings.gpus,
            now,
            leader,
            self.act.partial,
        )
        self.metrics.update(snap)
        self.act.log_updated(snap, now)
        with self._lock:
            self._snapshot = snap
        return snap
