"""The live reactive path: the real controller and planner, actuators over real HTTP against the
stateful fake Kubernetes API, in simulated time; the load snapshots come from a reader object
(the Prometheus reader itself is tested against a real Prometheus in
tests/sources/test_sources_prometheus_queues.py)."""

from __future__ import annotations

import threading

import pytest
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    TRACE_T0,
    kube_actuators,
    make_controller,
    sample_value,
    trace_source,
    write_step_trace,
)
from support.fake_kube import PCSG, FakeKube

from sla_planner.controller.reactive_loop import ReactiveLoop, ReactivePath
from sla_planner.controller.slo_feed import SloMetrics
from sla_planner.model.reactive import LoadSnapshot, PoolCapacity, ReactiveSettings
from sla_planner.sources.base import MetricsSourceError

CAP = PoolCapacity(prefill_tokens_per_s=40_000.0, decode_sequences=100.0)
CALM = LoadSnapshot(30.0, 60.0, 0.0, 0.0, 1500.0, 20.0, 0.2, 80.0)
# 200 req/s of 1,500-token prompts with 3,000 waiting: (300,000 + 4.5M/60) / 32,000 -> 12
# prefill replicas wanted, one reaction at most doubling; 300 waiting for a decode slot
BURST = LoadSnapshot(30.0, 6000.0, 3000.0, 300.0, 1500.0, 150.0, 0.97, 900.0)


class Reader:
    def __init__(self) -> None:
        self.snapshots: list[LoadSnapshot | Exception] = []
        self.reads = 0

    def read(self, now: float) -> LoadSnapshot:
        self.reads += 1
        item = self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]
        if isinstance(item, Exception):
            raise item
        return item


@pytest.fixture
def setup(kube: FakeKube, api_client, clock, tmp_path):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "calm.csv", TRACE_T0, [(60, 2.0)])
    leader = {"yes": True}
    ctl, metrics = make_controller(
        clock=clock,
        source=trace_source(trace),
        actuators=kube_actuators(api_client),
        is_leader=lambda: leader["yes"],
    )
    clock.set(TRACE_T0 + 10 * 60)
    ctl.tick()  # a predictive decision and the cluster's state: 1 + 1 at low load
    reader = Reader()
    slo = SloMetrics(metrics.registry)
    path = ReactivePath(reader, ReactiveSettings(), lambda v, isl, osl: CAP, 200.0, (1000, 1000))
    loop = ReactiveLoop(ctl.inner, {"default": path}, slo)
    return ctl, metrics, reader, loop, leader


def replicas(kube: FakeKube) -> tuple[int, int]:
    return kube.spec_replicas(PCSG, NS, PREFILL_NAME), kube.spec_replicas(PCSG, NS, DECODE_NAME)


def test_calm_load_changes_nothing(setup, kube):
    ctl, _, reader, loop, _ = setup
    reader.snapshots = [CALM]
    action = loop.check()["default"]
    assert not action.raised((1, 1))
    assert replicas(kube) == (1, 1)


def test_a_burst_scales_up_at_once_through_the_controller(setup, kube, clock):
    ctl, metrics, reader, loop, _ = setup
    reader.snapshots = [BURST]
    clock.advance(5.0)  # between predictive ticks
    action = loop.check()["default"]
    assert (action.prefill, action.decode) == (2, 2)  # bounded: one reaction at most x2
    assert replicas(kube) == (2, 2)  # written to the cluster now, not at the next tick
    snap = ctl.snapshot()
    assert snap.prefill.desired == 2 and snap.prefill.reason.startswith("reactive: prefill:")
    assert snap.prefill.reason_code == "scale_up"
    assert sample_value(metrics, "sla_planner_reactive_scale_ups_total", pool="prefill") == 1
    assert sample_value(metrics, "sla_planner_reactive_scale_ups_total", pool="decode") == 1
    # no stacking: a second burst while those replicas start is held, as for a tick
    clock.advance(5.0)
    loop.check()
    assert replicas(kube) == (2, 2)
    assert ctl.snapshot().prefill.reason_code == "hold_starting"


def test_the_next_predictive_tick_keeps_the_reaction(setup, kube, clock):
    ctl, _, reader, loop, _ = setup
    reader.snapshots = [BURST]
    clock.advance(5.0)
    loop.check()
    clock.set(TRACE_T0 + 11 * 60)  # the next predictive tick: demand is still low
    ctl.tick()
    assert replicas(kube) == (2, 2)  # held for the scale-down window, not dropped at once


def test_standby_never_reacts(setup, kube, clock):
    ctl, _, reader, loop, leader = setup
    leader["yes"] = False
    ctl.tick(force=True)
    reader.snapshots = [BURST]
    assert loop.check() == {}
    assert reader.reads == 0 and replicas(kube) == (1, 1)


def test_a_failed_read_is_counted_and_skipped(setup, kube, caplog):
    ctl, metrics, reader, loop, _ = setup
    reader.snapshots = [MetricsSourceError("Prometheus at http://x is unreachable")]
    assert loop.check() == {}
    assert loop.check() == {}
    assert sample_value(metrics, "sla_planner_errors_total", kind="reactive") == 2
    assert caplog.text.count("reactive_read_failed") == 1  # one line per distinct problem
    assert replicas(kube) == (1, 1)


def test_run_interleaves_ticks_and_checks_in_one_thread(setup, kube, clock):
    ctl, _, reader, loop, _ = setup
    reader.snapshots = [CALM]
    start = clock.now()
    loop.run(threading.Event(), max_ticks=40)
    # checks every 5 s in between the 60 s predictive ticks
    assert reader.reads >= (clock.now() - start) / 5.0 - 1
    assert reader.reads >= 10
