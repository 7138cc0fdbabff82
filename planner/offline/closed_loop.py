"""The closed-loop dry run's step: one deployment's interval replayed by the discrete-event judge
as the plant the planner controls.

The open-loop dry run decides every interval from demand alone and judges the schedule
afterwards. In the closed loop the judge replays each interval [t, t + interval) *while* the
planner runs, as a cluster would: the planner decides at t (having seen demand and measured
attainment only of earlier intervals), the judge replays the interval with the decided
replicas, and what completed in it (finished, met) is fed back to the planner's error-budget
controller before the next decision. With a reactive hook the interval is replayed in steps of
`reactive.interval_s` and after each step the reactive rule (sla_planner.model.reactive) may
raise a pool at once from the judge's queues and TTFT, through the guard the live loop uses
(`model.reactive.guard`: the lengths the planner's demand guard left, the cap relative to the
plan, stuck and implausible readings held), within the pool's max_replicas and the budgets
beside what every pool holds at that instant (`model.allocate.ledger`: a raised pool is
recorded before the next check, so a deployment's two pools, and the deployments of a fleet
replayed after it, count it).

No look-ahead: decision k uses samples and attainment windows that end at or before its time
(tested). The judge's results do not depend on how time is split into steps, so a schedule
that never reacts replays exactly as the open loop's would.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sla_planner.evaluation.des import Window
from sla_planner.evaluation.judge import Plant, served
from sla_planner.model.allocate.ledger import GpuLedger
from sla_planner.model.config import PlannerConfig, ReactiveSettings
from sla_planner.model.forecast.robust_demand import MAX_MEAN_TOKENS
from sla_planner.model.reactive import (
    Ceilings,
    LoadSnapshot,
    PoolCapacity,
    ReactiveAction,
    ReactiveGuard,
    Situation,
    capacity,
)
from sla_planner.model.size.error_budget import AttainmentSample
from sla_planner.model.types import Decision, DemandSample, FleetDecision


@dataclass(frozen=True)
class ReactiveHook:
    """The fast path in the loop: the rule's settings, one replica's capacity at given mean
    lengths on a variant (from its profiles), the TTFT target, and the deployment's guard
    (it remembers what it reacted on: one per run)."""

    settings: ReactiveSettings
    capacity: Callable[[str, float, float], PoolCapacity]
    ttft_ms: float
    guard: ReactiveGuard


@dataclass(frozen=True)
class LoopPlant:
    """One deployment's plant in the loop: the judge, the reactive hook, its limits."""

    plant: Plant
    config: PlannerConfig
    reactive: ReactiveHook | None = None


@dataclass(frozen=True)
class Reaction:
    """A reactive check that raised a pool (`reasons`: why), or held one (`reasons`: why
    not; the replicas then are the ones running)."""

    time: float
    prefill: int
    decode: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class IntervalRecord:
    """One interval as the loop saw it: replicas run (after reactions), what completed, and
    the error-budget controller's state after observing it (None: fixed-margin planner)."""

    start: float
    end: float
    prefill: int
    decode: int
    finished: int
    met: int
    budget: Any | None = None  # sla_planner.model.size.error_budget.BudgetStatus


def reactive_hook(
    config: PlannerConfig, curves: Callable[[str], tuple[Any, Any]]
) -> ReactiveHook | None:
    """The reactive rule wired to each variant's profiles, or None when config.reactive is
    off. `curves(variant)`: its (prefill, decode) curves."""
    if not config.reactive.enabled:
        return None

    def cap(variant: str, isl: float, osl: float) -> PoolCapacity:
        pc, dc = curves(variant)
        return capacity(pc, dc, isl, osl, config.slo.itl_ms)

    guard = ReactiveGuard(config.reactive, config.slo.ttft_ms)
    return ReactiveHook(config.reactive, cap, config.slo.ttft_ms, guard)


def decided_ledger(fd: FleetDecision) -> GpuLedger:
    """The GPUs every pool of `fd` holds as decided (a switch's old side included)."""
    ledger = GpuLedger(dict(fd.budget))
    for d in fd.deployments:
        cap = d.budget_gpus
        for pool in (d.prefill, d.decode):
            key = (d.deployment, d.variant, pool.pool.value)
            ledger.hold(key, pool.gpu_type, pool.gpus, d.deployment, cap)
        if d.held is not None:
            h = d.held
            for name, t, g in (("prefill", h.prefill_type, h.prefill_gpus), ("decode", h.decode_type, h.decode_gpus)):  # fmt: skip
                ledger.hold((d.deployment, h.variant, name), t, g, d.deployment, cap)
    return ledger


@dataclass
class _Counts:
    finished: int = 0
    met: int = 0
    ttft_met: int = 0
    itl_met: int = 0

    def add(self, w: Window) -> None:
        self.finished += w.finished
        self.met += w.met
        self.ttft_met += w.ttft_met
        self.itl_met += w.itl_met


