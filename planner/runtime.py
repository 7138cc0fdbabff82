"""The in-cluster controller: reads demand and the cluster, asks the pure planner, writes the cluster.

Split like Kubernetes' HPA: `planner.core.Planner` is the replica calculator (pure, no I/O);
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
- One pool changed and the other not: reported as partial (log, metric, decision endpoint).
- Only the leader writes; standbys keep observing and deciding so a failover starts warm.
- Start and every gain of leadership resume from the cluster: read replicas, seed the planner.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from actuators.base import Actuator, ActuatorError, ReplicaStatus
from planner.clock import Clock
from planner.config import PlannerConfig
from planner.exporter import PlannerMetrics
from planner.metrics_source import MetricsSource, MetricsSourceError
from planner.types import Decision, DemandForecast, DemandSample, Pool, PoolDecision

log = logging.getLogger("sla_planner.controller")

POOLS: tuple[Pool, Pool] = (Pool.PREFILL, Pool.DECODE)


class PlanningCore(Protocol):
    """What the controller needs of planner.core.Planner (the optional `seed` is looked up)."""

    def observe(self, sample: DemandSample) -> None: ...

    def decide(self, now: float) -> Decision: ...


@dataclass(frozen=True)
class LoopSettings:
    """Controller timing. Pool intervals default to the planner's decision interval."""

    prefill_interval_s: float | None = None
    decode_interval_s: float | None = None
    retry_interval_s: float = 10.0  # how soon a held pool is retried
    startup_grace_s: float | None = None  # default: PlannerConfig.startup_s
    conflict_retries: int = 3  # re-read + rewrite on 409 before holding
    backfill_intervals: int = 60  # history fetched on start to warm the forecaster


@dataclass(frozen=True)
class PoolSnapshot:
    pool: str
    desired: int | None  # what the controller applied / publishes for this pool
    current: int | None  # spec.replicas as last read
    ready: int | None
    wanted: int | None
    expected_latency_ms: float | None
    target_ms: float | None
    reason: str
    reason_code: str
    held: bool
    updated_at: float | None


@dataclass(frozen=True)
class ControllerSnapshot:
    timestamp: float | None  # time of the last decision
    prefill: PoolSnapshot
    decode: PoolSnapshot
    forecast: DemandForecast | None
    gpus_used: int
    gpu_budget: int | None
    is_leader: bool
    partial: bool
    notes: tuple[str, ...]
    last_metrics_ok_at: float | None
    last_tick_at: float | None

    def pool(self, pool: Pool | str) -> PoolSnapshot:
        return self.prefill if Pool(pool) is Pool.PREFILL else self.decode


# Error kinds (the `kind` label of sla_planner_errors_total and the hold_<kind> reason codes).
_ERROR_KINDS = {"not_found", "forbidden", "conflict", "invalid", "api"}
_REASON_KIND = {  # actuators.errors.KubeActuatorError.reason -> kind
    "not_found": "not_found",
    "forbidden": "forbidden",
    "unauthorized": "forbidden",
    "conflict": "conflict",
    "invalid": "invalid",
    "unavailable": "api",
    "bad_response": "api",
}
_STATUS_KIND = {
    404: "not_found",
    403: "forbidden",
    401: "forbidden",
    409: "conflict",
    422: "invalid",
}


