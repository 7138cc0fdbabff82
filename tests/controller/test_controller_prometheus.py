"""A real Prometheus server (tests/support/prometheus_server.py) scrapes the planner's /metrics
over HTTP, then PromQL returns the desired replicas the controller applied to the fake cluster."""

from __future__ import annotations

import pytest
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    TRACE_T0,
    drive,
    kube_actuators,
    make_controller,
    trace_source,
    write_step_trace,
)
from support.fake_kube import PCSG, FakeKube
from support.prometheus_server import PrometheusServer

from sla_planner.controller.api import ApiServer, create_app

pytestmark = pytest.mark.slow  # real Prometheus server


def test_real_prometheus_scrapes_desired_replicas(kube: FakeKube, api_client, clock, tmp_path):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(10, 2.0), (30, 40.0)])
    ctl, metrics = make_controller(
        clock=clock, source=trace_source(trace), actuators=kube_actuators(api_client)
    )
    clock.set(TRACE_T0 + 10 * 60)
    drive(ctl, clock, 6 * 60)
    want = {
        "prefill": float(kube.spec_replicas(PCSG, NS, PREFILL_NAME)),
        "decode": float(kube.spec_replicas(PCSG, NS, DECODE_NAME)),
    }
    assert want["decode"] > 1  # the controller did scale, so the value is not a default
    app = create_app(
        snapshot=ctl.inner.snapshot,
        metrics=metrics,
        clock=clock,
        is_leader=lambda: True,
        stale_after_s=180,
    )
    server = ApiServer(app, host="127.0.0.1", port=0).start()
    try:
        with PrometheusServer(
            tmp_path, scrape_targets=[f"127.0.0.1:{server.port}"], job="sla-planner"
        ) as prom:
            result = prom.wait_for(
                'sla_planner_desired_replicas{job="sla-planner"}', lambda r: len(r) == 2
            )
            got = {r["metric"]["pool"]: float(r["value"][1]) for r in result}
            assert got == want
            up = prom.query('up{job="sla-planner"}')
            assert up and up[0]["value"][1] == "1"
            # A single deployment's budget is its own max_gpus, beside its GPUs by type.
            free = prom.query(
                "sla_planner_deployment_gpu_budget"
                " - on (deployment) sum by (deployment) (sla_planner_deployment_gpus)"
            )
            assert float(free[0]["value"][1]) == 16 - sum(want.values())
            ups = prom.query('sum(sla_planner_decisions_total{reason="scale_up"})')
            assert float(ups[0]["value"][1]) >= 1
    finally:
        server.stop()
