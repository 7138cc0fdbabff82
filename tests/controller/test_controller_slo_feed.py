"""Measured attainment into the live loop: the real controller and SLO planner in simulated
time, demand from a real trace file, actuators over real HTTP against the fake Kubernetes
API; the attainment reader is an object here (the Prometheus one is tested against a real
Prometheus in tests/sources/test_sources_prometheus_attainment.py)."""

from __future__ import annotations

import math

import pytest
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    TRACE_T0,
    curves,
    kube_actuators,
    make_controller,
    planner_config,
    sample_value,
    trace_source,
    write_step_trace,
)
from support.fake_kube import FakeKube

from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.controller.pool_state import LoopSettings
from sla_planner.controller.slo_feed import AttainmentFeed, SloMetrics
from sla_planner.model.planner import Planner
from sla_planner.model.size.error_budget import AttainmentSample
from sla_planner.sources.base import MetricsSourceError


class Reader:
    """Answers with `miss` of each interval's requests missing; logs what it was asked."""

    def __init__(self, source, miss: float) -> None:
        self.source, self.miss = source, miss
        self.asked: list[tuple[float, float]] = []
        self.fail = False

    def fetch(self, start, end, step_s, ttft_ms, itl_ms):
        self.asked.append((start, end))
        if self.fail:
            raise MetricsSourceError("no TTFT histogram in Prometheus at http://p:9090")
        return [
            AttainmentSample(s.start, s.start + step_s, s.requests, s.requests * (1 - self.miss))
            for s in self.source.fetch(start, end, step_s)
        ]


@pytest.fixture
def wired(kube: FakeKube, api_client, clock, tmp_path):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    src = trace_source(write_step_trace(tmp_path / "t.csv", TRACE_T0, [(90, 20.0)]))
    cfg = planner_config(sla={"ttft_ms": 200, "itl_ms": 25, "attainment": 0.99})
    planner = Planner.of_one(cfg, curves())
    metrics = PlannerMetrics()
    reader = Reader(src, miss=0.05)
    slo = SloMetrics(metrics.registry)
    feed = AttainmentFeed(
        src, reader, planner, (200.0, 25.0), slo, metrics.scoped("default").count_error
    )
    ctl, _ = make_controller(
        clock=clock, source=feed, actuators=kube_actuators(api_client), config=cfg,
        loop=LoopSettings(retry_interval_s=10, backfill_intervals=30), planner=planner,
        metrics=metrics,
    )  # fmt: skip
    return ctl, planner, reader, metrics


def test_each_tick_feeds_the_intervals_it_read_before_deciding(wired, clock):
    ctl, planner, reader, metrics = wired
    clock.set(TRACE_T0 + 40 * 60)
    ctl.tick()
    first = planner.budget_status
    # the backfill's windows: before any decision of this planner, so reported, not integrated
    assert first.windows == 30 and first.integral == 0.0
    for k in range(1, 6):
        clock.set(TRACE_T0 + (40 + k) * 60)
        ctl.tick()
    st = planner.budget_status
    assert st.windows == 35
    assert st.integral > 0  # 5% missed against a 1% budget, under plans it made: tighten
    assert all(end <= TRACE_T0 + 45 * 60 for _, end in reader.asked)  # completed intervals only
    assert sample_value(metrics, "sla_planner_slo_target") == 0.99
    assert sample_value(
        metrics, "sla_planner_slo_attainment", window="cumulative"
    ) == pytest.approx(0.95)
    assert sample_value(metrics, "sla_planner_slo_burn_rate", window="interval") == pytest.approx(
        5.0
    )
    assert sample_value(metrics, "sla_planner_slo_margin") == pytest.approx(st.margin)


def test_a_failed_attainment_read_keeps_demand_and_the_margin(wired, clock, caplog):
    ctl, planner, reader, metrics = wired
    reader.fail = True
    for k in range(3):
        clock.set(TRACE_T0 + (40 + k) * 60)
        snap = ctl.tick()
    assert snap.prefill.reason_code != "hold_metrics"  # demand was read: decisions go on
    assert planner.budget_status.windows == 0
    assert sample_value(metrics, "sla_planner_errors_total", kind="attainment") == 3
    assert caplog.text.count("attainment_unavailable") == 1
    assert math.isnan(metrics.registry.get_sample_value("sla_planner_slo_margin") or math.nan)
