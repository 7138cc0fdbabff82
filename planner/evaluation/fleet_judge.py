"""Judging a fleet's schedule per deployment, behind one small interface.

`FleetJudge.judge(schedule, source, engines, slo, startup_s)` gives one deployment's measured
attainment over the replay. Two judges implement it: the discrete-event replay of every
request (`evaluation.fleet_des_judge.DesJudge`, independent of the sizing: the fleet dry run's
default) and the closed-loop simulator (`SimulatorJudge` here, a model estimate that shares the
sizing's queueing model).

What served a deployment, interval by interval (`served_schedule`): its variant's replicas,
except while a switch is in progress, when the old variant's held replicas serve and the new
ones are still starting. Each run of one variant is judged with that variant's profiles; the
new variant's replicas were started `startup_s` before its run begins, so the run starts warm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sla_planner.evaluation.sim_demand import SimDemand, demand_from_source
from sla_planner.evaluation.simulator import Schedule, bins_per_interval, simulate
from sla_planner.model.fleet.config import FleetSLO
from sla_planner.model.fleet.planning import VariantEngines
from sla_planner.model.fleet.types import FleetAllocation


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


def served_schedule(
    allocations: Sequence[FleetAllocation], name: str, interval_s: float
) -> ServedSchedule:
    variants, pre, dec = [], [], []
    for a in allocations:
        d = a.by_name(name)
        if d.held is not None:
            variants.append(d.held.variant)
            pre.append(d.held.prefill)
            dec.append(d.held.decode)
        else:
            variants.append(d.variant)
            pre.append(d.prefill.replicas)
            dec.append(d.decode.replicas)
    start = allocations[0].timestamp if allocations else math.nan
    return ServedSchedule(
        start, interval_s, tuple(variants), np.array(pre, np.int64), np.array(dec, np.int64)
    )


@dataclass(frozen=True, eq=False)
class JudgeResult:
    attainment: float  # request-weighted: TTFT and ITL both met
    ttft_attainment: float
    itl_attainment: float
    requests: float
    interval_requests: np.ndarray
    interval_ok: np.ndarray  # requests meeting both, per interval (expected)
    method: str


class FleetJudge(Protocol):
    name: str

    def judge(
        self,
        schedule: ServedSchedule,
        source: Any,
        engines: Mapping[str, VariantEngines],
        slo: FleetSLO,
        startup_s: float,
    ) -> JudgeResult | None:
        """None when this judge cannot replay the source (e.g. Prometheus)."""
        ...


def schedule_demand(schedule: ServedSchedule, source: Any, bin_s: float) -> SimDemand | None:
    """The schedule's demand in `bin_s` bins (None: not a trace, or nothing to judge); the
    dry run counts cold-start delays on it whatever the judge."""
    from sla_planner.sources.trace_source import TraceMetricsSource

    if not isinstance(source, TraceMetricsSource) or schedule.intervals == 0:
        return None
    end = schedule.start + schedule.intervals * schedule.interval_s
    return demand_from_source(source, schedule.start, end, bin_s)


class SimulatorJudge:
    """The closed-loop simulator, run on each variant run of the schedule."""

    name = "closed-loop simulator (model estimate)"

    def __init__(self, bin_s: float = 10.0) -> None:
        self.bin_s = bin_s

    def demand(self, schedule: ServedSchedule, source: Any) -> SimDemand | None:
        return schedule_demand(schedule, source, self.bin_s)

    def judge(
        self,
        schedule: ServedSchedule,
        source: Any,
        engines: Mapping[str, VariantEngines],
        slo: FleetSLO,
        startup_s: float,
    ) -> JudgeResult | None:
        demand = self.demand(schedule, source)
        if demand is None:
            return None
        k = bins_per_interval(demand, schedule.interval_s)
        parts: list[JudgePart] = []
        for variant, i0, i1 in schedule.runs():
            e = engines[variant]
            sched = Schedule(
                schedule.start + i0 * schedule.interval_s,
                schedule.interval_s,
                schedule.prefill[i0:i1],
                schedule.decode[i0:i1],
                e.prefill.gpus_per_replica,
                e.decode.gpus_per_replica,
            )
            dm = demand.slice(i0 * k, (i1 - i0) * k)
            if dm.total_requests <= 0:  # nothing to judge (and no prompts to take an SCV of)
                zeros = np.zeros(i1 - i0)
                parts.append(JudgePart(0.0, 0.0, 0.0, zeros, zeros))
                continue
            r = simulate(
                sched, dm, e.prefill.curves, slo.ttft_ms, slo.itl_ms, startup_s, e.decode.curves
            )
            parts.append(
                JudgePart(
                    r.requests,
                    r.ttft_attainment,
                    r.itl_attainment,
                    r.interval_requests,
                    r.interval_ok,
                )
            )
        return combine_parts(parts, self.method())

    def method(self) -> str:
        return (
            f"{self.name}: {self.bin_s:g} s bins, replicas ready startup_s after the decision, "
            "each run of one variant judged with its own profiles; request-weighted, TTFT and "
            "ITL both met"
        )


@dataclass(frozen=True, eq=False)
class JudgePart:
    """One run of one variant, judged (attainments are shares of `requests`)."""

    requests: float
    ttft_attainment: float
    itl_attainment: float
    interval_requests: np.ndarray
    interval_ok: np.ndarray


def combine_parts(parts: Sequence[JudgePart], method: str) -> JudgeResult:
    req = np.concatenate([p.interval_requests for p in parts])
    ok = np.concatenate([p.interval_ok for p in parts])
    total = float(req.sum())

    def weighted(attr: str) -> float:
        if total <= 0:
            return math.nan
        return sum(getattr(p, attr) * p.requests for p in parts if p.requests > 0) / total

    return JudgeResult(
        attainment=float(ok.sum()) / total if total > 0 else math.nan,
        ttft_attainment=weighted("ttft_attainment"),
        itl_attainment=weighted("itl_attainment"),
        requests=total,
        interval_requests=req,
        interval_ok=ok,
        method=method,
    )