def replay_interval(
    lp: LoopPlant,
    policy: Any,
    fd: FleetDecision,
    d: Decision,
    span: tuple[float, float],
    run: Any,
    ledger: GpuLedger | None = None,
) -> tuple[AttainmentSample, tuple[int, int]]:
    """Replay one interval of `d`'s deployment (in reactive steps when a hook is given); the
    interval's measured window and the replicas that ran at its end. `ledger`: what every
    pool holds (a fleet's deployments share one per interval; default: `fd` as decided)."""
    t, t1 = span
    variant, p, q = served(d)
    hook = lp.reactive if d.held is None else None  # a switch in progress: no reactions
    step = hook.settings.interval_s if hook is not None else t1 - t
    react = (
        _Reacting(hook, policy, d, run, ledger or decided_ledger(fd), lp.config) if hook else None
    )
    counts = _Counts()
    before = lp.plant.judge.in_flight() if lp.plant.judge is not None else 0
    target = (p, q)
    while t < t1 - 1e-9:
        until = min(t + step, t1)
        w = lp.plant.advance(until, variant, *target)
        arrivals = w.finished + w.in_flight - before
        before = w.in_flight
        counts.add(w)
        if react is not None and until < t1 - 1e-9:
            target = react.check(w, until - t, arrivals, target)
        t = until
    window = AttainmentSample(
        span[0], span[1], counts.finished, counts.met, counts.ttft_met, counts.itl_met
    )
    return window, target


class _Reacting:
    """One deployment's reactive checks over one interval of the closed loop."""

    def __init__(
        self, hook: ReactiveHook, policy: Any, d: Decision, run: Any, ledger: GpuLedger,
        config: PlannerConfig,
    ) -> None:  # fmt: skip
        self.hook, self.policy, self.d, self.run, self.ledger = hook, policy, d, run, ledger
        self.config = config
        self.variant = d.variant
        last = _observed(policy, d.deployment) if len(run.decisions) > 1 else None
        self.lengths = _lengths(last, d)
        self.bounds = _length_bounds(policy, d.deployment)
        self.keys: tuple[Hashable, Hashable] = (
            (d.deployment, d.variant, "prefill"),
            (d.deployment, d.variant, "decode"),
        )
        self.capacity = functools.lru_cache(maxsize=8)(
            lambda isl, osl: hook.capacity(self.variant, isl, osl)
        )

    def check(
        self, w: Window, window_s: float, arrivals: int, target: tuple[int, int]
    ) -> tuple[int, int]:
        d = self.d
        running = max(w.in_flight - w.prefill_queue - w.decode_queue, 0)
        p99 = w.ttft_p99_ms if w.finished > 0 and math.isfinite(w.ttft_p99_ms) else None
        snap = LoadSnapshot(
            window_s, arrivals, w.prefill_queue, w.decode_queue, self.lengths[0], running, None, p99
        )  # fmt: skip
        plan = (d.prefill.wanted_replicas, d.decode.wanted_replicas)
        sit = Situation(
            target, (w.prefill_ready, w.decode_ready), plan, self.lengths, self.bounds,
            self._ceilings(target),
        )  # fmt: skip
        action = self.hook.guard.check(snap, sit, self.capacity)
        if not action.raised(target):
            self._held(w.t1, target, action)
            return target
        new = (action.prefill, action.decode)
        gprs = (d.prefill.gpus_per_replica, d.decode.gpus_per_replica)
        for key, pool, n, g in zip(self.keys, (d.prefill, d.decode), new, gprs, strict=True):
            self.ledger.hold(key, pool.gpu_type, n * g, d.deployment, d.budget_gpus)
        self.run.reactions.append(Reaction(w.t1, *new, action.reasons + action.notes))
        # The pools now run the raised counts: the planner holds them like its own
        # recommendation for the scale-down window, not dropping them next decision.
        seed = getattr(self.policy, "seed", None)
        if seed is not None:
            seed(new[0], new[1], w.t1, d.deployment, self.variant)
        return new

    def _ceilings(self, target: tuple[int, int]) -> Ceilings:
        d, cfg = self.d, self.config
        gprs = (d.prefill.gpus_per_replica, d.decode.gpus_per_replica)
        for key, pool, n, g in zip(self.keys, (d.prefill, d.decode), target, gprs, strict=True):
            self.ledger.hold(key, pool.gpu_type, n * g, d.deployment, d.budget_gpus)
        room = (self.ledger.cap(self.keys[0], gprs[0]), self.ledger.cap(self.keys[1], gprs[1]))
        return Ceilings(
            (cfg.prefill.max_replicas, cfg.decode.max_replicas),
            room,
            self.ledger.joint_cap(self.keys),
            gprs,
            self.ledger.limit(self.keys[0]),
        )

    def _held(self, t: float, target: tuple[int, int], action: ReactiveAction) -> None:
        if action.notes:
            self.run.reactive_holds.append(Reaction(t, *target, action.notes))


def _observed(policy: Any, name: str) -> DemandSample | None:
    """The planner's last observed sample of `name`, outliers clipped (None: not a planner)."""
    deployment = getattr(policy, "deployment", None)
    if deployment is None:
        return None
    return deployment(name).demand.last


def _length_bounds(policy: Any, name: str) -> tuple[float, float]:
    """The demand guard's bounds on a mean ISL and OSL now (no planner: no model's context)."""
    deployment = getattr(policy, "deployment", None)
    if deployment is None:
        return MAX_MEAN_TOKENS, MAX_MEAN_TOKENS
    return deployment(name).demand.length_bounds()


def _lengths(last: DemandSample | None, d: Decision) -> tuple[float, float]:
    """Mean ISL/OSL the reactive rule reads: the last interval's as the planner saw it
    (outliers clipped by its demand guard), else the forecast's."""
    isl = last.isl_mean if last is not None else math.nan
    osl = last.osl_mean if last is not None else math.nan
    isl = isl if math.isfinite(isl) and isl > 0 else d.forecast.isl
    osl = osl if math.isfinite(osl) and osl > 0 else d.forecast.osl
    return isl, osl
