"""The discrete-event judge applied to the project's objects: a dry run's demand source, its
decisions and its profiles in; per-request attainment, latency percentiles and GPU-hours out.

The judge itself (`sla_planner.evaluation.des`) shares no code with the sizing: this module
only turns decisions into replica targets; the requests come from
`sla_planner.evaluation.des_requests` (a trace's own arrivals, or seeded arrivals from its
counts, bounded in memory and time).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sla_planner.evaluation.des import Judge, Requests, Schedule, summarize
from sla_planner.evaluation.des.replay import ReplayResult
from sla_planner.evaluation.des_requests import (
    BIN_S,
    CHUNK_REQUESTS,
    CHUNK_S,
    MAX_JUDGED_REQUESTS,
    source_requests,
)
from sla_planner.model.types import Decision
from sla_planner.sources.trace_source import TraceMetricsSource

__all__ = [
    "BIN_S",
    "CHUNK_REQUESTS",
    "CHUNK_S",
    "MAX_JUDGED_REQUESTS",
    "JudgeSettings",
    "judge_dry_run",
    "judged_block",
    "replay_decisions",
    "schedule_of",
    "source_requests",
]


@dataclass(frozen=True)
class JudgeSettings:
    ttft_ms: float
    itl_ms: float
    startup_s: float
    seed: int = 0
    prefill_routing: str = "shared"


def schedule_of(decisions: Sequence[Decision]) -> Schedule:
    return Schedule.of(
        [d.timestamp for d in decisions],
        [d.prefill.replicas for d in decisions],
        [d.decode.replicas for d in decisions],
    )


def replay_decisions(
    decisions: Sequence[Decision],
    requests: Requests | Iterator[Requests],
    prefill_profile: Any,
    decode_profile: Any,
    settings: JudgeSettings,
    interval_s: float,
) -> ReplayResult:
    """Replay `requests` against the decided replicas, one `advance` per decision; requests
    still in flight at the end are served to completion by the last decision's replicas."""
    if not decisions:
        raise ValueError("no decisions to judge")
    judge = Judge(
        requests,
        prefill_profile,
        decode_profile=decode_profile,
        ttft_ms=settings.ttft_ms,
        itl_ms=settings.itl_ms,
        startup_s=settings.startup_s,
        start_s=decisions[0].timestamp,
        prefill_routing=settings.prefill_routing,
    )
    for d in decisions:
        judge.advance(d.timestamp + interval_s, d.prefill.replicas, d.decode.replicas)
    judge.finish()
    return summarize(judge)


def judge_dry_run(
    result: Any, source: Any, prefill_profile: Any, decode_profile: Any, config: Any
) -> dict[str, Any] | None:
    """report.json's "judged" block for a dry run over a trace (None for other sources: a
    Prometheus dry run has no per-request arrivals to replay)."""
    if not isinstance(source, TraceMetricsSource) or not result.decisions:
        return None
    start = result.decisions[0].timestamp
    end = start + len(result.decisions) * config.interval_s
    settings = JudgeSettings(config.sla.ttft_ms, config.sla.itl_ms, config.startup_s, source.seed)
    r = replay_decisions(
        result.decisions,
        source_requests(source, start, end, settings.seed),
        prefill_profile,
        decode_profile,
        settings,
        config.interval_s,
    )
    return judged_block(r)


def judged_block(r: ReplayResult) -> dict[str, Any]:
    return {
        "attainment": r.attainment,
        "ttft_attainment": r.ttft_attainment,
        "itl_attainment": r.itl_attainment,
        "requests": r.finished,
        "unfinished": r.unfinished,
        "refused_too_long": r.rejected,
        "ttft_ms": r.ttft_ms,
        "itl_ms": r.itl_ms,
        "gpu_hours": r.gpu_hours,
        "gpu_hours_with_drain": r.gpu_hours_with_tails,
        "peak_gpus": r.peak_gpus,
        "scaling_actions": r.scaling_actions,
        "method": (
            "discrete-event replay of every request through the decided replicas "
            "(sla_planner.evaluation.des): prefill batches up to max_batched_tokens from one FIFO "
            "queue, timed by the profile's TTFT at the batch's tokens; decode continuous "
            "batching stepping at the profile's ITL for the batch's size and context; replicas "
            "ready startup_s after the decision, scale-down drains; a request meets the SLA when "
            "its TTFT and its mean ITL both meet the targets"
        ),
    }
