"""In the loop: a callback, our Planner and any planner with its interface drive the mocker."""

from __future__ import annotations

import numpy as np
import pytest
from support.curves import h200_curves
from support.dynamo import requires_dynamo
from support.loops import open_loop
from support.paths import real_trace

from sla_planner.evaluation.des import Requests
from sla_planner.model.config import SLO, PlannerConfig
from sla_planner.model.planner import Planner
from sla_planner.sources.trace_files import load_trace
from sla_planner.sources.trace_source import TraceMetricsSource

pytestmark = [pytest.mark.slow, requires_dynamo]


def test_live_callback_sees_state_and_scales(replay_cfg) -> None:
    from sla_planner_bench.dynamo_replay.live import LivePolicy
    from sla_planner_bench.dynamo_replay.replay import run_policy

    t = np.arange(0.0, 300.0, 0.25)
    reqs = Requests.of(t, np.full(len(t), 2000), np.full(len(t), 40))
    seen = []

    def controller(obs):
        seen.append(obs)
        return (2, None) if obs.now_s == 60.0 else None  # None: leave a pool as it is

    pol = LivePolicy(controller, interval_s=30.0, sample_s=5.0, ttft_ms=200.0, itl_ms=20.0)
    res = run_policy(reqs, replay_cfg, pol, (1, 1))
    assert [o.now_s for o in seen[:3]] == [30.0, 60.0, 90.0]
    first = seen[0]
    assert len(first.samples) == 6 and first.window.duration_s == 30.0
    # arrivals are counted in (previous tick, tick]; the first window includes t = 0
    assert first.window.arrivals == 121 and first.cum_arrivals == 121  # 4 req/s x 30 s
    assert first.window.completed > 100 and 0 < first.window.ttft_ms < 200.0
    assert first.peak_rate == pytest.approx(21 / 5)  # the first 5 s tick holds t = 0 too
    assert first.prefill["active"] == 1 and seen[2].prefill["starting"] == 1
    assert seen[5].prefill["active"] == 2  # started at 60 s, ready at 180 s
    assert 0.9 <= seen[1].est_attainment <= 1.0
    assert pol.decisions[:3] == [(30.0, 1, 1), (60.0, 2, 1), (90.0, 2, 1)]
    starts = [
        op["at_ms"]
        for op in res.lifecycle
        if op["transitions"][0]["transition"] == "worker_starting"
    ]
    assert starts == [60_000.0]


def _planner(interval_s: float = 60.0) -> Planner:
    """Fixed margins (no attainment target): what the loop feeds observe_attainment does not
    move its decisions, so in the loop it decides as in the open-loop dry run."""
    cfg = PlannerConfig(slo=SLO(ttft_ms=200.0, itl_ms=20.0, attainment=None), interval_s=interval_s)
    return Planner.of_one(cfg, h200_curves())


def test_our_planner_in_the_loop_decides_as_in_the_dry_run(replay_cfg) -> None:
    """Fed the dry run's samples, the planner in the loop makes the dry run's decisions, and
    the mocker applies them at the decision times."""
    from sla_planner_bench.dynamo_replay.planner_loop import LoopSettings, run_planner_in_loop
    from sla_planner_bench.dynamo_replay.traces import source_window

    trace = load_trace(real_trace("AzureLLMInferenceTrace_conv.csv"))
    src = TraceMetricsSource(trace, rate_scale=8.0)
    start = float(np.floor(trace.start / 60.0) * 60.0) + 600.0
    end = start + 900.0
    dry = open_loop(src, _planner(), start, end, 60.0, warmup=10)
    settings = LoopSettings(start, end, interval_s=60.0, warmup_intervals=10)
    res = run_planner_in_loop(
        source_window(src, start, end), replay_cfg, _planner(), settings, source=src
    )
    got = res.extra["planner_decisions"]
    assert [d.timestamp for d in got] == [d.timestamp for d in dry.decisions]
    assert [(d.prefill.replicas, d.decode.replicas) for d in got] == [
        (d.prefill.replicas, d.decode.replicas) for d in dry.decisions
    ]
    assert max(d.prefill.replicas for d in got) >= 2, "8x conv needs more than one worker"
    first = got[0]
    assert res.initial == {"prefill": first.prefill.replicas, "decode": first.decode.replicas}
    applied = [(t, p, d) for t, p, d in res.decisions if t < end]
    assert [round(t - start) for t, _, _ in applied] == [60 * k for k in range(1, 15)]
    assert [(p, d) for _, p, d in applied] == [
        (d.prefill.replicas, d.decode.replicas) for d in got[1:]
    ]
    hand = sum((d.prefill.replicas + d.decode.replicas) * 60.0 for d in got) / 3600.0
    assert res.gpu_hours_decided == pytest.approx(hand)
    assert len(res.requests) == len(source_window(src, start, end)) and res.latency.n > 1000


class _Step:
    """0.5 req/s for 10 min, then 20 req/s of 6000-token prompts (beyond one prefill worker)."""

    @staticmethod
    def requests() -> Requests:
        rng = np.random.default_rng(7)
        t = np.concatenate(
            [np.sort(rng.uniform(0, 600, 300)), np.sort(rng.uniform(600, 1200, 12000))]
        )
        return Requests.of(t, np.full(t.size, 6000), np.full(t.size, 100))


class _Recording:
    """A planner with the optional attainment input: it records what the loop feeds it."""

    def __init__(self, inner: Planner) -> None:
        self.inner, self.fed, self.samples = inner, [], []

    def observe(self, sample, deployment=None) -> None:
        self.samples.append(sample)
        self.inner.observe(sample, deployment)

    def decide(self, now: float):
        return self.inner.decide(now)

    def observe_attainment(self, window) -> None:  # the SLO planner's AttainmentSample fields
        assert window.valid and window.end - window.start == 60.0
        self.fed.append((window.finished, window.met, window.ttft_met, window.itl_met))


def test_planner_fed_by_the_replay_scales_up_on_a_load_step(replay_cfg) -> None:
    from sla_planner_bench.dynamo_replay.planner_loop import LoopSettings, run_planner_in_loop

    planner = _Recording(_planner())
    settings = LoopSettings(0.0, 1200.0, interval_s=60.0, demand="replay")
    res = run_planner_in_loop(_Step.requests(), replay_cfg, planner, settings)
    decided = res.extra["planner_decisions"]
    before = [d.prefill.replicas for d in decided if d.timestamp <= 600.0]
    after = [d.prefill.replicas for d in decided if d.timestamp >= 720.0]
    # 3 k tokens/s needs one or two workers for a 200 ms p99; 120 k tokens/s at least three
    assert max(before) <= 2 and min(after) >= max(before) + 2
    low = [s for s in planner.samples if s.start < 540.0]
    high = [s for s in planner.samples if s.start >= 660.0]
    assert all(s.requests < 60 for s in low) and all(1000 < s.requests < 1400 for s in high)
    assert all(s.isl_mean == 6000.0 for s in high) and all(s.peak_rate for s in high)
    assert len(planner.fed) == len(decided) - 1  # one per interval, none before the first
    finished = sum(w[0] for w in planner.fed)
    assert 0 < finished <= len(res.requests) and sum(w[1] for w in planner.fed) < finished
    assert all(w[1] <= min(w[2], w[3]) for w in planner.fed) and sum(w[3] for w in planner.fed)
    assert res.latency.attainment < 1.0  # the step catches the pools short before they grow
