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
    make_controller,
    planner_config,
    sample_value,
    trace_source,
    write_step_trace,
)
from support.fake_kube import PCSG, FakeKube

from sla_planner.controller.pool_state import LoopSettings
from sla_planner.forecasters.base import Forecast
from sla_planner.forecasters.registry import make_forecaster
from sla_planner.model.forecast.demand_forecaster import DemandForecaster
from sla_planner.model.planner import Planner
from sla_planner.model.reasons import ErrorKind, ReasonCode
from sla_planner.model.types import DemandSample

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
    return make_controller(
        clock=clock,
        source=source,
        actuators=kube_actuators(api_client),
        config=cfg,
        loop=LoopSettings(retry_interval_s=10, backfill_intervals=20),
        planner=planner,
    )


@pytest.mark.parametrize("mode", ["raise", "nan"])
def test_a_failing_forecaster_holds_and_says_why(kube, api_client, clock, tmp_path, mode):
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(60, 50.0)])
    cfg = planner_config(scale_down_window_s=0)
    state: dict = {}
    planner = Planner.of_one(
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


def test_no_scale_down_while_the_newest_data_is_incomplete(kube, api_client, clock, tmp_path):
    # Demand drops at minute 35; the complete intervals show it, and the 3-minute scale-down
    # window would let the pools shrink from minute 38 on - but from minute 36 the newest
    # interval comes back incomplete, and a count that is a lower bound cannot justify less.
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(35, 100.0), (35, 20.0)])
    cfg = planner_config(scale_down_window_s=180)
    source = IncompleteTail(trace_source(trace))
    ctl, metrics = controller(kube, api_client, clock, source, Planner.of_one(cfg, curves()), cfg)
    clock.set(TRACE_T0 + 20 * STEP)
    drive(ctl, clock, 16 * STEP)
    sized = replicas(kube)
    source.n = 1
    seen = []
    drive(ctl, clock, 5 * STEP, lambda t, s: seen.append((replicas(kube), s.decode.reason_code)))
    assert all(p >= sized[0] and d >= sized[1] for (p, d), _ in seen), (sized, seen)
    assert seen[-1][1] == ReasonCode.HOLD_INCOMPLETE
    assert "no scale-down" in ctl.snapshot().decode.reason
    kind = ErrorKind.METRICS_INCOMPLETE.value
    assert sample_value(metrics, "sla_planner_errors_total", kind=kind) >= 5
    source.n = 0  # complete again: the pools follow demand down
    drive(ctl, clock, 2 * STEP)
    now = replicas(kube)
    assert now[0] < sized[0] and now[1] < sized[1], (sized, now)


def test_scale_up_goes_ahead_on_incomplete_data(kube, api_client, clock, tmp_path):
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(35, 30.0), (35, 100.0)])
    cfg = planner_config(scale_down_window_s=0)
    source = IncompleteTail(trace_source(trace), n=1)  # the newest interval is always partial
    ctl, _ = controller(kube, api_client, clock, source, Planner.of_one(cfg, curves()), cfg)
    clock.set(TRACE_T0 + 20 * STEP)
    drive(ctl, clock, 14 * STEP)
    before = replicas(kube)
    drive(ctl, clock, 6 * STEP)  # the complete intervals before the tail show 100 req/s
    after = replicas(kube)
    assert after[0] > before[0] and after[1] > before[1], (before, after)


class AbsurdPlanner:
    """A real Planner whose decode decision is replaced by an absurd one while `absurd` is set
    (what a degenerate profile made of it: 1,000,000 replicas)."""

    def __init__(self, inner: Planner) -> None:
        self.inner, self.absurd = inner, False

    def observe(self, sample: DemandSample, deployment: str | None = None) -> None:
        self.inner.observe(sample, deployment)

    def decide(self, now: float, **kw):
        fd = self.inner.decide(now, **kw)
        if not self.absurd:
            return fd
        d = fd.only
        d = replace(d, decode=replace(d.decode, replicas=1_000_000, gpus=1_000_000))
        return replace(fd, deployments=(d,))

    def __getattr__(self, name):  # seed, state, settings, deployment
        return getattr(self.inner, name)


def test_a_decision_growing_a_pool_by_orders_of_magnitude_is_refused(
    kube, api_client, clock, tmp_path
):
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(60, 50.0)])
    cfg = planner_config(budget={"max_gpus": None})
    planner = AbsurdPlanner(Planner.of_one(cfg, curves()))
    ctl, metrics = controller(kube, api_client, clock, trace_source(trace), planner, cfg)
    clock.set(TRACE_T0 + 20 * STEP)
    drive(ctl, clock, 5 * STEP)
    sized = replicas(kube)
    kube.clear_log()
    planner.absurd = True
    drive(ctl, clock, 3 * STEP)
    assert replicas(kube) == sized
    assert not any(DECODE_NAME in w.path for w in kube.writes())
    snap = ctl.snapshot()
    assert snap.decode.held and snap.decode.reason_code == ReasonCode.HOLD_ABSURD
    assert "refusing 1000000 replicas" in snap.decode.reason
    assert snap.prefill.reason_code != ReasonCode.HOLD_ABSURD  # the other pool goes on
    kind = ErrorKind.ABSURD_DECISION.value
    assert sample_value(metrics, "sla_planner_errors_total", kind=kind) >= 1
