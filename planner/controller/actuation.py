"""The controller's writes: every due pool's action (`pool_action.plan_pool_action`, HPA's
replica calculator per pool) under a ledger of the GPUs every pool holds now, and the holds,
retries and partial reports that follow.

Order within a tick: scale-downs first (their GPUs freed before anyone grows), then higher
priority classes first, so under contention a pool's cap leaves the GPUs to the class the
planner meant them for. Each write is recorded in the ledger before the next pool is planned,
so the budgets (each GPU type's, each deployment's max_gpus) hold at every instant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from sla_planner.actuators.base import ActuatorError, WriteGuard
from sla_planner.controller.error_kinds import classify_actuator_error
from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.controller.gpu_ledger import GpuLedger
from sla_planner.controller.partial import report_partial
from sla_planner.controller.pool_action import ActionKind, plan_pool_action, starting_since
from sla_planner.controller.pool_state import LoopSettings, decided_snapshot
from sla_planner.controller.pools import (
    POOL_ORDER,
    ControlledPool,
    DeploymentRuntime,
    PoolKey,
    PoolTarget,
    pool_targets,
)
from sla_planner.model.reasons import ErrorKind, ReasonCode
from sla_planner.model.types import FleetDecision

_HOLD = {
    ActionKind.HOLD_ABSURD: ReasonCode.HOLD_ABSURD,
    ActionKind.HOLD_INCOMPLETE: ReasonCode.HOLD_INCOMPLETE,
    ActionKind.HOLD_SUSPECT: ReasonCode.HOLD_SUSPECT_DEMAND,
    ActionKind.HOLD_STARTING: ReasonCode.HOLD_STARTING,
}


class Actuation:
    def __init__(
        self,
        deployments: Mapping[str, DeploymentRuntime],
        budget: Mapping[str, int | None],
        metrics: PlannerMetrics,
        log: logging.Logger,
        loop: LoopSettings,
        grace_s: float,
        guard: WriteGuard | None,
        is_leader: Callable[[], bool],
    ) -> None:
        self.deployments = deployments
        self.budget = dict(budget)
        self.metrics = metrics
        self.log = log
        self.loop = loop
        self.grace_s = grace_s
        self.guard = guard
        self.is_leader = is_leader
        self.targets: dict[PoolKey, PoolTarget] = {}
        self._partial: set[tuple[str, str]] = set()

    def pools(self) -> list[ControlledPool]:
        return [fp for d in self.deployments.values() for fp in d.pools.values()]

    # ------------------------------------------------------------------ holds

    def hold(self, due: Iterable[ControlledPool], now: float, code: ReasonCode, why: str) -> None:
        """Hold every due pool at its last good state (a failure before actuation)."""
        for fp in due:
            self.fail(fp, now, code, why, needs_decision=True)

    def fail(
        self, fp: ControlledPool, now: float, code: ReasonCode, why: str, *, needs_decision: bool
    ) -> None:
        s = fp.state
        s.failing = why
        self._set(fp, now, s.target, code, f"holding at {s.target}: {why}", True)
        self._retry(fp, now, needs_decision=needs_decision)

    def _retry(self, fp: ControlledPool, now: float, *, needs_decision: bool) -> None:
        s = fp.state
        s.retry_needs_decision = s.retry_needs_decision or needs_decision
        due = now + self.loop.retry_interval_s
        s.retry_due = due if due < s.next_due else None  # else the regular tick comes first

    # -------------------------------------------------------------- actuation

    def refresh(self, decision: FleetDecision) -> None:
        """The replicas every pool of the deployments `decision` planned should run."""
        for d in decision.deployments:
            rt = self.deployments[d.deployment]
            rt.decision = d
            for (variant, pool), t in pool_targets(rt, d).items():
                self.targets[rt.pool(variant, pool).key] = t

    def actuate(self, due: Sequence[ControlledPool], now: float, leader: bool) -> None:
        everyone = self.pools()
        errors = {fp.key: e for fp in everyone if (e := self._read(fp)) is not None}
        ledger = self.ledger()
        for fp in sorted(due, key=self._order):
            d = self.deployments[fp.key.deployment]
            target = self.targets.get(fp.key)
            if fp.key in errors:
                kind, text = errors[fp.key]
                self.metrics.count_error(kind, d.name)
                self.fail(fp, now, ReasonCode.hold(kind), text, needs_decision=False)
            elif d.failure is not None:  # no scale-down on bad data: a drain is undone too
                self._settle(fp, leader=leader)
                self.fail(fp, now, *d.failure, needs_decision=True)
            elif target is None:
                why = "no decision yet"
                self.fail(fp, now, ReasonCode.HOLD_PLANNER, why, needs_decision=True)
            else:
                self._act(fp, d, target, ledger, now, leader)
        self._report_partial()

    def ledger(self) -> GpuLedger:
        ledger = GpuLedger(self.budget)
        for d in self.deployments.values():
            for fp in d.pools.values():
                ledger.hold(fp.key, fp.gpu_type, fp.holding(), d.name, d.max_gpus)
        return ledger

    def _order(self, fp: ControlledPool) -> tuple[int, int, int, str]:
        t, st = self.targets.get(fp.key), fp.state.status
        down = t is not None and st is not None and t.replicas < st.desired
        d = self.deployments[fp.key.deployment]
        return (0 if down else 1, d.rank, POOL_ORDER.index(fp.key.pool), str(fp.key))

    def _read(self, fp: ControlledPool) -> tuple[ErrorKind, str] | None:
        try:
            fp.state.status = fp.actuator.status()
        except ActuatorError as exc:
            return classify_actuator_error(exc), str(exc)
        return None

    def _act(
        self,
        fp: ControlledPool,
        d: DeploymentRuntime,
        target: PoolTarget,
        ledger: GpuLedger,
        now: float,
        leader: bool,
    ) -> None:
        s = fp.state
        assert s.status is not None
        st = s.status
        s.starting_since = starting_since(st, s.starting_since, now)
        action = plan_pool_action(
            target.decision,
            st,
            target=s.target,
            since=s.starting_since,
            cap=ledger.cap(fp.key, fp.gpus_per_replica),
            budget_gpus=ledger.limit(fp.key),
            leader=leader,
            grace_s=self.grace_s,
            now=now,
            data_gap=d.feed.incomplete,
            max_step_factor=self.loop.max_step_factor,
            suspect=d.feed.suspect,
        )
        want = action.replicas
        lowers = action.kind is ActionKind.SCALE and want is not None and want < st.desired
        if not lowers:  # a drain in progress is cancelled by any tick that does not lower
            self._settle(fp, leader=action.kind is not ActionKind.STANDBY)
        if action.kind is ActionKind.STANDBY:
            self._set(fp, now, action.replicas, ReasonCode.STANDBY, action.reason, False)
            return
        if action.kind in _HOLD:
            if action.kind is ActionKind.HOLD_ABSURD:
                self.metrics.count_error(ErrorKind.ABSURD_DECISION, d.name)
            self._set(fp, now, s.target, _HOLD[action.kind], action.reason, True)
            if action.kind is ActionKind.HOLD_STARTING:
                self._retry(fp, now, needs_decision=False)
            return
        if action.startup_timeout:
            self.metrics.count_error(ErrorKind.STARTUP_TIMEOUT, d.name)
        assert want is not None
        reason = action.reason
        if lowers and fp.drain is not None:
            drained = self._drain(fp, want, action.reason, now)
            if drained is None:  # still draining, or the drain failed: handled
                return
            reason = drained
        self._apply(fp, d, want, action.kind is ActionKind.STEADY, reason, ledger, now)

    def _apply(
        self,
        fp: ControlledPool,
        d: DeploymentRuntime,
        want: int,
        steady: bool,
        reason: str,
        ledger: GpuLedger,
        now: float,
    ) -> None:
        """Write `want` replicas (unless steady) and record the outcome."""
        s = fp.state
        assert s.status is not None
        st = s.status
        if not steady:
            err = self._scale(fp, want)
            if err is not None:
                self.fail(fp, now, ReasonCode.hold(err[0]), err[1], needs_decision=False)
                return
            if want > st.desired:
                s.starting_since = now
            s.last_change_at = now
            s.status = replace(st, desired=want, ready=min(st.ready, want))
            ledger.hold(fp.key, fp.gpu_type, want * fp.gpus_per_replica, d.name, d.max_gpus)
        s.target, s.failing, s.last_ok_at = want, None, now
        code = (
            ReasonCode.STEADY
            if steady
            else (ReasonCode.SCALE_UP if want > st.desired else ReasonCode.SCALE_DOWN)
        )
        self._set(fp, now, want, code, reason, False)

    # ----------------------------------------------------------------- drains

    def _drain(self, fp: ControlledPool, want: int, reason: str, now: float) -> str | None:
        """A drain-aware scale-down: the reason to lower the pool now, or None when it waits
        for its replicas to drain (or the drain could not go on: the pool holds)."""
        s, drain = fp.state, fp.drain
        assert s.status is not None and drain is not None
        current = s.status.desired
        if not self.is_leader():  # the marks are writes too
            self.metrics.count_error(ErrorKind.NOT_LEADER, fp.key.deployment)
            why = "lost leadership before writing"
            self.fail(fp, now, ReasonCode.HOLD_NOT_LEADER, why, needs_decision=False)
            return None
        try:
            step = drain.scale_down(current, want, now, self.guard)
        except ActuatorError as exc:
            kind = classify_actuator_error(exc)
            self.metrics.count_error(kind, fp.key.deployment)
            self.fail(fp, now, ReasonCode.hold(kind), str(exc), needs_decision=False)
            return None
        if step.proceed:
            return f"{reason}; {step.reason}"
        s.failing, s.last_ok_at = None, now
        self._set(fp, now, current, ReasonCode.DRAINING, step.reason, True)
        self._retry(fp, now, needs_decision=False)
        return None

    def _settle(self, fp: ControlledPool, *, leader: bool) -> None:
        """No scale-down of this pool this tick: cancel its drain, clear stale marks."""
        if fp.drain is not None and fp.state.status is not None:
            leader = leader and bool(self.is_leader())
            fp.drain.settle(fp.state.status.desired, self.guard, leader=leader)

    def reset_drains(self) -> None:
        """A start or a gain of leadership: drains resume from the cluster's marks."""
        for fp in self.pools():
            if fp.drain is not None:
                fp.drain.reset()

    def _scale(self, fp: ControlledPool, replicas: int) -> tuple[ErrorKind, str] | None:
        """None on success, else (error kind, text). The actuator is the one retry layer (409:
        re-read and rewrite a bounded number of times); the guard fences each write."""
        deployment = fp.key.deployment
        if not self.is_leader():  # leadership may have lapsed since the tick began
            self.metrics.count_error(ErrorKind.NOT_LEADER, deployment)
            return ErrorKind.NOT_LEADER, "lost leadership before writing"
        try:
            fp.actuator.scale(replicas, guard=self.guard)
            return None
        except ActuatorError as exc:
            kind = classify_actuator_error(exc)
            self.metrics.count_error(kind, deployment)
            return kind, str(exc)

    def _set(
        self,
        fp: ControlledPool,
        now: float,
        desired: int | None,
        code: ReasonCode,
        reason: str,
        held: bool,
    ) -> None:
        s = fp.state
        if not held:
            s.retry_needs_decision = False
        t = self.targets.get(fp.key)
        s.snapshot = decided_snapshot(
            s, t.decision if t else None, desired, code, reason, held, now
        )
        key = fp.key
        self.metrics.count_decision(key.pool.value, code, key.deployment, key.variant)

    def _report_partial(self) -> None:
        """One pool of a deployment's variant moved while its sibling keeps failing."""
        now_partial: set[tuple[str, str]] = set()
        for d in self.deployments.values():
            for variant in d.variants:
                pools = {p: d.pool(variant, p).state for p in POOL_ORDER}
                was = (d.name, variant) in self._partial
                scoped = self.metrics.scoped(d.name, variant)
                if report_partial(pools, scoped, self.log, self.loop.retry_interval_s, was):
                    now_partial.add((d.name, variant))
        self._partial = now_partial

    def partial(self, deployment: str) -> bool:
        return any(name == deployment for name, _ in self._partial)
