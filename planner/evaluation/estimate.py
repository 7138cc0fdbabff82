"""A deployment's schedule as it served (`ServedSchedule`: the old variant's held replicas serve
until a switch's new ones are ready), its verdict as a fleet report reads it (`Verdict`, from
the discrete-event judge's replay), and the closed-loop simulator's model estimate beside it
(`estimate`: each run of one variant simulated with that variant's own curves; a model
estimate that shares the sizing's queueing model, not a judge)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sla_planner.evaluation.des.replay import ReplayResult
from sla_planner.evaluation.judge import served
from sla_planner.evaluation.sim_demand import SimDemand, demand_from_source
from sla_planner.evaluation.simulator import Schedule, bins_per_interval, simulate
from sla_planner.model.types import Decision

BIN_S = 10.0


@dataclass(frozen=True, eq=False)
class ServedSchedule:
    """What served one deployment in each interval from `start`."""

    start: float
    interval_s: float
    variant: tuple[str, ...]
    prefill: np.ndarray  # replicas serving (int)
    decode: np.ndarray

    @property
    def intervals(self) -> int:
        return len(self.variant)

    def runs(self) -> list[tuple[str, int, int]]:
        """(variant, first interval, end interval) of each run of one variant."""
        out: list[tuple[str, int, int]] = []
        for i, v in enumerate(self.variant):
            if out and out[-1][0] == v:
                out[-1] = (v, out[-1][1], i + 1)
            else:
                out.append((v, i, i + 1))
        return out


def served_schedule(decisions: Sequence[Decision], interval_s: float) -> ServedSchedule:
    rows = [served(d) for d in decisions]
    start = decisions[0].timestamp if decisions else math.nan
    return ServedSchedule(
        start,
        interval_s,
        tuple(r[0] for r in rows),
        np.array([r[1] for r in rows], np.int64),
        np.array([r[2] for r in rows], np.int64),
    )


@dataclass(frozen=True, eq=False)
class Verdict:
    """One deployment's attainment over the replay: requests never served (its pools at zero
    when the replay ends) count as misses."""

    attainment: float  # request-weighted: TTFT and ITL both met
    ttft_attainment: float
    itl_attainment: float
    requests: float
    interval_requests: np.ndarray
    interval_ok: np.ndarray  # requests meeting both, per interval
    method: str


def verdict(r: ReplayResult, intervals: int, method: str) -> Verdict:
    reqs = np.zeros(intervals)
    ok = np.zeros(intervals)
    k = min(intervals, r.interval_finished.size)
    reqs[:k] = r.interval_finished[:k]
    ok[:k] = r.interval_met[:k]
    total = float(r.finished + r.unfinished)
    met = 0.0 if r.finished == 0 else float(round(r.attainment * r.finished))
    # Completions after the end (the drain) and requests never served belong to the last
    # interval: counted, never dropped.
    if intervals:
        reqs[-1] += total - reqs.sum()
        ok[-1] += met - ok.sum()

    def share(x: float) -> float:
        return 0.0 if total <= 0 or math.isnan(x) else x * r.finished / total

    return Verdict(
        met / total if total > 0 else math.nan,
        share(r.ttft_attainment),
        share(r.itl_attainment),
        total,
        reqs,
        ok,
        method,
    )


def schedule_demand(schedule: ServedSchedule, source: Any) -> SimDemand | None:
    """The schedule's demand in 10 s bins (None: not a trace, or nothing to judge)."""
    from sla_planner.sources.trace_source import TraceMetricsSource

    if not isinstance(source, TraceMetricsSource) or schedule.intervals == 0:
        return None
    end = schedule.start + schedule.intervals * schedule.interval_s
    return demand_from_source(source, schedule.start, end, BIN_S)


def estimate(
    schedule: ServedSchedule,
    demand: SimDemand,
    curves: Mapping[str, tuple[Any, Any]],
    slo: tuple[float, float],
    startup_s: float,
) -> Verdict:
    """The closed-loop simulator on each run of one variant (`curves`: per variant, prefill
    and decode)."""
    k = bins_per_interval(demand, schedule.interval_s)
    parts = []
    for variant, i0, i1 in schedule.runs():
        pc, dc = curves[variant]
        sched = Schedule(
            schedule.start + i0 * schedule.interval_s,
            schedule.interval_s,
            schedule.prefill[i0:i1],
            schedule.decode[i0:i1],
            int(getattr(pc, "gpus_per_replica", 1)),
            int(getattr(dc, "gpus_per_replica", 1)),
        )
        dm = demand.slice(i0 * k, (i1 - i0) * k)
        if dm.total_requests <= 0:  # nothing to judge (and no prompts to take an SCV of)
            zeros = np.zeros(i1 - i0)
            parts.append((0.0, 0.0, 0.0, zeros, zeros))
            continue
        r = simulate(sched, dm, pc, slo[0], slo[1], startup_s, dc)
        parts.append(
            (r.requests, r.ttft_attainment, r.itl_attainment, r.interval_requests, r.interval_ok)
        )
    req = np.concatenate([p[3] for p in parts])
    ok = np.concatenate([p[4] for p in parts])
    total = float(req.sum())

    def weighted(i: int) -> float:
        if total <= 0:
            return math.nan
        return sum(p[i] * p[0] for p in parts if p[0] > 0) / total

    method = (
        "closed-loop simulator (model estimate): 10 s bins, replicas ready startup_s after the "
        "decision, each run of one variant judged with its own profiles; request-weighted, "
        "TTFT and ITL both met"
    )
    att = float(ok.sum()) / total if total > 0 else math.nan
    return Verdict(att, weighted(1), weighted(2), total, req, ok, method)
