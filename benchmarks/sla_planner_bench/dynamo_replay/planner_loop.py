"""Any single-deployment policy in the loop, with Dynamo's mocker as the plant.

The driver never imports the sizing: it takes a `Policy` of one deployment
(`observe(sample: DemandSample)`, `decide(now) -> FleetDecision`: our `Planner.of_one`, or a
baseline policy) and, if the object has it, `observe_attainment(window: AttainmentSample)`
(ours), fed before each decision with the plant's measured window of the interval just ended
(`start`, `end`, `finished`, `met`, `ttft_met`, `itl_met`): Dynamo's mocker is then the plant
its error-budget controller is fed by, as Prometheus feeds it in a cluster.

At each decision time T (trace time, `interval_s` apart from `start_s`) the planner observes the
interval [T - interval, T), then decides for T; its targets are applied to the mocker at once
(added workers serve `startup_s` later). The decision at `start_s` sets the initial pools, ready
at the first arrival (a warm start, as in the discrete-event judge). Demand comes from:
- `demand="trace"`: the dry run's source (`TraceMetricsSource.fetch`), exactly what a dry run
  feeds the planner (counts, mean lengths, the peak sub-window rate, the prompt-length SCV);
- `demand="replay"`: the replay's own traffic windows, as a cluster's metrics would show them:
  arrivals, mean ISL/OSL and mean TTFT/ITL of the requests *completed* in the interval, the
  peak arrival rate over the `sample_s` ticks; no prompt-length SCV (as from Prometheus).
Attainment fed in the loop is the window-mean proxy of live.py (the replay exposes no
per-request latencies until it ends): a `sample_s` tick's completions count as met when their
mean TTFT and mean ITL meet the targets. It is biased either way -- low on bursty traffic, high
when latencies sit just around a target (most requests in a tick a little under, some a little
over) -- so the controller's error budget sees a blurred signal that a cluster's histograms
would not give it; shorter ticks hold fewer requests and blur less (the judge 2 benchmark feeds
the SLO planner at 20 ms). The result is scored afterwards from the exact per-request records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sla_planner.evaluation.des import Requests
from sla_planner.model.size.error_budget import AttainmentSample
from sla_planner.model.types import Decision, DemandSample, FleetDecision
from sla_planner_bench.dynamo_replay.live import LiveObservation, LivePolicy
from sla_planner_bench.dynamo_replay.replay import ReplayConfig, ReplayResult, run_policy
from sla_planner_bench.dynamo_replay.runtime import require_dynamo
from sla_planner_bench.dynamo_replay.windows import restrict

DemandFeed = Literal["trace", "replay"]


class PlannerLike(Protocol):
    def observe(self, sample: DemandSample, deployment: str | None = None) -> None: ...

    def decide(self, now: float) -> FleetDecision: ...


class DemandSourceLike(Protocol):
    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]: ...


# What the loop hands `observe_attainment`: the SLO planner's own measured-window type (finished
# and met requests of [start, end), and per target), so the error budget gets what it would get
# from Prometheus in a cluster, not a look-alike. The old name stays for callers.
MeasuredWindow = AttainmentSample


@dataclass(frozen=True)
class LoopSettings:
    start_s: float  # first decision (trace time, unix s)
    end_s: float  # end of the scored stretch: requests arriving in [start, end) are replayed
    interval_s: float = 60.0
    sample_s: float = 5.0  # replay tick: traffic windows, pool load, attainment proxy
    demand: DemandFeed = "trace"
    warmup_intervals: int = 0  # history fed from `source` before start_s


class _Driver:
    """The LivePolicy callback: observe the last interval, feed attainment, decide."""

    def __init__(self, planner: Any, source: Any, s: LoopSettings, origin_s: float) -> None:
        self.planner, self.source, self.s, self.origin_s = planner, source, s, origin_s
        self.decisions: list[Decision] = []
        self._isl = self._osl = math.nan

    def __call__(self, obs: LiveObservation) -> tuple[int, int] | None:
        now = self.origin_s + obs.now_s
        now = self.s.start_s + round((now - self.s.start_s) / self.s.interval_s) * self.s.interval_s
        if now >= self.s.end_s - 1e-6:
            return None  # the scored stretch is over: let the replay drain
        self.planner.observe(self._sample(now, obs))
        if hasattr(self.planner, "observe_attainment"):
            self.planner.observe_attainment(
                MeasuredWindow(
                    now - self.s.interval_s,
                    now,
                    obs.window_completed,
                    obs.window_met,
                    obs.window_ttft_met,
                    obs.window_itl_met,
                )
            )
        d = self.planner.decide(now).only
        self.decisions.append(d)
        return d.prefill.replicas, d.decode.replicas

    def _sample(self, now: float, obs: LiveObservation) -> DemandSample:
        step = self.s.interval_s
        if self.s.demand == "trace":
            return self.source.fetch(now - step, now, step)[0]
        w = obs.window
        if w.completed:  # lengths are known from completions; carry the last ones over
            self._isl, self._osl = w.avg_isl, w.avg_osl
        return DemandSample(
            start=now - step,
            duration_s=step,
            requests=float(w.arrivals),
            isl_mean=self._isl if w.arrivals else math.nan,
            osl_mean=self._osl if w.arrivals else math.nan,
            ttft_mean_ms=None if math.isnan(w.ttft_ms) else w.ttft_ms,
            itl_mean_ms=None if math.isnan(w.itl_ms) else w.itl_ms,
            peak_rate=obs.peak_rate,
            peak_window_s=self.s.sample_s,
        )


def run_planner_in_loop(
    requests: Requests,
    cfg: ReplayConfig,
    planner: Any,
    settings: LoopSettings,
    *,
    source: DemandSourceLike | None = None,
) -> ReplayResult:
    """Replay the requests of [start, end) with `planner` deciding every interval in the loop.

    `source` (the dry run's demand source) is needed for `demand="trace"` and for warm-up
    history. `result.extra["planner_decisions"]` holds the planner's Decision objects; the
    figures are restricted to [start, end) (restrict()).
    """
    require_dynamo()
    s = settings
    if s.demand == "trace" or s.warmup_intervals > 0:
        if source is None:
            raise ValueError("a demand source is needed for demand='trace' or warm-up history")
    reqs = requests.window(s.start_s, s.end_s)
    if len(reqs) == 0:
        raise ValueError(f"no request arrives in [{s.start_s}, {s.end_s})")
    warm = _warmup_intervals(source, s) if source is not None else 0
    if warm:
        for sample in source.fetch(s.start_s - warm * s.interval_s, s.start_s, s.interval_s):
            planner.observe(sample)
    first = planner.decide(s.start_s).only
    origin_s = float(reqs.t[0])
    driver = _Driver(planner, source, s, origin_s)
    driver.decisions.append(first)
    policy = LivePolicy(
        driver,
        interval_s=s.interval_s,
        sample_s=s.sample_s,
        first_call_s=s.start_s + s.interval_s - origin_s,
        ttft_ms=cfg.ttft_ms,
        itl_ms=cfg.itl_ms,
    )
    initial = (max(1, first.prefill.replicas), max(1, first.decode.replicas))
    res = run_policy(reqs, cfg, policy, initial)
    res.extra["planner_decisions"] = driver.decisions
    res.extra["est_attainment"] = policy.est_met / max(1, policy.est_completed)
    return restrict(res, cfg, s.start_s, s.end_s)


def _warmup_intervals(source: Any, s: LoopSettings) -> int:
    """Warm-up intervals clipped to whole intervals the source covers (as the dry run does, so
    fed the same source the planner sees the same history)."""
    rng = source.time_range() if hasattr(source, "time_range") else None
    if s.warmup_intervals <= 0 or rng is None:
        return max(0, s.warmup_intervals)
    available = math.floor((s.start_s - rng[0]) / s.interval_s + 1e-9)
    return max(0, min(s.warmup_intervals, available))