def classify_actuator_error(exc: BaseException) -> str:
    """not_found | forbidden | conflict | invalid | api, from the error or the one behind it."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        for attr in ("kind", "reason"):
            value = getattr(e, attr, None)
            if isinstance(value, str) and value in _REASON_KIND:
                return _REASON_KIND[value]
        for attr in ("status", "status_code"):
            code = getattr(e, attr, None)
            if isinstance(code, int) and code in _STATUS_KIND:
                return _STATUS_KIND[code]
        e = e.__cause__ or e.__context__
    return "api"


@dataclass
class _PoolState:
    pool: Pool
    interval_s: float
    next_due: float
    retry_due: float | None = None
    retry_needs_decision: bool = False
    target: int | None = None  # last replicas we applied (or found on resume)
    status: ReplicaStatus | None = None
    starting_since: float | None = None  # a scale-up not yet ready, since when
    failing: str | None = None  # why the last attempt failed (error holds only)
    last_ok_at: float | None = None  # last time the pool matched its decision
    last_change_at: float | None = None  # last time we changed its replicas
    snapshot: PoolSnapshot | None = None


def _pool_decision(decision: Decision, p: Pool) -> PoolDecision:
    return decision.prefill if p is Pool.PREFILL else decision.decode


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
    ) -> None:
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
        self._pools = {p: _PoolState(p, intervals[p], next_due=-math.inf) for p in POOLS}
        self._decision: Decision | None = None
        self._observed_until: float | None = None
        self._seeded = False
        self._resume_error: tuple[str, str] | None = None
        self._was_leader = False
        self._last_metrics_ok: float | None = None
        self._last_tick: float | None = None
        self._partial = False
        self._notes: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._snapshot: ControllerSnapshot | None = None

    # ------------------------------------------------------------------ public

    def snapshot(self) -> ControllerSnapshot | None:
        with self._lock:
            return self._snapshot

    @property
    def last_metrics_ok_at(self) -> float | None:
        return self._last_metrics_ok

    def next_wakeup(self) -> float:
        times = [s.next_due for s in self._pools.values()]
        times += [s.retry_due for s in self._pools.values() if s.retry_due is not None]
        return min(times)

    def run(self, stop: threading.Event, max_ticks: int | None = None) -> int:
        """Tick until `stop` is set (SIGTERM) or `max_ticks` ticks ran. Returns ticks run."""
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
        now = self.clock.now()
        self._last_tick = now
        leader = bool(self._is_leader())
        if leader and not self._was_leader:
            # Gained leadership: resume from what the cluster runs now, and act at once.
            self._seeded = False
            force = True
        self._was_leader = leader
        self.metrics.set_leader(leader)

        regular = {p for p, s in self._pools.items() if force or now >= s.next_due}
        retry = {
            p for p, s in self._pools.items() if s.retry_due is not None and now >= s.retry_due
        } - regular
        for p in regular:
            s = self._pools[p]
            s.next_due = (math.floor(now / s.interval_s) + 1) * s.interval_s
        due = regular | retry
        if not due:
            return self._publish(now, leader)
        for p in due:
            self._pools[p].retry_due = None

        if not self._seeded:
            self._resume(now)
        if not self._seeded:
            # Never act on a decision made without the cluster's replicas seeded in: the
            # stabiliser would not know what runs and could scale straight down.
            kind, text = self._resume_error or ("api", "unknown error")
            for p in due:
                self._fail(
                    p,
                    now,
                    f"hold_{kind}",
                    f"cluster state could not be read: {text}",
                    needs_decision=True,
                )
            return self._publish(now, leader)

        needs_decision = bool(regular) or any(self._pools[p].retry_needs_decision for p in retry)
        if needs_decision:
            failure = self._observe(now) or self._decide(now)
            if failure is not None:
                code, why = failure
                for p in due:
                    self._fail(p, now, code, why, needs_decision=True)
                return self._publish(now, leader)
        if self._decision is None:
            for p in due:
                self._fail(p, now, "hold_planner", "no decision yet", needs_decision=True)
            return self._publish(now, leader)

        # Read both pools: the budget cap needs the other pool's state, and /metrics shows both.
        read_errors = {p: e for p in POOLS if (e := self._read_status(p)) is not None}
        # Scale-downs first so a pool growing in the same tick finds the GPUs already freed.
        for p in sorted(due, key=self._direction):
            if p in read_errors:
                kind, text = read_errors[p]
                self.metrics.count_error(kind)
                self._fail(p, now, f"hold_{kind}", text, needs_decision=False)
            else:
                self._actuate(p, now, leader)
        self._check_partial()
        return self._publish(now, leader)

    # --------------------------------------------------------------- internals

    def _direction(self, p: Pool) -> int:
        st = self._pools[p].status
        if st is None or self._decision is None:
            return 0
        return -1 if _pool_decision(self._decision, p).replicas < st.desired else 1

    def _resume(self, now: float) -> None:
        """Read what the cluster runs and seed the planner with it (start, restart, new leader)."""
        statuses: dict[Pool, ReplicaStatus] = {}
        for p in POOLS:
            try:
                statuses[p] = self.actuators[p].status()
            except ActuatorError as exc:
                kind = classify_actuator_error(exc)
                self.metrics.count_error(kind)
                self._resume_error = (kind, str(exc))
                self.log.warning(
                    "resume_failed pool=%s kind=%s error=%r: holding until the target can be read",
                    p.value,
                    kind,
                    str(exc),
                )
                return
        for p, st in statuses.items():
            s = self._pools[p]
            s.status = st
            s.target = st.desired
            s.last_ok_at = now
            if st.ready < st.desired:
                # When that scale-up began is unknown: count the grace from now (conservative).
                s.starting_since = now
        self._resume_error = None
        seed = getattr(self.planner, "seed", None)
        if callable(seed):
            seed(statuses[Pool.PREFILL].desired, statuses[Pool.DECODE].desired, now)
        self._seeded = True
        self.log.info(
            "resumed prefill_replicas=%d prefill_ready=%d decode_replicas=%d decode_ready=%d",
            statuses[Pool.PREFILL].desired,
            statuses[Pool.PREFILL].ready,
            statuses[Pool.DECODE].desired,
            statuses[Pool.DECODE].ready,
        )

    def _observe(self, now: float) -> tuple[str, str] | None:
        """Feed the planner every completed interval it has not seen yet. None when fine."""
        end = math.floor(now / self.step_s) * self.step_s
        keep = min(self.loop.backfill_intervals, self.config.history_window)
        start = self._observed_until
        if start is None or end - start > keep * self.step_s:
            start = end - keep * self.step_s  # first fetch, or a gap longer than we keep
        if end <= start:
            return None
        try:
            samples = self.source.fetch(start, end, self.step_s)
        except MetricsSourceError as exc:
            self.metrics.count_error("metrics")
            return "hold_metrics", f"metrics unavailable: {exc}"
        except Exception as exc:  # a source bug must not kill the loop; say so and hold
            self.metrics.count_error("metrics")
            self.log.exception("metrics source failed unexpectedly")
            return "hold_metrics", f"metrics unavailable: {type(exc).__name__}: {exc}"
        for sample in samples:
            self.planner.observe(sample)
        self._observed_until = end
        self._last_metrics_ok = now
        return None

    def _decide(self, now: float) -> tuple[str, str] | None:
        try:
            self._decision = self.planner.decide(now)
        except Exception as exc:  # keep the last good decision; the error is logged in full
            self.metrics.count_error("planner")
            self.log.exception("planner failed to decide")
            return "hold_planner", f"planner error: {type(exc).__name__}: {exc}"
        self._notes = tuple(self._decision.notes)
        return None

    def _read_status(self, p: Pool) -> tuple[str, str] | None:
        try:
            self._pools[p].status = self.actuators[p].status()
        except ActuatorError as exc:
            kind = classify_actuator_error(exc)
            return kind, str(exc)
        return None

    def _budget_cap(self, p: Pool) -> int | None:
        """Most replicas `p` may have given what the other pool holds right now."""
        budget = self.config.budget.max_gpus
        if budget is None:
            return None
        other = Pool.DECODE if p is Pool.PREFILL else Pool.PREFILL
        o = self._pools[other]
        other_replicas = max(
            o.status.desired if o.status is not None else 0,
            o.target if o.target is not None else 0,
        )
        return max((budget - other_replicas * self.gpr[other]) // self.gpr[p], 0)

    def _actuate(self, p: Pool, now: float, leader: bool) -> None:
        s = self._pools[p]
        assert self._decision is not None and s.status is not None
        pd = _pool_decision(self._decision, p)
        st = s.status
        if st.ready >= st.desired and st.observed_generation_current:
            s.starting_since = None
        elif s.starting_since is None:
            s.starting_since = now
        want = pd.replicas
        notes: list[str] = [pd.reason] if pd.reason else []

        if want > st.desired:
            cap = self._budget_cap(p)
            if cap is not None and want > cap:
                capped = max(cap, st.desired)
                notes.append(
                    f"capped at {capped} (budget {self.config.budget.max_gpus} GPUs) "
                    "until the other pool scales down"
                )
                want = capped

        if not leader:
            self._set(p, now, want, "standby", "standby: not the leader, not actuating", False)
            return

        if want > st.desired and s.starting_since is not None:
            waited = now - s.starting_since
            if waited < self.grace_s:
                why = (
                    f"waiting for the previous scale-up to become ready (ready {st.ready}/"
                    f"{st.desired}, {waited:.0f} s of {self.grace_s:.0f} s grace); wants {want}"
                )
                self._set(p, now, s.target, "hold_starting", f"holding at {s.target}: {why}", True)
                self._schedule_retry(p, now, needs_decision=False)
                return
            self.metrics.count_error("startup_timeout")
            notes.append(
                f"previous scale-up still not ready after {waited:.0f} s "
                f"(ready {st.ready}/{st.desired}); scaling anyway"
            )

        if want == st.desired:
            s.target = want
            s.failing = None
            s.last_ok_at = now
            self._set(p, now, want, "steady", "; ".join(notes) or "steady", False)
            return

        err = self._scale_with_retries(p, want)
        if err is not None:
            kind, text = err
            self._fail(p, now, f"hold_{kind}", text, needs_decision=False)
            return
        code = "scale_up" if want > st.desired else "scale_down"
        if want > st.desired:
            s.starting_since = now
        s.target = want
        s.failing = None
        s.last_ok_at = now
        s.last_change_at = now
        s.status = replace(st, desired=want, ready=min(st.ready, want))
        self._set(p, now, want, code, "; ".join(notes) or code, False)

    def _scale_with_retries(self, p: Pool, replicas: int) -> tuple[str, str] | None:
        """None on success, else (error kind, text). 409: re-read and rewrite a few times."""
        for attempt in range(self.loop.conflict_retries + 1):
            if not self._is_leader():  # fencing: leadership may have lapsed since the tick began
                return "standby", "lost leadership before writing"
            try:
                self.actuators[p].scale(replicas)
                return None
            except ActuatorError as exc:
                kind = classify_actuator_error(exc)
                if kind != "conflict" or attempt == self.loop.conflict_retries:
                    self.metrics.count_error(kind)
                    return kind, str(exc)
                self.log.info("conflict pool=%s attempt=%d: re-reading", p.value, attempt + 1)
                if (err := self._read_status(p)) is not None:
                    self.metrics.count_error(err[0])
                    return err
        raise AssertionError("unreachable")

    def _fail(self, p: Pool, now: float, code: str, why: str, *, needs_decision: bool) -> None:
        """Hold `p` at its last good target because something failed; retry soon."""
        s = self._pools[p]
        s.failing = why
        self._set(p, now, s.target, code, f"holding at {s.target}: {why}", True)
        self._schedule_retry(p, now, needs_decision=needs_decision)

    def _check_partial(self) -> None:
        """Partial: one pool moved while the other has been failing to follow since."""
        partial: list[tuple[Pool, Pool]] = []
        for p in POOLS:
            q = Pool.DECODE if p is Pool.PREFILL else Pool.PREFILL
            sp, sq = self._pools[p], self._pools[q]
            if (
                sp.failing is not None
                and sq.failing is None
                and sq.last_change_at is not None
                and (sp.last_ok_at is None or sq.last_change_at > sp.last_ok_at)
            ):
                partial.append((q, p))
        was = self._partial
        self._partial = bool(partial)
        for ok, bad in partial:
            text = (
                f"PARTIAL: {ok.value} is at {self._pools[ok].target} but {bad.value} could not "
                f"follow ({self._pools[bad].failing}); retrying {bad.value} every "
                f"{self.loop.retry_interval_s:.0f} s"
            )
            self.metrics.count_error("partial_actuation")
            self.log.warning(
                "partial_actuation scaled=%s held=%s reason=%r", ok.value, bad.value, text
            )
            for x in (ok, bad):
                sn = self._pools[x].snapshot
                if sn is not None and not sn.reason.startswith("PARTIAL"):
                    self._pools[x].snapshot = replace(sn, reason=f"{text}; {sn.reason}")
                self.metrics.count_decision(x.value, "partial")
        if was and not partial:
            self.log.info("partial_actuation_resolved")

    def _schedule_retry(self, p: Pool, now: float, *, needs_decision: bool) -> None:
        s = self._pools[p]
        s.retry_needs_decision = s.retry_needs_decision or needs_decision
        due = now + self.loop.retry_interval_s
        s.retry_due = due if due < s.next_due else None  # else the regular tick comes first

    def _set(
        self, p: Pool, now: float, desired: int | None, code: str, reason: str, held: bool
    ) -> None:
        s = self._pools[p]
        if not held:
            s.retry_needs_decision = False
        pd = _pool_decision(self._decision, p) if self._decision is not None else None
        st = s.status
        s.snapshot = PoolSnapshot(
            pool=p.value,
            desired=desired,
            current=st.desired if st else None,
            ready=st.ready if st else None,
            wanted=pd.wanted_replicas if pd else None,
            expected_latency_ms=pd.expected_latency_ms if pd else None,
            target_ms=pd.target_ms if pd else None,
            reason=reason,
            reason_code=code,
            held=held,
            updated_at=now,
        )
        self.metrics.count_decision(p.value, code)

    def _publish(self, now: float, leader: bool) -> ControllerSnapshot:
        pools = {}
        for p in POOLS:
            s = self._pools[p]
            sn = s.snapshot or PoolSnapshot(
                pool=p.value,
                desired=s.target,
                current=s.status.desired if s.status else None,
                ready=s.status.ready if s.status else None,
                wanted=None,
                expected_latency_ms=None,
                target_ms=None,
                reason="no decision yet",
                reason_code="pending",
                held=True,
                updated_at=None,
            )
            if s.status is not None:  # refresh cluster view even on ticks the pool was not due
                sn = replace(sn, current=s.status.desired, ready=s.status.ready)
            pools[p] = sn
            s.snapshot = sn
        used = sum((self._pools[p].target or 0) * self.gpr[p] for p in POOLS)
        snap = ControllerSnapshot(
            timestamp=self._decision.timestamp if self._decision else None,
            prefill=pools[Pool.PREFILL],
            decode=pools[Pool.DECODE],
            forecast=self._decision.forecast if self._decision else None,
            gpus_used=used,
            gpu_budget=self.config.budget.max_gpus,
            is_leader=leader,
            partial=self._partial,
            notes=self._notes,
            last_metrics_ok_at=self._last_metrics_ok,
            last_tick_at=now,
        )
        self.metrics.update(snap)
        for ps in (snap.prefill, snap.decode):
            if ps.updated_at == now:
                self._log_decision(ps, snap)
        with self._lock:
            self._snapshot = snap
        return snap

    def _log_decision(self, ps: PoolSnapshot, snap: ControllerSnapshot) -> None:
        lat = ps.expected_latency_ms
        # Error holds are warnings; deliberate holds (readiness, standby) are normal decisions.
        error_hold = ps.held and ps.reason_code not in ("hold_starting", "standby")
        self.log.log(
            logging.WARNING if error_hold or snap.partial else logging.INFO,
            "decision pool=%s t=%s desired=%s current=%s ready=%s wanted=%s expected_ms=%s "
            "target_ms=%s gpus=%d/%s leader=%s code=%s held=%s partial=%s reason=%r",
            ps.pool,
            f"{snap.timestamp:.0f}" if snap.timestamp is not None else "-",
            ps.desired,
            ps.current,
            ps.ready,
            ps.wanted,
            "-" if lat is None else f"{lat:.1f}",
            ps.target_ms,
            snap.gpus_used,
            snap.gpu_budget if snap.gpu_budget is not None else "inf",
            str(snap.is_leader).lower(),
            ps.reason_code,
            str(ps.held).lower(),
            str(snap.partial).lower(),
            ps.reason,
        )


__all__ = [
    "Controller",
    "ControllerSnapshot",
    "LoopSettings",
    "PlanningCore",
    "PoolSnapshot",
    "classify_actuator_error",
]
