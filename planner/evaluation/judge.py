"""The discrete-event judge applied to the project's objects: a deployment's demand source and
decisions in; per-request attainment, latency percentiles and GPU-hours out. The judge itself
(`sla_planner.evaluation.des`) shares no code with the sizing: this module only turns traces
into request streams and decisions into replica targets.

Requests replayed (`source_requests`):
- a per-request trace at rate scale 1: its real arrivals, prompt and output lengths;
- otherwise (count traces, or a rate scale): the source's own 10 s request counts (the counts
  the planner saw, rate-scaled), with Poisson arrivals inside each bin and (ISL, OSL) pairs
  drawn jointly from the trace's requests (or its `tokens_from` trace), seeded; an aggregate
  trace with per-bin mean lengths and no per-request trace gives each request its bin's means.

What serves a deployment, interval by interval (`served`): its variant's replicas, except
while a variant switch is in progress, when the old variant's held replicas serve and the new
ones are still starting. `Plant` replays one deployment through one `Judge` per run of one
variant, each with that variant's own profiles, all drawing from one request stream: a run
starts warm (its replicas were started `startup_s` before it by the make-before-break switch),
and when it ends, what arrived before the switch finishes on its last replicas and the rest
of the stream goes on to the next run. The dry run drives a plant interval by interval (the
judge as the plant a closed loop controls) or replays a finished schedule through one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sla_planner.evaluation.des import Judge, Requests, Window, count_trace_stream, summarize
from sla_planner.evaluation.des.replay import ReplayResult, merge
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
    # (TraceMetricsSource refuses a count-only trace without tokens_from.) An aggregate trace
    # knows only each bin's mean lengths: every request of a bin gets them (the variability
    # inside a bin is lost).
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


class _Stream:
    """One request stream shared by a deployment's runs: a run's judge reads it until the run
    ends; what that judge pulled beyond the cut goes back for the next run."""

    def __init__(self, chunks: Iterator[Requests]) -> None:
        self._src = chunks
        self._back: list[Requests] = []
        self._last: Requests | None = None

    def __iter__(self) -> Iterator[Requests]:
        return self

    def __next__(self) -> Requests:
        chunk = self._back.pop(0) if self._back else next(self._src)
        self._last = chunk
        return chunk

    def cut(self, t: float) -> int:
        """The current run's judge stopped at `t`: it dropped what arrives from `t` on, which
        goes back for the next run. Returns how many requests went back."""
        # A judge pulls chunks until one reaches past its time, so only the last can hold
        # arrivals at or after the cut.
        last, self._last = self._last, None
        if last is None or not len(last) or last.t[-1] < t:
            return 0
        tail = last.window(t, math.inf)
        self._back.insert(0, tail)
        return len(tail)


def served(d: Decision) -> tuple[str, int, int]:
    """(variant, prefill, decode) that serve the interval `d` decides for."""
    if d.held is not None:
        return d.held.variant, d.held.prefill, d.held.decode
    return d.variant, d.prefill.replicas, d.decode.replicas


class Plant:
    """One deployment's engines, replayed request by request (see the module docstring).
    `profiles`: per variant, the measured (or estimated) prefill and decode profiles."""

    def __init__(
        self,
        requests: Iterator[Requests],
        profiles: Mapping[str, tuple[Any, Any]],
        settings: JudgeSettings,
        start: float,
    ) -> None:
        self.profiles = profiles
        self.settings = settings
        self.now = start
        self._stream = _Stream(requests)
        self._judge: Judge | None = None
        self._variant: str | None = None
        self._done: list[ReplayResult] = []

    @property
    def judge(self) -> Judge | None:
        """The judge of the run in progress."""
        return self._judge

    def advance(self, until: float, variant: str, prefill: int, decode: int) -> Window:
        if variant != self._variant:
            self._end_run()
            p, d = self.profiles[variant]
            s = self.settings
            self._judge = Judge(
                self._stream,
                p,
                decode_profile=d,
                ttft_ms=s.ttft_ms,
                itl_ms=s.itl_ms,
                startup_s=s.startup_s,
                start_s=self.now,
                prefill_routing=s.prefill_routing,
            )
            self._variant = variant
        assert self._judge is not None
        w = self._judge.advance(until, prefill, decode)
        self.now = until
        return w

    def _end_run(self) -> None:
        if self._judge is None:
            return
        self._judge.finish()
        back = self._stream.cut(self.now)
        r = summarize(self._judge)
        # The judge counts what it loaded beyond the cut as in flight: the next run serves it.
        self._done.append(replace(r, unfinished=max(r.unfinished - back, 0)))
        self._judge = None

    def finish(self) -> ReplayResult:
        """Every arrived request served to completion; the totals over every run."""
        self._end_run()
        self._variant = None
        if not self._done:
            raise ValueError("nothing was replayed")
        return merge(self._done)


def plant_for(
    source: TraceMetricsSource,
    start: float,
    end: float,
    profiles: Mapping[str, tuple[Any, Any]],
    settings: JudgeSettings,
) -> Plant:
    """A plant over the requests of [start, end) as the source describes them."""
    return Plant(source_requests(source, start, end, settings.seed), profiles, settings, start)


def replay_decisions(
    decisions: Sequence[Decision], plant: Plant, interval_s: float
) -> ReplayResult:
    """Replay a finished schedule: one `advance` per decision; requests still in flight at the
    end are served to completion by the last replicas."""
    if not decisions:
        raise ValueError("no decisions to judge")
    for d in decisions:
        plant.advance(d.timestamp + interval_s, *served(d))
    return plant.finish()


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
