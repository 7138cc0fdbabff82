"""The live reactive path: every few seconds between the controller's predictive ticks, read
the queues and scale up at once on a burst beyond the plan.

`ReactiveLoop.run` replaces `Controller.run` when the reactive path is on: it ticks the
controller as before (a tick with nothing due only publishes) and, every
`planner.reactive.interval_s`, `check()`s: read a LoadSnapshot (sla_planner.sources.
prometheus_queues), ask the deployment's guard (sla_planner.model.reactive.guard, the one the
dry run's closed loop uses: robust lengths, the cap relative to the plan, stuck and implausible
readings held, max_replicas and the budgets beside what every pool holds now) what the pools
need given what they run and what is ready, and when it raises a pool, apply the raised
decision through `Controller.actuate_now` (the same max_replicas, budget cap, readiness hold
and leader fencing as a tick; so a reaction never stacks on a scale-up still starting) and
tell the planner what the cluster runs now (`seed`: held like its own recommendation for the
scale-down window). Never down. A check the guard holds is logged (`reactive_hold`, once per
distinct reason).
One thread, so ticks and reactions never interleave. Only the leader reacts.

A failed read is logged once per distinct error, counted (`errors_total{kind="reactive"}`)
and skipped: the predictive loop carries on.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sla_planner.model.reactive import (
    LoadSnapshot,
    PoolCapacity,
    ReactiveAction,
    ReactiveGuard,
    Situation,
)
from sla_planner.model.reasons import ErrorKind
from sla_planner.model.types import Decision, Pool
from sla_planner.sources.base import MetricsSourceError

log = logging.getLogger("sla_planner.reactive")
POOLS = (Pool.PREFILL, Pool.DECODE)


class LoadReader(Protocol):
    def read(self, now: float) -> LoadSnapshot: ...


def raised_decision(d: Decision, action: ReactiveAction, limits: tuple[int, int]) -> Decision:
    """`d` with the pools `action` raises set to its replicas (never lowered), each within its
    max_replicas (`limits`): the budget is the controller's ledger's, as on a tick."""
    why = "reactive: " + "; ".join(action.reasons)
    out = d
    for pool, n, top in ((Pool.PREFILL, action.prefill, limits[0]), (Pool.DECODE, action.decode, limits[1])):  # fmt: skip
        pd = d.prefill if pool is Pool.PREFILL else d.decode
        n = min(n, max(top, pd.replicas))
        if n > pd.replicas:
            new = replace(pd, replicas=n, gpus=n * pd.gpus_per_replica, reason=why)
            out = replace(out, **{pool.value: new})
    return out


@dataclass(frozen=True)
class ReactivePath:
    """One deployment's fast path: where its queues are read, the rule's settings, one
    replica's capacity on a variant at given mean lengths, its TTFT target and limits."""

    reader: LoadReader
    settings: Any  # sla_planner.model.config.ReactiveSettings
    capacity: Callable[[str, float, float], PoolCapacity]
    ttft_ms: float
    limits: tuple[int, int]  # max_replicas of prefill and decode


