"""The discrete-event judge applied to the project's objects: a deployment's demand source and
decisions in; per-request attainment, latency percentiles and GPU-hours out. The judge itself
(`sla_planner.evaluation.des`) shares no code with the sizing: this module only turns sources
into request streams and decisions into replica targets. The requests replayed come from
`requests_for`: a trace's (`des_requests`: a per-request trace's own arrivals and lengths, or
seeded arrivals from a source's 10 s counts with lengths drawn from what it knows) or
Prometheus history's (`des_prometheus`: the request counter per scrape, lengths from the token
histograms), bounded in memory and time; `Plant.lengths` says where the lengths came from.

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

from sla_planner.evaluation.des import Judge, Requests, Window, summarize
from sla_planner.evaluation.des.replay import ReplayResult, merge
from sla_planner.evaluation.des_lengths import LengthUsage
from sla_planner.evaluation.des_requests import RequestStream, source_requests
from sla_planner.model.types import Decision
from sla_planner.sources.trace_source import TraceMetricsSource


@dataclass(frozen=True)
class JudgeSettings:
    ttft_ms: float
    itl_ms: float
    startup_s: float
    seed: int = 0
    prefill_routing: str = "shared"


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
        # Where the requests' lengths came from (None: a bare iterator of Requests).
        self.lengths: LengthUsage | None = getattr(requests, "usage", None)

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


def judgeable(source: object) -> bool:
    """Whether the judge can replay this source's requests: a trace, or Prometheus history."""
    from sla_planner.sources.prometheus_source import PrometheusSource

    return isinstance(source, TraceMetricsSource | PrometheusSource)


def requests_for(source: object, start: float, end: float, seed: int = 0) -> RequestStream:
    """The requests of [start, end) as a trace (`des_requests`) or Prometheus' counters
    (`des_prometheus`) describe them."""
    if isinstance(source, TraceMetricsSource):
        return source_requests(source, start, end, seed)
    from sla_planner.evaluation.des_prometheus import prometheus_requests

    return prometheus_requests(source, start, end, seed)


def plant_for(
    source: object,
    start: float,
    end: float,
    profiles: Mapping[str, tuple[Any, Any]],
    settings: JudgeSettings,
) -> Plant:
    """A plant over the requests of [start, end) as the source describes them."""
    return Plant(requests_for(source, start, end, settings.seed), profiles, settings, start)


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


def judged_block(r: ReplayResult, lengths: str | None = None) -> dict[str, Any]:
    """report.json's judged block; `lengths`: where the replayed requests' lengths came from
    (des_lengths' labels, e.g. "trace requests" or "default lognormal (assumed)")."""
    out = {
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
    if lengths is not None:
        out["lengths"] = lengths
    return out
