"""The fleet controller's HTTP API (FastAPI TestClient over a fleet controller driven in
simulated time against the fake Kubernetes API): per-deployment decisions shaped for KEDA's
metrics-api scaler, the fleet's decision, readiness per deployment, and /metrics with the
`deployment` label."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from support.controller_harness import NS, TRACE_T0
from support.fake_kube import PCSG, FakeKube
from support.fleet_cluster import start_fleet
from support.keda import keda_metric_value

STEP = 60.0
TRAFFIC = {"chat": [(40, 20.0)], "code": [(40, 8.0)], "batch": [(40, 0.0)]}


@pytest.fixture
def fleet(kube: FakeKube, api_client, clock, tmp_path):
    from sla_planner.controller.api import create_app

    fc = start_fleet(kube, clock, api_client, tmp_path, TRAFFIC, TRACE_T0)
    clock.set(TRACE_T0 + 10 * STEP)
    rt = fc.runtime
    app = create_app(
        snapshot=rt.controller.snapshot,
        metrics=rt.metrics,
        clock=clock,
        is_leader=lambda: True,
        stale_after_s=3 * STEP,
        single=False,
    )
    return fc, app


def test_decisions_are_503_before_the_first_tick(fleet):
    _, app = fleet
    with TestClient(app) as c:
        assert c.get("/api/v1/decision").status_code == 503
        assert c.get("/api/v1/deployments/chat/decision").status_code == 503
        assert c.get("/readyz").status_code == 503
        assert c.get("/healthz").json() == {"status": "ok"}


def test_each_deployment_has_a_decision_keda_reads_per_variant(fleet, kube: FakeKube):
    fc, app = fleet
    fc.drive(8 * STEP)
    with TestClient(app) as c:
        r = c.get("/api/v1/deployments/code/decision")
        same = c.get("/api/v1/decision", params={"deployment": "code"})
    assert r.status_code == 200 and same.status_code == 200
    body = r.json()
    assert same.json() == body
    assert body["deployment"] == "code" and set(body["variants"]) == {"h200", "h100"}
    active = body["variant"]
    # Every variant's pool: what KEDA reads is what the cluster was scaled to (0 when idle).
    for variant in ("h200", "h100"):
        for pool in ("prefill", "decode"):
            got = keda_metric_value(r.content, f"variants.{variant}.{pool}.desiredReplicas")
            assert got == kube.spec_replicas(PCSG, NS, f"code-{variant}-{pool}")
            role = body["variants"][variant][pool]["role"]
            assert role == ("active" if variant == active else "idle")
    # The top-level pools are the active variant's (a single variant reads prefill.desiredReplicas).
    assert body["prefill"] == body["variants"][active]["prefill"]
    assert keda_metric_value(r.content, "prefill.desiredReplicas") >= 1
    assert body["prefill"]["gpuType"] == ("H100" if active == "h100" else "H200")
    assert body["slo"]["attainment"] == 0.99 and body["priority"] == "standard"
    assert 0.0 <= body["expectedAttainment"] <= 1.0


def test_the_fleet_decision_and_unknown_deployments(fleet):
    fc, app = fleet
    fc.drive(3 * STEP)
    with TestClient(app) as c:
        whole = c.get("/api/v1/decision").json()
        missing = c.get("/api/v1/deployments/nope/decision")
    assert set(whole["deployments"]) == {"chat", "code", "batch"}
    assert whole["gpus"] == {
        t: {"used": whole["gpus"][t]["used"], "budget": n} for t, n in (("H200", 6), ("H100", 4))
    }
    for t, g in whole["gpus"].items():
        per = sum(d["gpus"].get(t, 0) for d in whole["deployments"].values())
        assert g["used"] == per <= g["budget"]
    assert missing.status_code == 404
    assert "known: chat, code, batch" in missing.json()["detail"]


def test_readyz_names_one_deployments_stale_data_and_fails_only_when_none_is_fresh(fleet, clock):
    fc, app = fleet
    with TestClient(app) as c:
        fc.drive(2 * STEP)
        assert c.get("/readyz").json()["ready"] is True
        fc.sources["code"].down = True
        fc.drive(4 * STEP)
        r = c.get("/readyz")
        assert r.status_code == 200
        assert "code" in r.json()["reason"]
        assert "metrics source last answered" in r.json()["deployments"]["code"]
        assert r.json()["deployments"]["chat"] == ""
        for s in fc.sources.values():
            s.down = True
        fc.drive(4 * STEP)
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False
        assert c.get("/api/v1/decision").status_code == 200  # the last good decision
        assert c.get("/healthz").status_code == 200


def test_metrics_carry_the_deployment_label(fleet, kube: FakeKube):
    fc, app = fleet
    fc.drive(4 * STEP)
    with TestClient(app) as c:
        text = c.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }

    def value(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]

    for variant in ("h200", "h100"):
        for pool in ("prefill", "decode"):
            got = value("sla_planner_desired_replicas", deployment="code", variant=variant,
                        pool=pool)  # fmt: skip
            assert got == kube.spec_replicas(PCSG, NS, f"code-{variant}-{pool}")
    assert value("sla_planner_gpu_budget", gpu_type="H100") == 4
    assert value("sla_planner_gpus_used", gpu_type="H200") <= 6
    assert value("sla_planner_target_latency_ms", deployment="chat", variant="h200",
                 pool="prefill") == 200  # fmt: skip
    active = {v for v in ("h200", "h100")
              if value("sla_planner_active_variant", deployment="code", variant=v) == 1}  # fmt: skip
    assert len(active) == 1
    assert value("sla_planner_forecast_requests", deployment="chat") > 0
    assert value("sla_planner_is_leader") == 1
    decided = [k for k in samples if k[0] == "sla_planner_decisions_total"]
    assert decided and all(dict(k[1]).get("deployment") for k in decided)


def test_openapi_document_is_valid(fleet):
    _, app = fleet
    with TestClient(app) as c:
        spec = c.get("/openapi.json").json()
    for path in ("/metrics", "/healthz", "/readyz", "/api/v1/decision",
                 "/api/v1/deployments/{name}/decision"):  # fmt: skip
        assert "200" in spec["paths"][path]["get"]["responses"], path
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)
