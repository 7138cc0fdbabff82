"""A count jump nothing confirms is held, counted and explained, while the reactive path still
meets a real burst (issue 18 item 3): the real controller and planner, actuators over real HTTP
against the fake Kubernetes API, in simulated time. (Through a real Prometheus, with and
without the engines' gauges: tests/faults/test_faults_prometheus.py.)"""

from __future__ import annotations

from dataclasses import replace

import pytest
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    TRACE_T0,
    kube_actuators,
    make_controller,
    planner_config,
    sample_value,
    trace_source,
    write_step_trace,
)
from support.fake_kube import PCSG, FakeKube

from sla_planner.controller.reactive_loop import ReactiveLoop, ReactivePath
from sla_planner.model.reactive import LoadSnapshot, PoolCapacity, ReactiveSettings
from sla_planner.model.types import DemandSample

STEP = 60.0
GLITCH_AT = TRACE_T0 + 20 * STEP  # the interval whose count reads 1e18
CAP = PoolCapacity(prefill_tokens_per_s=40_000.0, decode_sequences=100.0)
# 200 req/s of 1,500-token prompts, 3,000 waiting: the queues show a real burst.
BURST = LoadSnapshot(30.0, 6000.0, 3000.0, 300.0, 1500.0, 150.0, 0.97, 900.0)


class Glitching:
    """The trace source with one interval's request count replaced."""

    def __init__(self, inner, at: float, value: float) -> None:
        self.inner, self.at, self.value = inner, at, value

    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        out = self.inner.fetch(start, end, step_s)
        return [replace(s, requests=self.value) if s.start == self.at else s for s in out]

    def time_range(self):
        return self.inner.time_range()


class Reader:
    def __init__(self, snap: LoadSnapshot) -> None:
        self.snap = snap

    def read(self, now: float) -> LoadSnapshot:
        return self.snap


@pytest.fixture
def setup(kube: FakeKube, api_client, clock, tmp_path):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "steady.csv", TRACE_T0, [(40, 20.0)])
    ctl, metrics = make_controller(
        clock=clock,
        source=Glitching(trace_source(trace), GLITCH_AT, 1e18),
        actuators=kube_actuators(api_client),
        config=planner_config(scale_down_window_s=0),
    )
    for k in range(-5, 1):  # the plan settled and ready before the glitch
        clock.set(GLITCH_AT + k * STEP)
        ctl.tick()
    return ctl, metrics


def replicas(kube: FakeKube) -> tuple[int, int]:
    return kube.spec_replicas(PCSG, NS, PREFILL_NAME), kube.spec_replicas(PCSG, NS, DECODE_NAME)


def test_the_glitched_interval_is_held_counted_and_explained(setup, kube, clock):
    ctl, metrics = setup
    before = replicas(kube)
    clock.set(GLITCH_AT + STEP)  # the tick that reads the glitched interval
    snap = ctl.tick()
    assert replicas(kube) == before
    assert snap.prefill.reason_code == snap.decode.reason_code == "hold_suspect_demand"
    assert "request count 1e+18 not confirmed" in snap.prefill.reason
    assert sample_value(metrics, "sla_planner_errors_total", kind="suspect_demand") == 1
    assert not any("demand guard" in n and "clipped" in n for n in ctl.decision.notes)
    clock.set(GLITCH_AT + 2 * STEP)  # the next interval is normal: planned as before
    snap = ctl.tick()
    assert snap.prefill.reason_code == "steady" and replicas(kube) == before
    assert sample_value(metrics, "sla_planner_errors_total", kind="suspect_demand") == 1


def test_the_reactive_path_still_meets_a_real_burst_while_demand_is_held(setup, kube, clock):
    ctl, _ = setup
    before = replicas(kube)
    clock.set(GLITCH_AT + STEP)
    ctl.tick()
    assert ctl.snapshot().prefill.reason_code == "hold_suspect_demand"
    path = ReactivePath(Reader(BURST), ReactiveSettings(), lambda v, i, o: CAP, 200.0, (99, 99))
    clock.advance(5.0)
    ReactiveLoop(ctl.inner, {"default": path}).check()
    after = replicas(kube)
    assert after[0] > before[0] and after[1] > before[1]  # the hold refuses only scale-downs
    assert ctl.snapshot().prefill.reason_code == "scale_up"
