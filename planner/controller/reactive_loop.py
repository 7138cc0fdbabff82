"""The live reactive path: every few seconds between the controller's predictive ticks, read
the queues and scale up at once on a burst beyond the plan.

`ReactiveLoop.run` replaces `Controller.run` when the reactive path is on: it ticks the
controller as before (a tick with nothing due only publishes) and, every
`planner.reactive.interval_s`, `check()`s: read a LoadSnapshot (sla_planner.sources.
prometheus_queues), ask the pure rule (sla_planner.model.reactive.react) what the pools need
given what they run and what is ready, and when it raises a pool, apply the raised decision
through `Controller.actuate_now` (the same budget cap, readiness hold and leader fencing as a
tick; so a reaction never stacks on a scale-up still starting) and tell the planner what the
cluster runs now (`seed`: held like its own recommendation for the scale-down window).
Never down.
One thread, so ticks and reactions never interleave. Only the leader reacts.

A failed read is logged once per distinct error, counted (`errors_total{kind="reactive"}`)
and skipped: the predictive loop carries on.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from sla_planner.model.reactive import LoadSnapshot, PoolCapacity, ReactiveAction, react
from sla_planner.model.reasons import ErrorKind
from sla_planner.model.types import Decision, Pool
from sla_planner.sources.base import MetricsSourceError

log = logging.getLogger("sla_planner.reactive")


class LoadReader(Protocol):
    def read(self, now: float) -> LoadSnapshot: ...


def raised_decision(d: Decision, action: ReactiveAction, gpus: dict[Pool, int]) -> Decision:
    """`d` with the pools `action` raises set to its replicas (never lowered)."""
    why = "reactive: " + "; ".join(action.reasons)
    out = d
    for pool, n in ((Pool.PREFILL, action.prefill), (Pool.DECODE, action.decode)):
        pd = d.prefill if pool is Pool.PREFILL else d.decode
        if n > pd.replicas:
            new = replace(pd, replicas=n, gpus=n * gpus[pool], reason=why)
            out = replace(out, **{pool.value: new})
    return out


class ReactiveLoop:
    def __init__(
        self,
        controller: Any,
        reader: LoadReader,
        settings: Any,
        capacity: Callable[[float, float], PoolCapacity],
        ttft_ms: float,
        slo_metrics: Any | None = None,
    ) -> None:
        self.controller = controller
        self.reader = reader
        self.settings = settings  # sla_planner.model.reactive.ReactiveSettings
        self.capacity = capacity
        self.ttft_ms = ttft_ms
        self.slo_metrics = slo_metrics
        self.clock = controller.clock
        self._next_check = -math.inf
        self._last_error: str | None = None

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

    def check(self) -> ReactiveAction | None:
        """One reactive check now; the action taken (None: nothing to act from)."""
        now = self.clock.now()
        self._next_check = now + self.settings.interval_s
        d = self.controller.decision
        snap = self.controller.snapshot()
        if d is None or snap is None or not snap.is_leader:
            return None
        try:
            load = self.reader.read(now)
        except MetricsSourceError as exc:
            self._failed(str(exc))
            return None
        self._last_error = None
        target = (
            _n(snap.prefill.desired, d.prefill.replicas),
            _n(snap.decode.desired, d.decode.replicas),
        )
        ready = (_n(snap.prefill.ready, target[0]), _n(snap.decode.ready, target[1]))
        isl = load.isl if math.isfinite(load.isl) and load.isl > 0 else d.forecast.isl
        action = react(
            load, target, ready, self.capacity(isl, d.forecast.osl), self.settings, self.ttft_ms
        )
        if action.raised(target):
            self._apply(d, action, target, now)
        return action

    def _apply(
        self, d: Decision, action: ReactiveAction, target: tuple[int, int], now: float
    ) -> None:
        gpus = self.controller.gpr
        pools = [p for p, n, t in ((Pool.PREFILL, action.prefill, target[0]), (Pool.DECODE, action.decode, target[1])) if n > t]  # fmt: skip
        self.controller.actuate_now(raised_decision(d, action, gpus), pools)
        # The cluster now runs the raised pools: the planner holds them like its own
        # recommendation for the scale-down window (Planner.seed), not dropping them next tick.
        seed = getattr(self.controller.planner, "seed", None)
        if seed is not None:
            seed(max(action.prefill, target[0]), max(action.decode, target[1]), now)
        if self.slo_metrics is not None:
            for p in pools:
                self.slo_metrics.reactive.labels(pool=p.value).inc()
        log.info(
            "reactive_scale_up pools=%s reasons=%r",
            ",".join(p.value for p in pools),
            "; ".join(action.reasons),
        )

    def _failed(self, text: str) -> None:
        self.controller.metrics.count_error(ErrorKind.REACTIVE)
        if text != self._last_error:
            log.warning(
                "reactive_read_failed error=%r: skipping the fast path until it reads", text
            )
        self._last_error = text


def _n(x: int | None, default: int) -> int:
    return default if x is None else int(x)
