"""The discrete-event judge applied to the project's objects: a dry run's demand source, its
decisions and its profiles in; per-request attainment, latency percentiles and GPU-hours out.

The judge itself (`sla_planner.evaluation.des`) shares no code with the sizing: this module
only turns traces into request streams and decisions into replica targets.

Requests replayed:
- a per-request trace at rate scale 1: its real arrivals, prompt and output lengths;
- otherwise (count traces, or a rate scale): the source's own 10 s request counts (the counts
  the planner saw, rate-scaled), with Poisson arrivals inside each bin and (ISL, OSL) pairs
  drawn jointly from the trace's requests (or its `tokens_from` trace), seeded; an aggregate
  trace with per-bin mean lengths and no per-request trace gives each request its bin's means.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sla_planner.evaluation.des import Judge, Requests, Schedule, count_trace_stream, summarize
from sla_planner.evaluation.des.replay import ReplayResult
from sla_planner.model.types import Decision
from sla_planner.sources.trace_files import RequestTrace
from sla_planner.sources.trace_source import TraceMetricsSource

BIN_S = 10.0  # count-trace resolution the Poisson arrivals are drawn at
CHUNK_S = 3600.0  # requests generated an hour at a time: bounded memory on a week


@dataclass(frozen=True)
class JudgeSettings:
    ttft_ms: float
    itl_ms: float
    startup_s: float
    seed: int = 0
    prefill_routing: str = "shared"


def _trace_requests(trace: RequestTrace, start: float, end: float) -> Requests:
    a, b = np.searchsorted(trace.arrival_s, [start, end], side="left")
    return Requests.of(trace.arrival_s[a:b], trace.isl[a:b], trace.osl[a:b])


def source_requests(
    source: TraceMetricsSource, start: float, end: float, seed: int = 0
) -> Iterator[Requests]:
    """The requests of [start, end) as the dry run's source describes them, in hour chunks."""
    trace = source.trace
    if isinstance(trace, RequestTrace) and source.rate_scale == 1.0:
        req = _trace_requests(trace, start, end)
        for t0 in np.arange(start, end, CHUNK_S):
            yield req.window(float(t0), float(min(t0 + CHUNK_S, end)))
        return
    n = max(0, math.ceil((end - start) / BIN_S - 1e-9))
    counts, isl, osl = source.bin(start, n, BIN_S)
    tokens_trace = trace if isinstance(trace, RequestTrace) else source.tokens_from
    if isinstance(tokens_trace, RequestTrace):
        tokens = Requests.of(np.zeros(tokens_trace.isl.size), tokens_trace.isl, tokens_trace.osl)
        for chunk in count_trace_stream(counts, BIN_S, tokens, seed=seed, chunk_s=CHUNK_S):
            yield Requests(chunk.t + start, chunk.isl, chunk.osl)
        return
    # (TraceMetricsSource refuses a count-only trace without tokens_from.) An aggregate trace knows only each bin's mean lengths: every request of a bin gets them
    # (the variability inside a bin is lost).
    yield from _mean_length_requests(counts, isl, osl, start, seed)


def _mean_length_requests(
    counts: np.ndarray, isl: np.ndarray, osl: np.ndarray, start: float, seed: int
) -> Iterator[Requests]:
    per_chunk = int(round(CHUNK_S / BIN_S))
    for j, a in enumerate(range(0, counts.size, per_chunk)):
        rng = np.random.default_rng([seed, j])
        c = counts[a : a + per_chunk]
        k = np.floor(c).astype(np.int64)
        k += rng.random(c.size) < (c - k)
        bins = np.repeat(np.arange(a, a + c.size), k)
        t = start + (bins + rng.random(bins.size)) * BIN_S
        order = np.argsort(t, kind="stable")
        lengths_isl = np.nan_to_num(isl[bins], nan=1.0)[order]
        lengths_osl = np.nan_to_num(osl[bins], nan=1.0)[order]
        yield Requests.of(t[order], lengths_isl, lengths_osl)


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
