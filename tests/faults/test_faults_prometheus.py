"""Faults in the demand data, through a REAL Prometheus backfilled with a frontend's metric
history (tests/support/demand_history.py) and read by the real PrometheusSource, while the
controller runs in simulated time against the fake Kubernetes API over HTTP.

Missing, NaN or stale data is never zero demand: an interval whose data is incomplete never
drives a scale-down, the error is counted, the reason says why and /readyz reflects it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    READY_DELAY_S,
    TRACE_T0,
    kube_actuators,
    make_controller,
    planner_config,
    sample_value,
)
from support.demand_history import Fault, frontend_history
from support.fake_kube import PCSG, FakeKube
from support.faulty_proxy import FaultyProxy
from support.prometheus_server import INSTALL_HINT, PrometheusServer, prometheus_available

from sla_planner.controller.api import create_app
from sla_planner.controller.clock import SimulatedClock
from sla_planner.controller.pool_state import LoopSettings
from sla_planner.controller.reasons import ErrorKind, ReasonCode
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_source import PrometheusSource

pytestmark = [
    pytest.mark.slow,  # real Prometheus server
    pytest.mark.skipif(not prometheus_available(), reason=f"needs prometheus: {INSTALL_HINT}"),
]

STEP = 60.0
T0 = TRACE_T0
MIN = 60.0


def replicas(kube: FakeKube) -> tuple[int, int]:
    return kube.spec_replicas(PCSG, NS, PREFILL_NAME), kube.spec_replicas(PCSG, NS, DECODE_NAME)


def controller_over(url: str, kube: FakeKube, api_client, clock, **config):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    source = PrometheusSource(PrometheusConfig(url=url, preset="dynamo", timeout_s=5, retries=0))
    cfg = planner_config(scale_down_window_s=0, budget={"max_gpus": 64}, **config)
    return make_controller(
        clock=clock,
        source=source,
        actuators=kube_actuators(api_client),
        config=cfg,
        loop=LoopSettings(retry_interval_s=10, backfill_intervals=20),
    )


def step_until(ctl, clock, until: float, on_tick=None) -> None:
    while clock.now() < until:
        snap = ctl.tick()
        if on_tick is not None:
            on_tick(clock.now(), snap)
        clock.set(min(max(ctl.next_wakeup(), clock.now()), until))


def run_over_history(text: str, workdir, kube_args, until: float, watch_from: float):
    """Drive a controller over `text` (backfilled into a real Prometheus) from minute 25 to
    `until`; returns [(t - T0, prefill, decode, prefill code, reasons, /readyz)] from
    `watch_from` on, and the metrics."""
    kube, api_client, clock = kube_args
    with PrometheusServer(workdir, openmetrics=text) as prom:
        ctl, metrics = controller_over(prom.url, kube, api_client, clock)
        app = TestClient(
            create_app(
                snapshot=ctl.snapshot,
                metrics=metrics,
                clock=clock,
                is_leader=lambda: True,
                stale_after_s=3 * STEP,
            )
        )
        clock.set(T0 + 25 * MIN)
        step_until(ctl, clock, watch_from)
        seen = []

        def record(t, snap):
            why = f"{snap.prefill.reason} | {snap.decode.reason}"
            ready = app.get("/readyz").status_code
            seen.append((t - T0, *replicas(kube), snap.prefill.reason_code, why, ready))

        step_until(ctl, clock, until, record)
    return seen, metrics


def test_nan_samples_at_a_steady_60_rps_never_scale_down(tmp_path):
    # 60 req/s throughout; the request counter is exported as NaN for 70 s from minute 40.
    # The same run without the fault is the reference: the NaN run may never be below it.
    nan = Fault("nan", T0 + 40 * MIN, T0 + 40 * MIN + 70)
    runs = {}
    for name, faults in (("clean", []), ("nan", [nan])):
        clock = SimulatedClock(start=T0)
        with FakeKube(clock=clock, ready_delay_s=READY_DELAY_S) as kube:  # type: ignore[arg-type]
            c = kube.api_client()
            text = frontend_history(T0, [(50 * MIN, 60.0)], faults=faults)
            runs[name] = run_over_history(
                text, tmp_path / name, (kube, c, clock), T0 + 45 * MIN + 1, T0 + 39 * MIN
            )
            c.close()
    clean, _ = runs["clean"]
    seen, metrics = runs["nan"]
    assert [t for t, *_ in clean] == [t for t, *_ in seen]
    for ref, got in zip(clean, seen, strict=True):
        assert got[1] >= ref[1] and got[2] >= ref[2], (ref, got)  # never below the reference
    during = [x for x in seen if 40 * MIN <= x[0] < 42 * MIN]
    assert during and all(x[5] == 503 for x in during), during  # /readyz says incomplete
    assert all(x[3] == ReasonCode.HOLD_INCOMPLETE and "NaN" in x[4] for x in during), during
    kind = ErrorKind.METRICS_INCOMPLETE.value
    assert sample_value(metrics, "sla_planner_errors_total", kind=kind)
    # Once the counter is finite again, the planner is ready again.
    assert seen[-1][5] == 200 and clean[-1][5] == 200


def test_scrape_gap_while_demand_rises_never_scales_down(kube, api_client, clock, tmp_path):
    # 40 req/s, then 90 req/s from minute 39:30. Prometheus is down for 50 s, 40:12 to 41:02:
    # nothing is scraped, and the planner cannot reach it at its 41:00 tick.
    gap = (T0 + 40 * MIN + 12, T0 + 41 * MIN + 2)
    text = frontend_history(
        T0, [(39.5 * MIN, 40.0), (10.5 * MIN, 90.0)], faults=[Fault("hole", *gap)]
    )
    with (
        PrometheusServer(tmp_path, openmetrics=text) as prom,
        FaultyProxy(prom.url) as proxy,
    ):
        ctl, metrics = controller_over(proxy.url, kube, api_client, clock)
        clock.set(T0 + 25 * MIN)
        step_until(ctl, clock, T0 + 40 * MIN + 1)
        before = replicas(kube)
        proxy.mode = "down"
        step_until(ctl, clock, gap[1] + 5)
        proxy.mode = "pass"
        seen = []

        def record(t, snap):
            seen.append((t - T0, *replicas(kube), snap.prefill.reason_code, snap.decode.reason))

        step_until(ctl, clock, T0 + 41 * MIN + 50, record)
        assert seen and all(p >= before[0] and d >= before[1] for _, p, d, *_ in seen), (
            before,
            seen,
        )
        # The next interval (complete again) shows the higher demand: the pools grow.
        step_until(ctl, clock, T0 + 44 * MIN, record)
        after = replicas(kube)
        assert after[0] >= before[0] and after[1] > before[1], (before, seen)
