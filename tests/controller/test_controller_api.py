"""The HTTP API: FastAPI TestClient for unit checks, uvicorn on 127.0.0.1 for real HTTP."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    TRACE_T0,
    SwitchableSource,
    drive,
    kube_actuators,
    make_controller,
    trace_source,
    write_step_trace,
)
from support.fake_kube import PCSG, FakeKube
from support.keda import keda_metric_value

from sla_planner.controller.api import ApiServer, create_app

STEP = 60.0


def pool_labels(pool: str, **more: str) -> tuple[tuple[str, str], ...]:
    """A single deployment's pool series' labels, sorted as the samples' keys are."""
    labels = {"deployment": "default", "variant": "default", "pool": pool, **more}
    return tuple(sorted(labels.items()))


@pytest.fixture
def setup(kube: FakeKube, api_client, clock, tmp_path):
    """A controller over a real trace file and the fake cluster, not yet ticked, and its app."""
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(10, 2.0), (30, 40.0)])
    source = SwitchableSource(trace_source(trace))
    ctl, metrics = make_controller(clock=clock, source=source, actuators=kube_actuators(api_client))
    clock.set(TRACE_T0 + 10 * STEP)
    app = create_app(
        snapshot=ctl.inner.snapshot,
        metrics=metrics,
        clock=clock,
        is_leader=lambda: True,
        stale_after_s=3 * STEP,
    )
    return ctl, metrics, app, source


def test_decision_is_503_before_the_first_tick(setup):
    _, _, app, _ = setup
    with TestClient(app) as c:
        r = c.get("/api/v1/decision")
        assert r.status_code == 503
        assert "no decision yet" in r.json()["detail"]
        assert c.get("/readyz").status_code == 503
        assert c.get("/healthz").json() == {"status": "ok"}


def test_decision_json_is_what_keda_metrics_api_reads(setup, kube: FakeKube, clock):
    ctl, _, app, _ = setup
    drive(ctl, clock, 3 * STEP)
    with TestClient(app) as c:
        r = c.get("/api/v1/decision")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    # The documented shape (README / preamble).
    for pool in ("prefill", "decode"):
        assert set(body[pool]) >= {
            "desiredReplicas",
            "currentReplicas",
            "readyReplicas",
            "expectedLatencyMs",
            "targetMs",
            "reason",
        }
    assert set(body["gpus"]) == {"used", "budget"}
    assert body["gpus"]["budget"] == 16
    assert body["prefill"]["targetMs"] == 200 and body["decode"]["targetMs"] == 25
    # KEDA: valueLocation "prefill.desiredReplicas" is a GJSON path to a JSON number.
    p = keda_metric_value(r.content, "prefill.desiredReplicas")
    d = keda_metric_value(r.content, "decode.desiredReplicas")
    assert p == kube.spec_replicas(PCSG, NS, PREFILL_NAME)
    assert d == kube.spec_replicas(PCSG, NS, DECODE_NAME)
    assert body["gpus"]["used"] == p + d
    with pytest.raises(TypeError):  # the checker itself rejects non-numbers
        keda_metric_value(r.content, "prefill.reason")
    with pytest.raises(KeyError):
        keda_metric_value(r.content, "prefill.nope")


def test_readyz_follows_metrics_freshness(setup, clock):
    ctl, _, app, source = setup
    with TestClient(app) as c:
        drive(ctl, clock, STEP)
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["ready"] is True
        source.down = True
        drive(ctl, clock, 4 * STEP)
        r = c.get("/readyz")
        assert r.status_code == 503
        assert "metrics source last answered" in r.json()["reason"]
        # Still a decision to serve (the last good one), and still alive.
        assert c.get("/api/v1/decision").status_code == 200
        assert c.get("/healthz").status_code == 200


def test_openapi_document_is_valid_openapi_3(setup):
    _, _, app, _ = setup
    with TestClient(app) as c:
        spec = c.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in ("/metrics", "/healthz", "/readyz", "/api/v1/decision"):
        assert "200" in spec["paths"][path]["get"]["responses"], path
    ref = spec["paths"]["/api/v1/decision"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    decision = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"timestamp", "prefill", "decode", "gpus"} <= set(decision["required"])
    pool_ref = decision["properties"]["prefill"]["$ref"].rsplit("/", 1)[1]
    pool = spec["components"]["schemas"][pool_ref]
    assert pool["properties"]["desiredReplicas"]["type"] == "integer"
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)  # raises on any schema violation


def test_standby_serves_but_never_actuates(kube: FakeKube, api_client, clock, tmp_path):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(10, 2.0), (30, 40.0)])
    acts = kube_actuators(api_client)
    ctl, metrics = make_controller(
        clock=clock, source=trace_source(trace), actuators=acts, is_leader=lambda: False
    )
    clock.set(TRACE_T0 + 10 * STEP)
    drive(ctl, clock, 5 * STEP)
    app = create_app(
        snapshot=ctl.inner.snapshot,
        metrics=metrics,
        clock=clock,
        is_leader=lambda: False,
        stale_after_s=180,
    )
    with TestClient(app) as c:
        fams = {f.name: f for f in text_string_to_metric_families(c.get("/metrics").text)}
        body = c.get("/api/v1/decision").json()
        assert c.get("/readyz").status_code == 200  # a warm standby is ready
    assert fams["sla_planner_is_leader"].samples[0].value == 0
    assert body["leader"] is False and body["prefill"]["reasonCode"] == "standby"
    assert kube.writes() == [] and acts["prefill"].scales == [] == acts["decode"].scales


