"""The live loop corrects the profile with observed latency (issue 3, item 4)."""

from __future__ import annotations

import math

import yaml
from support.controller_harness import start_runtime

from sla_planner.config.schema import RunConfig
from sla_planner.controller.clock import SimulatedClock
from sla_planner.model.types import DemandSample

T0 = 1_700_000_040.0  # a minute boundary


class SteadyDemand:
    """A MetricsSource with steady chat traffic whose engines report TTFT `ttft_ms`."""

    def __init__(self, ttft_ms: float | None) -> None:
        self.ttft_ms = ttft_ms

    def time_range(self) -> None:
        return None

    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        n = max(0, math.ceil((end - start) / step_s - 1e-9))
        return [
            DemandSample(
                start + k * step_s, step_s, 60.0 * 120, 1500.0, 250.0, ttft_mean_ms=self.ttft_ms
            )
            for k in range(n)
        ]


def _config(correction: bool) -> RunConfig:
    return RunConfig.model_validate(
        yaml.safe_load(
            f"""
planner: {{sla: {{ttft_ms: 200, itl_ms: 25}}, interval_s: 60, startup_s: 120, forecaster: last}}
metrics: {{prometheus: {{url: "http://127.0.0.1:9", preset: dynamo}}}}
targets: {{prefill: {{kind: MetricsOnly}}, decode: {{kind: MetricsOnly}}}}
leader_election: {{enabled: false}}
loop: {{latency_correction: {str(correction).lower()}}}
"""
        )
    )


def _prefill_after(ticks: int, *, correction: bool, ttft_ms: float | None) -> int:
    clock = SimulatedClock(T0)
    rt = start_runtime(_config(correction), clock, source=SteadyDemand(ttft_ms))
    try:
        snap = None
        for _ in range(ticks):
            snap = rt.controller.tick()
            clock.advance(60)
        assert snap is not None and snap.prefill.desired is not None
        return snap.prefill.desired
    finally:
        rt.close()


def test_slower_than_profiled_engines_get_more_prefill_replicas():
    # Engines report a mean TTFT several times what the profile predicts at this load, so the
    # corrected planner provisions more prefill capacity than the uncorrected one.
    plain = _prefill_after(12, correction=False, ttft_ms=400.0)
    corrected = _prefill_after(12, correction=True, ttft_ms=400.0)
    assert corrected > plain


def test_without_observed_latency_correction_changes_nothing():
    plain = _prefill_after(8, correction=False, ttft_ms=None)
    corrected = _prefill_after(8, correction=True, ttft_ms=None)
    assert corrected == plain
