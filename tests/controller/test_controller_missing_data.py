"""Missing or invalid demand is never zero demand: the controller in simulated time, a real
Planner, the fake Kubernetes API over HTTP. (The same faults through a real Prometheus are in
tests/faults/test_faults_prometheus.py.)"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    TRACE_T0,
    curves,
    drive,
    kube_actuators,
    planner_config,
    sample_value,
    trace_source,
    write_step_trace,
)
from support.fake_kube import PCSG, FakeKube

from sla_planner.controller.controller import Controller
from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.controller.pool_state import LoopSettings
from sla_planner.controller.reasons import ErrorKind, ReasonCode
from sla_planner.forecasters.base import Forecast
from sla_planner.forecasters.registry import make_forecaster
from sla_planner.model.demand_forecaster import DemandForecaster
from sla_planner.model.planner import Planner
from sla_planner.model.types import DemandSample, Pool

STEP = 60.0


class BreakingForecaster:
    """A third-party Forecaster that works, then raises (or returns NaN) when `broken` is set."""

    name = "breaking"

    def __init__(self, state: dict) -> None:
        self.inner = make_forecaster("last")
        self.state = state

    def observe(self, value: float) -> None:
        self.inner.observe(value)

    def forecast(self, horizon, quantiles=(0.9, 0.99)) -> Forecast:
        mode = self.state.get("broken")
        if mode == "raise":
            raise RuntimeError("model diverged")
        if mode == "nan":
            nan = np.full(horizon, math.nan)
            return Forecast(nan, {q: nan for q in quantiles})
        return self.inner.forecast(horizon, quantiles)


def replicas(kube: FakeKube) -> tuple[int, int]:
    return kube.spec_replicas(PCSG, NS, PREFILL_NAME), kube.spec_replicas(PCSG, NS, DECODE_NAME)


def controller(kube, api_client, clock, source, planner, cfg):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    metrics = PlannerMetrics()
    ctl = Controller(
        planner=planner,
        source=source,
        actuators=kube_actuators(api_client),
        clock=clock,
        config=cfg,
        gpus_per_replica={p: 1 for p in Pool},
        loop=LoopSettings(retry_interval_s=10, backfill_intervals=20),
        metrics=metrics,
    )
    return ctl, metrics


@pytest.mark.parametrize("mode", ["raise", "nan"])
def test_a_failing_forecaster_holds_and_says_why(kube, api_client, clock, tmp_path, mode):
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(60, 50.0)])
    cfg = planner_config(scale_down_window_s=0)
    state: dict = {}
    planner = Planner(
        cfg, curves(), demand_forecaster=DemandForecaster(lambda: BreakingForecaster(state))
    )
    ctl, metrics = controller(kube, api_client, clock, trace_source(trace), planner, cfg)
    clock.set(TRACE_T0 + 20 * STEP)
    drive(ctl, clock, 10 * STEP)
    sized = replicas(kube)
    assert sized[0] > 1 and sized[1] > 1  # 50 req/s needs more than one replica per pool
    state["broken"] = mode
    drive(ctl, clock, 5 * STEP)
    assert replicas(kube) == sized  # not "idle: no demand forecast" at 1 + 1
    snap = ctl.snapshot()
    assert snap.prefill.reason_code == ReasonCode.HOLD_FORECAST
    assert snap.prefill.held and "forecast" in snap.prefill.reason
    assert sample_value(metrics, "sla_planner_errors_total", kind=ErrorKind.FORECAST.value)


class IncompleteTail:
    """A real trace source whose last `n` intervals come back incomplete (as the Prometheus
    source reports a scrape gap or NaN samples at the live edge), with the count the partial
    data shows."""

    def __init__(self, inner, n: int = 0, fraction: float = 0.1) -> None:
        self.inner, self.n, self.fraction = inner, n, fraction

    def fetch(self, start, end, step_s) -> list[DemandSample]:
        out = self.inner.fetch(start, end, step_s)
        for i in range(max(len(out) - self.n, 0), len(out)):
            s = out[i]
            out[i] = replace(s, requests=s.requests * self.fraction, incomplete="scrape gap")
        return out

    def time_range(self):
        return self.inner.time_range()


def test_incomplete_tail_never_scales_down_but_may_scale_up(kube, api_client, clock, tmp_path):
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(40, 50.0), (30, 100.0)])
    cfg = planner_config(scale_down_window_s=0)
    source = IncompleteTail(trace_source(trace))
    ctl, metrics = controller(kube, api_client, clock, source, Planner(cfg, curves()), cfg)
    clock.set(TRACE_T0 + 20 * STEP)
    drive(ctl, clock, 15 * STEP)
    sized = replicas(kube)
    source.n = 1  # the newest interval shows a tenth of its requests
    seen = []
    drive(ctl, clock, 4 * STEP, lambda t, s: seen.append((replicas(kube), s.decode.reason_code)))
    assert all(p >= sized[0] and d >= sized[1] for (p, d), _ in seen), seen
    assert ctl.snapshot().decode.reason_code in (ReasonCode.HOLD_INCOMPLETE, ReasonCode.STEADY)
    assert sample_value(
        metrics, "sla_planner_errors_total", kind=ErrorKind.METRICS_INCOMPLETE.value
    )
    # Demand doubles (the complete intervals before the tail show it): scale-ups go ahead.
    drive(ctl, clock, 10 * STEP)
    grown = replicas(kube)
    assert grown[0] > sized[0] and grown[1] > sized[1], (sized, grown)
    # Complete again: the planner follows demand down as before.
    source.n = 0
    assert ctl.snapshot().is_leader
