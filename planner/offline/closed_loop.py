"""The closed-loop dry run's step: one deployment's interval replayed by the discrete-event judge
as the plant the planner controls.

The open-loop dry run decides every interval from demand alone and judges the schedule
afterwards. In the closed loop the judge replays each interval [t, t + interval) *while* the
planner runs, as a cluster would: the planner decides at t (having seen demand and measured
attainment only of earlier intervals), the judge replays the interval with the decided
replicas, and what completed in it (finished, met) is fed back to the planner's error-budget
controller before the next decision. With a reactive hook the interval is replayed in steps of
`reactive.interval_s` and after each step the reactive rule (sla_planner.model.reactive) may
raise a pool at once from the judge's queues and TTFT, within the pool's max_replicas, the
deployment's max_gpus and what its GPU type has free (every path to the cluster goes through
the same limits).

No look-ahead: decision k uses samples and attainment windows that end at or before its time
(tested). The judge's results do not depend on how time is split into steps, so a schedule
that never reacts replays exactly as the open loop's would.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sla_planner.evaluation.des import Window
from sla_planner.evaluation.judge import Plant, served
from sla_planner.model.config import PlannerConfig, ReactiveSettings
from sla_planner.model.reactive import LoadSnapshot, PoolCapacity, capacity, react
from sla_planner.model.size.error_budget import AttainmentSample
from sla_planner.model.types import Decision, DemandSample, FleetDecision


@dataclass(frozen=True)
class ReactiveHook:
    """The fast path in the loop: the rule's settings, one replica's capacity at given mean
    lengths on a variant (from its profiles), and the TTFT target."""

    settings: ReactiveSettings
    capacity: Callable[[str, float, float], PoolCapacity]
    ttft_ms: float


@dataclass(frozen=True)
class LoopPlant:
    """One deployment's plant in the loop: the judge, the reactive hook, its limits."""

    plant: Plant
    config: PlannerConfig
    reactive: ReactiveHook | None = None


@dataclass(frozen=True)
class Reaction:
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

    return ReactiveHook(config.reactive, cap, config.slo.ttft_ms)


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
) -> tuple[AttainmentSample, tuple[int, int]]:
    """Replay one interval of `d`'s deployment (in reactive steps when a hook is given); the
    interval's measured window and the replicas that ran at its end."""
    t, t1 = span
    variant, p, q = served(d)
    hook = lp.reactive if d.held is None else None  # a switch in progress: no reactions
    step = hook.settings.interval_s if hook is not None else t1 - t
    lengths = _lengths(run.actual[len(run.decisions) - 2] if len(run.decisions) > 1 else None, d)
    cap = hook.capacity(variant, *lengths) if hook is not None else None
    counts = _Counts()
    before = lp.plant.judge.in_flight() if lp.plant.judge is not None else 0
    target = (p, q)
    while t < t1 - 1e-9:
        until = min(t + step, t1)
        w = lp.plant.advance(until, variant, *target)
        arrivals = w.finished + w.in_flight - before
        before = w.in_flight
        counts.add(w)
        if hook is not None and cap is not None and until < t1 - 1e-9:
            limits = _ceilings(lp.config, fd, d)
            target, why = _react(hook, cap, w, until - t, arrivals, lengths[0], target, limits)
            if target[0] > p or target[1] > q:
                run.reactions.append(Reaction(w.t1, *target, why))
                # The pools now run the raised counts: the planner holds them like its own
                # recommendation for the scale-down window, not dropping them next decision.
                seed = getattr(policy, "seed", None)
                if seed is not None:
                    seed(target[0], target[1], w.t1, d.deployment, variant)
                p, q = target
        t = until
    window = AttainmentSample(
        span[0], span[1], counts.finished, counts.met, counts.ttft_met, counts.itl_met
    )
    return window, target


def _ceilings(config: PlannerConfig, fd: FleetDecision, d: Decision) -> tuple[int, int]:
    """Most replicas a reaction may give each pool: max_replicas, the deployment's max_gpus and
    what its GPU types have free beside every other pool's decided replicas."""
    gp, gd = d.prefill.gpus_per_replica, d.decode.gpus_per_replica
    top_p, top_d = config.prefill.max_replicas, config.decode.max_replicas
    used = fd.used()
    for pool, gpr, is_p in ((d.prefill, gp, True), (d.decode, gd, False)):
        budget = fd.budget.get(pool.gpu_type)
        if budget is None:
            continue
        room = (budget - used.get(pool.gpu_type, 0)) // gpr + pool.replicas
        top_p, top_d = (min(top_p, room), top_d) if is_p else (top_p, min(top_d, room))
    cap = d.budget_gpus
    if cap is not None:
        top_p = min(top_p, (cap - d.decode.gpus) // gp)
        top_d = min(top_d, (cap - d.prefill.gpus) // gd)
    return max(top_p, d.prefill.replicas), max(top_d, d.decode.replicas)


def _lengths(last: DemandSample | None, d: Decision) -> tuple[float, float]:
    """Mean ISL/OSL the reactive rule reads: the last interval's, else the forecast's."""
    isl = last.isl_mean if last is not None else math.nan
    osl = last.osl_mean if last is not None else math.nan
    isl = isl if math.isfinite(isl) and isl > 0 else d.forecast.isl
    osl = osl if math.isfinite(osl) and osl > 0 else d.forecast.osl
    return isl, osl


def _react(
    hook: ReactiveHook,
    cap: PoolCapacity,
    w: Window,
    window_s: float,
    arrivals: int,
    isl: float,
    target: tuple[int, int],
    limits: tuple[int, int],
) -> tuple[tuple[int, int], tuple[str, ...]]:
    running = max(w.in_flight - w.prefill_queue - w.decode_queue, 0)
    p99 = w.ttft_p99_ms if w.finished > 0 and math.isfinite(w.ttft_p99_ms) else None
    snap = LoadSnapshot(
        window_s, arrivals, w.prefill_queue, w.decode_queue, isl, running, None, p99
    )
    ready = (w.prefill_ready, w.decode_ready)
    action = react(snap, target, ready, cap, hook.settings, hook.ttft_ms)
    if not action.raised(target):
        return target, ()
    return (min(action.prefill, limits[0]), min(action.decode, limits[1])), action.reasons