class ReactiveLoop:
    def __init__(
        self,
        controller: Any,
        paths: Mapping[str, ReactivePath],
        slo_metrics: Any | None = None,
    ) -> None:
        self.controller = controller
        self.paths = dict(paths)  # per deployment
        self.slo_metrics = slo_metrics
        self.clock = controller.clock
        self.interval_s = min(p.settings.interval_s for p in self.paths.values())
        self._next_check = -math.inf
        self._last_error: dict[str, str | None] = {}
        self.guards = {n: ReactiveGuard(p.settings, p.ttft_ms) for n, p in self.paths.items()}
        self._last_hold: dict[str, tuple[str, ...]] = {}

    def run(self, stop: threading.Event, max_ticks: int | None = None) -> int:
        """Tick the controller and check the queues until `stop`. Returns ticks run."""
        ticks = 0
        while not stop.is_set() and (max_ticks is None or ticks < max_ticks):
            self.controller.tick()
            ticks += 1
            if self.clock.now() >= self._next_check:
                self.check()
            if stop.is_set() or (max_ticks is not None and ticks >= max_ticks):
                break
            now = self.clock.now()
            wake = min(
                self.controller.next_wakeup(),
                self._next_check,
                now + self.controller.loop.retry_interval_s,
            )
            self.clock.sleep(max(wake - now, 0.0))
        return ticks

    def check(self) -> dict[str, ReactiveAction]:
        """One reactive check now, every deployment; the actions taken."""
        now = self.clock.now()
        self._next_check = now + self.interval_s
        out = {}
        for name, path in self.paths.items():
            action = self._check(name, path, now)
            if action is not None:
                out[name] = action
        return out

    def _check(self, name: str, path: ReactivePath, now: float) -> ReactiveAction | None:
        fd, snap = self.controller.decision, self.controller.snapshot()
        if fd is None or snap is None or not snap.is_leader:
            return None
        d = next((x for x in fd.deployments if x.deployment == name), None)
        ds = snap.deployments.get(name)
        if d is None or ds is None or d.held is not None:  # a switch in progress: no reactions
            return None
        try:
            load = path.reader.read(now)
        except MetricsSourceError as exc:
            self._failed(name, str(exc))
            return None
        self._last_error[name] = None
        fresh = self.controller.act.read_now(name, d.variant)
        if fresh is None:  # the next tick holds and says why; nothing to react on
            return None
        target = (fresh[0].desired, fresh[1].desired)
        ready = (fresh[0].ready, fresh[1].ready)
        isl = load.isl if math.isfinite(load.isl) and load.isl > 0 else d.forecast.isl
        sit = Situation(
            target,
            ready,
            (d.prefill.wanted_replicas, d.decode.wanted_replicas),
            (isl, d.forecast.osl),
            self.controller.planner.deployment(name).demand.length_bounds(),
            self.controller.act.reaction_ceilings(name, d.variant),
        )
        action = self.guards[name].check(load, sit, lambda i, o: path.capacity(d.variant, i, o))
        self._held(name, action)
        if action.raised(target):
            self._apply(name, d, action, target, path.limits, now)
        return action

    def _held(self, name: str, action: ReactiveAction) -> None:
        """Log what the guard held or bounded, once per distinct set of reasons."""
        if action.notes and action.notes != self._last_hold.get(name):
            log.info(
                "reactive_hold deployment=%s codes=%s reasons=%r",
                name,
                ",".join(c.value for c in action.codes),
                "; ".join(action.notes),
            )
        self._last_hold[name] = action.notes

    def _apply(
        self,
        name: str,
        d: Decision,
        action: ReactiveAction,
        target: tuple[int, int],
        limits: tuple[int, int],
        now: float,
    ) -> None:
        raised = raised_decision(d, action, limits)
        pools = [
            p
            for p, t in ((Pool.PREFILL, target[0]), (Pool.DECODE, target[1]))
            if (raised.prefill if p is Pool.PREFILL else raised.decode).replicas > t
        ]
        if not pools:
            return
        snap = self.controller.actuate_now(name, raised, pools)
        ds = snap.deployments.get(name) if snap is not None else None
        if ds is None:
            return
        now_runs = ds.pools[d.variant]
        desired = tuple(_n(now_runs[p.value].pool.desired, t) for p, t in zip((Pool.PREFILL, Pool.DECODE), target, strict=True))  # fmt: skip
        written = [p for p in pools if desired[POOLS.index(p)] > target[POOLS.index(p)]]
        if not written:  # held at the write (a scale-up still starting, the budget, ...)
            return
        # The cluster now runs the raised pools: the planner holds them like its own
        # recommendation for the scale-down window, not dropping them next tick. Only what
        # was written: a reaction held at the write must not reach the cluster by a tick.
        p, q = max(desired[0], target[0]), max(desired[1], target[1])
        self.controller.planner.seed(p, q, now, name, d.variant)
        if self.slo_metrics is not None:
            for pool in written:
                self.slo_metrics.reactive.labels(deployment=name, pool=pool.value).inc()
        log.info(
            "reactive_scale_up deployment=%s pools=%s reasons=%r",
            name,
            ",".join(x.value for x in written),
            "; ".join(action.reasons),
        )

    def _failed(self, name: str, text: str) -> None:
        self.controller.metrics.count_error(ErrorKind.REACTIVE, name)
        if text != self._last_error.get(name):
            log.warning(
                "reactive_read_failed deployment=%s error=%r: skipping the fast path until it "
                "reads",
                name,
                text,
            )
        self._last_error[name] = text


def _n(x: int | None, default: int) -> int:
    return default if x is None else int(x)
