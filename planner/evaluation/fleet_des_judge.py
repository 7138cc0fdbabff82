"""The fleet's independent judge: every request replayed through the discrete-event engine.

Per deployment, each run of one variant in the served schedule (`fleet_judge.ServedSchedule`:
the old variant's held replicas serve until a switch's new ones are ready) is one
`evaluation.des.Judge` with that variant's prefill and decode profiles and the run's own
requests (`des_replay.source_requests`: the trace's real arrivals, or seeded Poisson arrivals
in the dry run's counts when rate-scaled). A run starts warm, as in the simulator judge: the
first run's replicas are running when the replay starts, and a later run's were started
`startup_s` before its first interval by the make-before-break switch. A run's in-flight
requests at its end finish on its last replicas (the held ones drain). A request that never
completes (its deployment at zero when the replay ends) counts as a miss, not as unjudged.

Nothing here sizes anything: the judge shares no code with the sizing (import-linter holds
`evaluation.des` to it); this module only cuts schedules and streams into runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sla_planner.evaluation.des import Judge, summarize
from sla_planner.evaluation.des_replay import source_requests
from sla_planner.evaluation.fleet_judge import (
    JudgePart,
    JudgeResult,
    ServedSchedule,
    combine_parts,
    schedule_demand,
)
from sla_planner.evaluation.sim_demand import SimDemand
from sla_planner.model.fleet.config import FleetSLO
from sla_planner.model.fleet.planning import PoolEngine, VariantEngines


def engine_profile(engine: PoolEngine) -> Any:
    """The measured (or estimated) profile behind a pool's curves: the judge reads the
    profile's own tables, never the curves the sizing interpolates."""
    return getattr(engine.curves, "profile", engine.curves)


class DesJudge:
    """`FleetJudge` by discrete-event replay; see the module docstring."""

    name = "discrete-event replay"

    def __init__(self, prefill_routing: str = "shared", bin_s: float = 10.0) -> None:
        self.prefill_routing = prefill_routing
        self.bin_s = bin_s  # only for the cold-start count (`demand`)

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
        from sla_planner.sources.trace_source import TraceMetricsSource

        if not isinstance(source, TraceMetricsSource) or schedule.intervals == 0:
            return None
        parts = [
            self._run(schedule, i0, i1, source, engines[variant], slo, startup_s)
            for variant, i0, i1 in schedule.runs()
        ]
        return combine_parts(parts, self.method())

    def _run(
        self,
        schedule: ServedSchedule,
        i0: int,
        i1: int,
        source: Any,
        engines: VariantEngines,
        slo: FleetSLO,
        startup_s: float,
    ) -> JudgePart:
        step = schedule.interval_s
        t0, t1 = schedule.start + i0 * step, schedule.start + i1 * step
        judge = Judge(
            source_requests(source, t0, t1, source.seed),
            engine_profile(engines.prefill),
            decode_profile=engine_profile(engines.decode),
            ttft_ms=slo.ttft_ms,
            itl_ms=slo.itl_ms,
            startup_s=startup_s,
            start_s=t0,
            prefill_routing=self.prefill_routing,
        )
        for i in range(i0, i1):
            judge.advance(t0 + (i - i0 + 1) * step, schedule.prefill[i], schedule.decode[i])
        judge.finish()
        r = summarize(judge)
        reqs = r.interval_finished.astype(float)
        ok = r.interval_met.astype(float)
        # Completions after the run's end (the drain) and requests never served belong to
        # its last interval: counted, never dropped.
        reqs[-1] += r.finished - reqs.sum() + r.unfinished
        ok[-1] += _met(r) - ok.sum()
        total = float(r.finished + r.unfinished)
        share = (lambda x: x * r.finished / total) if total > 0 else (lambda _x: 0.0)
        return JudgePart(
            total,
            share(_nan0(r.ttft_attainment)),
            share(_nan0(r.itl_attainment)),
            reqs,
            ok,
        )

    def method(self) -> str:
        return (
            f"{self.name} of every request (sla_planner.evaluation.des), each run of one "
            "variant with its own prefill and decode profiles, replicas ready startup_s after "
            f"the decision, {self.prefill_routing} prefill queue; a request meets the SLO when "
            "its TTFT and its mean ITL both meet the targets; requests never served are misses"
        )


def _met(r: Any) -> float:
    return 0.0 if r.finished == 0 else float(round(r.attainment * r.finished))


def _nan0(x: float) -> float:
    return 0.0 if np.isnan(x) else float(x)
