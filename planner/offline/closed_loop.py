"""The closed-loop dry run: the discrete-event judge as the plant the planner controls.

The open-loop dry run (sla_planner.offline.dryrun) decides every interval from demand alone
and judges the schedule afterwards. Here the judge replays the requests *while* the planner
runs, as a cluster would: for each interval [t, t + interval) the planner decides at t (having
seen demand and measured attainment only of earlier intervals), the judge replays the interval
with the decided replicas, and what completed in it (finished, met) is fed back to the
planner's error-budget controller before the next decision
(`SloPlanner.observe_attainment`). With a reactive hook the interval is replayed in steps of
`reactive.interval_s` and after each step the reactive rule (sla_planner.model.reactive) may
raise a pool at once from the judge's queues and TTFT.

No look-ahead: decision k uses samples and attainment windows that end at or before its time
(tested). The judge's results do not depend on how time is split into steps, so a schedule
that never reacts replays exactly as the open loop's would.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sla_planner.evaluation.des import Judge, Window, summarize
from sla_planner.evaluation.des.replay import ReplayResult
from sla_planner.evaluation.des_replay import source_requests
from sla_planner.model.reactive import (
    LoadSnapshot,
    PoolCapacity,
    ReactiveSettings,
    capacity,
    react,
)
from sla_planner.model.size.error_budget import AttainmentSample
from sla_planner.model.types import Decision, DemandSample
from sla_planner.offline.dryrun import DryRunResult, PlannerLike, fetch_replay
from sla_planner.sources.base import MetricsSource


class JudgeLike(Protocol):
    """What the loop needs of sla_planner.evaluation.des.Judge."""

    def advance(self, until_s: float, prefill_target: int, decode_target: int) -> Window: ...

    def finish(self) -> Window: ...


@dataclass(frozen=True)
class ReactiveHook:
    """The fast path in the loop: the rule's settings, one replica's capacity at given mean
    lengths (from the profiles), and the TTFT target."""

    settings: ReactiveSettings
    capacity: Callable[[float, float], PoolCapacity]
    ttft_ms: float


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


@dataclass(frozen=True)
class ClosedLoopResult(DryRunResult):
    judged: ReplayResult | None = None
    records: list[IntervalRecord] = field(default_factory=list)
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class _Tally:
    """Running counts over the loop."""

    finished: int = 0
    met: int = 0
    ttft_met: int = 0
    itl_met: int = 0
    in_flight: int = 0

    def add(self, w: Window) -> None:
        self.finished += w.finished
        self.met += w.met
        self.ttft_met += w.ttft_met
        self.itl_met += w.itl_met
        self.in_flight = w.in_flight

    def since(self, before: _Tally, t0: float, t1: float) -> AttainmentSample:
        """The interval's measured window: counts since `before`."""
        return AttainmentSample(
            t0,
            t1,
            self.finished - before.finished,
            self.met - before.met,
            self.ttft_met - before.ttft_met,
            self.itl_met - before.itl_met,
        )


def run_closed_loop(
    source: MetricsSource,
    planner: PlannerLike,
    judge: JudgeLike,
    start: float,
    end: float,
    interval_s: float,
    *,
    reactive: ReactiveHook | None = None,
    progress: Callable[[int], None] | None = None,
    warmup_intervals: int = 0,
) -> ClosedLoopResult:
    """Decide, replay and feed back every interval of [start, end); see the module doc."""
    warm, actual = fetch_replay(source, planner, start, end, interval_s, warmup_intervals)
    last: DemandSample | None = None
    decisions: list[Decision] = []
    records: list[IntervalRecord] = []
    reactions: list[Reaction] = []
    tally = _Tally()
    for k, sample in enumerate(actual, start=1):
        t0, t1 = sample.start, sample.start + interval_s
        d = planner.decide(t0)  # before this interval's demand and attainment: no look-ahead
        decisions.append(d)
        before = replace(tally)
        ran = _replay_interval(
            judge, planner, (t0, t1), d, reactive, _lengths(last, d), tally, reactions
        )
        planner.observe(sample)
        window = tally.since(before, t0, t1)
        feedback = getattr(planner, "observe_attainment", None)
        if feedback is not None:
            feedback(window)
        status = getattr(planner, "budget_status", None)
        records.append(IntervalRecord(t0, t1, *ran, int(window.finished), int(window.met), status))
        last = sample
        if progress is not None:
            progress(k)
    judge.finish()
    judged = summarize(judge) if isinstance(judge, Judge) else None
    return ClosedLoopResult(decisions, actual, warm, judged, records, reactions)