def test_metrics_over_real_http(setup, kube: FakeKube, clock):
    ctl, _, app, _ = setup
    drive(ctl, clock, 4 * STEP)
    server = ApiServer(app, host="127.0.0.1", port=0).start()
    try:
        r = httpx.get(f"{server.url}/metrics", timeout=10)
        d = httpx.get(f"{server.url}/api/v1/decision", timeout=10).json()
    finally:
        server.stop()
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    p = kube.spec_replicas(PCSG, NS, PREFILL_NAME)
    dd = kube.spec_replicas(PCSG, NS, DECODE_NAME)
    # A single deployment is the fleet of one "default" (variant "default"): its pool series
    # carry those labels, its GPU series the profile's GPU type.
    dep = (("deployment", "default"),)
    assert samples[("sla_planner_desired_replicas", pool_labels("prefill"))] == p
    assert samples[("sla_planner_desired_replicas", pool_labels("decode"))] == dd
    assert samples[("sla_planner_current_replicas", pool_labels("decode"))] == dd
    assert ("sla_planner_ready_replicas", pool_labels("prefill")) in samples
    assert samples[("sla_planner_target_latency_ms", pool_labels("prefill"))] == 200
    assert samples[("sla_planner_target_latency_ms", pool_labels("decode"))] == 25
    assert ("sla_planner_expected_latency_ms", pool_labels("decode")) in samples
    assert samples[("sla_planner_deployment_gpu_budget", dep)] == 16
    assert samples[("sla_planner_gpus_used", (("gpu_type", "H200"),))] == p + dd
    assert samples[("sla_planner_is_leader", ())] == 1
    assert samples[("sla_planner_forecast_requests", dep)] > 0
    assert samples[("sla_planner_forecast_isl", dep)] == pytest.approx(1500, rel=0.05)
    assert samples[("sla_planner_forecast_osl", dep)] == pytest.approx(250, rel=0.05)
    assert samples[("sla_planner_last_decision_timestamp_seconds", ())] == d["timestamp"]
    ups = [
        v
        for (name, labels), v in samples.items()
        if name == "sla_planner_decisions_total" and ("reason", "scale_up") in labels
    ]
    assert ups and sum(ups) >= 1


def test_metrics_only_mode_publishes_for_keda(clock, tmp_path):
    """MetricsOnly targets: nothing in the cluster is touched; KEDA reads the number."""
    from sla_planner.actuators.config import TargetConfig
    from sla_planner.actuators.factory import build_actuator
    from sla_planner.model.types import Pool

    acts = {p: build_actuator(TargetConfig(kind="MetricsOnly"), None, pool=p.value) for p in Pool}
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(10, 2.0), (30, 40.0)])
    ctl, metrics = make_controller(clock=clock, source=trace_source(trace), actuators=acts)
    clock.set(TRACE_T0 + 10 * STEP)
    drive(ctl, clock, 5 * STEP)
    app = create_app(
        snapshot=ctl.inner.snapshot,
        metrics=metrics,
        clock=clock,
        is_leader=lambda: True,
        stale_after_s=180,
    )
    with TestClient(app) as c:
        r = c.get("/api/v1/decision")
    for pool in Pool:
        published = acts[pool].last_published
        assert published is not None and published >= 1
        assert keda_metric_value(r.content, f"{pool.value}.desiredReplicas") == published
    assert keda_metric_value(r.content, "decode.desiredReplicas") > 1  # it followed the 40 rps


def test_reason_codes_in_the_decision_and_in_metrics(setup, clock):
    from sla_planner.model.reasons import Binding, Limit, ReasonCode

    ctl, _, app, _ = setup
    drive(ctl, clock, 3 * STEP)
    with TestClient(app) as c:
        body = c.get("/api/v1/decision").json()
        text = c.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    for pool in ("prefill", "decode"):
        out = body[pool]
        assert ReasonCode(out["reasonCode"])  # one of the codes, not free text
        binding, limit = Binding(out["binding"]), Limit(out["limit"])
        # Exactly the current code is 1, every other code 0: a dashboard can count them.
        for code in Binding:
            key = ("sla_planner_sizing_binding", pool_labels(pool, reason=code.value))
            assert samples[key] == (1.0 if code is binding else 0.0)
        for code in Limit:
            key = ("sla_planner_limit", pool_labels(pool, reason=code.value))
            assert samples[key] == (1.0 if code is limit else 0.0)
    codes = {
        s.labels["reason"]
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "sla_planner_decisions_total"
    }
    assert codes and codes <= {c.value for c in ReasonCode}
