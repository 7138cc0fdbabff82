"""The SLO planner in judge 2's loop: Dynamo's mocker is the plant its error budget is fed by.

The engines here are slower than the profile the planner sizes with (prefill x2.5), as engines
in production differ from their profiles: the latency model under-provisions, the measured
windows miss, and the error-budget controller must tighten the goal (more replicas later) --
which it can do only if the loop really feeds it.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.curves import h200_curves
from support.dynamo import requires_dynamo
from support.paths import BUNDLED_PROFILE

from sla_planner.evaluation.des import Requests
from sla_planner.model.config import SLO, PlannerConfig
from sla_planner.model.planner import Planner
from sla_planner.model.size.error_budget import AttainmentSample
from sla_planner.model.types import DemandSample
from sla_planner.profiles.registry import load_profile

pytestmark = [pytest.mark.slow, requires_dynamo]

# The engines' prefill time over the profile's. At x2 the loop's per-tick proxy (mean latencies,
# docs/judges.md) read ~99.2% where the records said < 97%, and the controller, fed that,
# tightened too little to add a replica: at x2.5 the misses show through the proxy.
SLOWER = 2.5
RATE = 12.0  # req/s
END_S = 1500.0


def _slow_engines(tmp_path):
    from sla_planner_bench.dynamo_replay.engine import mocker_engines

    prof = load_profile(BUNDLED_PROFILE)
    pre = prof.prefill.model_copy(
        update={
            "ttft_ms": [v * SLOWER for v in prof.prefill.ttft_ms],
            "throughput_per_gpu": [v / SLOWER for v in prof.prefill.throughput_per_gpu],
        }
    )
    return mocker_engines(prof.model_copy(update={"prefill": pre}), cache_dir=tmp_path)


def _requests() -> Requests:
    """25 min of Poisson arrivals, 12 req/s of 3,000-token prompts, 50-token outputs."""
    rng = np.random.default_rng(11)
    t = np.cumsum(rng.exponential(1 / RATE, int(RATE * END_S * 1.05)))
    t = t[t < END_S]
    return Requests.of(t, np.full(t.size, 3000), np.full(t.size, 50))


class _History:
    """The same load's last 30 min before the replay, as a metrics source would give it, so
    the first decision is a planned one (no cold start queueing the first minutes)."""

    def time_range(self) -> tuple[float, float]:
        return -1800.0, END_S

    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        n = round((end - start) / step_s)
        return [
            DemandSample(start + k * step_s, step_s, RATE * step_s, 3000.0, 50.0) for k in range(n)
        ]


class _Deaf:
    """The same planner with no attainment input: the loop cannot feed it."""

    def __init__(self, inner: Planner) -> None:
        self.inner = inner

    def observe(self, sample, deployment=None) -> None:
        self.inner.observe(sample, deployment)

    def decide(self, now: float):
        return self.inner.decide(now)


def _planner() -> Planner:
    cfg = PlannerConfig(
        slo=SLO(ttft_ms=200.0, itl_ms=25.0, attainment=0.99),
        interval_s=60.0,
        startup_s=120.0,
        reactive={"enabled": False},
    )
    p = Planner.of_one(cfg, h200_curves())
    assert p.deployment().error_budget is not None  # sized to the SLO
    return p


def test_measured_misses_tighten_the_goal_and_add_replicas(tmp_path) -> None:
    from sla_planner_bench.dynamo_replay.planner_loop import LoopSettings, run_planner_in_loop
    from sla_planner_bench.dynamo_replay.replay import ReplayConfig

    cfg = ReplayConfig(_slow_engines(tmp_path), ttft_ms=200.0, itl_ms=25.0)
    settings = LoopSettings(0.0, END_S, interval_s=60.0, demand="replay", warmup_intervals=30)
    fed, deaf = _planner(), _planner()
    start_goal = fed.deployment().error_budget.goal
    res_fed = run_planner_in_loop(_requests(), cfg, fed, settings, source=_History())
    res_deaf = run_planner_in_loop(_requests(), cfg, _Deaf(deaf), settings, source=_History())

    st = fed.budget_status
    decided = res_fed.extra["planner_decisions"]
    assert st.windows == len(decided) - 1  # one window per interval, none before the first
    assert deaf.budget_status.windows == 0
    assert st.finished > 0.9 * len(res_fed.requests)
    # The profile-sized plan misses on the slower engines, as the unfed planner shows ...
    assert res_deaf.latency.attainment < 0.97
    # ... the measured misses tighten the goal ...
    assert fed.deployment().error_budget.goal > start_goal and st.margin > 2.0
    # ... and buy prefill replicas the unfed planner does not, and attainment with them.
    late = [d.prefill.replicas for d in decided if d.timestamp >= 600]
    late_deaf = [
        d.prefill.replicas for d in res_deaf.extra["planner_decisions"] if d.timestamp >= 600
    ]
    assert sum(late) > sum(late_deaf) and max(late) > max(late_deaf)
    assert res_fed.latency.attainment > res_deaf.latency.attainment + 0.01


def test_the_loop_feeds_the_planner_the_model_attainment_sample() -> None:
    """What the loop hands observe_attainment is the model's AttainmentSample (not a look-alike
    the controller would have to duck-type)."""
    from sla_planner_bench.dynamo_replay.planner_loop import MeasuredWindow

    w = MeasuredWindow(0.0, 60.0, 100.0, 97.0, 98.0, 99.0)
    assert isinstance(w, AttainmentSample)
    p = _planner()
    p.observe_attainment(w)
    assert p.budget_status.windows == 1 and p.budget_status.met == 97.0