def build_judge(
    source: Any,
    start: float,
    end: float,
    prefill_profile: Any,
    decode_profile: Any,
    config: Any,
    seed: int = 0,
) -> Judge:
    """The discrete-event judge over the requests of [start, end) as a trace source describes
    them (sla_planner.evaluation.des_replay.source_requests), warm at `start`."""
    return Judge(
        source_requests(source, start, end, seed),
        prefill_profile,
        decode_profile=decode_profile,
        ttft_ms=config.slo.ttft_ms,
        itl_ms=config.slo.itl_ms,
        startup_s=config.startup_s,
        start_s=start,
    )


def reactive_hook(config: Any, prefill_curves: Any, decode_curves: Any) -> ReactiveHook | None:
    """The reactive rule wired to the profiles, or None when config.reactive is off."""
    if not config.reactive.enabled:
        return None

    def cap(isl: float, osl: float) -> PoolCapacity:
        return capacity(prefill_curves, decode_curves, isl, osl, config.slo.itl_ms)

    return ReactiveHook(config.reactive, cap, config.slo.ttft_ms)


def _lengths(last: DemandSample | None, d: Decision) -> tuple[float, float]:
    """Mean ISL/OSL the reactive rule reads: the last interval's, else the forecast's."""
    isl = last.isl_mean if last is not None else math.nan
    osl = last.osl_mean if last is not None else math.nan
    isl = isl if math.isfinite(isl) and isl > 0 else d.forecast.isl
    osl = osl if math.isfinite(osl) and osl > 0 else d.forecast.osl
    return isl, osl


def _replay_interval(
    judge: JudgeLike,
    planner: PlannerLike,
    span: tuple[float, float],
    d: Decision,
    hook: ReactiveHook | None,
    lengths: tuple[float, float],
    tally: _Tally,
    reactions: list[Reaction],
) -> tuple[int, int]:
    """Replay one interval (in reactive steps when a hook is given); returns the replicas
    that ran at its end."""
    t, t1 = span
    target = (d.prefill.replicas, d.decode.replicas)
    step = hook.settings.interval_s if hook is not None and hook.settings.enabled else t1 - t
    cap = hook.capacity(*lengths) if hook is not None else None
    while t < t1 - 1e-9:
        until = min(t + step, t1)
        w = judge.advance(until, *target)
        arrivals = w.finished + w.in_flight - tally.in_flight
        tally.add(w)
        if hook is not None and cap is not None and until < t1 - 1e-9:
            target = _react(
                hook, cap, w, until - t, arrivals, lengths[0], target, planner, reactions
            )
        t = until
    return target


def _react(
    hook: ReactiveHook,
    cap: PoolCapacity,
    w: Window,
    window_s: float,
    arrivals: int,
    isl: float,
    target: tuple[int, int],
    planner: PlannerLike,
    reactions: list[Reaction],
) -> tuple[int, int]:
    running = max(w.in_flight - w.prefill_queue - w.decode_queue, 0)
    p99 = w.ttft_p99_ms if w.finished > 0 and math.isfinite(w.ttft_p99_ms) else None
    snap = LoadSnapshot(
        window_s, arrivals, w.prefill_queue, w.decode_queue, isl, running, None, p99
    )
    ready = (w.prefill_ready, w.decode_ready)
    action = react(snap, target, ready, cap, hook.settings, hook.ttft_ms)
    if not action.raised(target):
        return target
    reactions.append(Reaction(w.t1, action.prefill, action.decode, action.reasons))
    # The pools now run the raised counts: the planner holds them like its own recommendation
    # for the scale-down window (Planner.seed), instead of dropping them at the next decision.
    seed = getattr(planner, "seed", None)
    if seed is not None:
        seed(action.prefill, action.decode, w.t1)
    return action.prefill, action.decode
