"""`sla-planner run --config FLEET.yaml` end to end: the real console entry point in a
subprocess, demand per deployment from a real Prometheus (a live exporter with one `model`
label per deployment), the fake Kubernetes API over HTTP, and its /metrics scraped by a second
real Prometheus."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from support.controller_harness import NS
from support.fake_kube import LEASES, PCSG, FakeKube
from support.fleet_run import fleet_dict, pool_objects
from support.keda import keda_metric_value
from support.live_demand import LiveDemand
from support.planner_process import kubeconfig
from support.prometheus_server import INSTALL_HINT, PrometheusServer, prometheus_available

pytestmark = [
    pytest.mark.slow,  # subprocesses, real Prometheus servers, real time
    pytest.mark.skipif(not prometheus_available(), reason=f"needs prometheus: {INSTALL_HINT}"),
]

RATES = {"chat": 40.0, "code": 5.0, "batch": 0.0}
RUNNING = {"chat-h200-prefill": 1, "chat-h200-decode": 1, "code-h200-prefill": 1,
           "code-h200-decode": 1}  # fmt: skip


@pytest.fixture
def live_kube():
    from sla_planner.controller.clock import RealClock

    with FakeKube(clock=RealClock(), ready_delay_s=1.0) as k:  # type: ignore[arg-type]
        yield k


def fleet_file(tmp_path: Path, kube: FakeKube, prometheus_url: str) -> tuple[Path, dict]:
    data = fleet_dict(prometheus_url)
    data.update(interval_s=2, startup_s=4, scale_down_window_s=0)
    data["prometheus"].update(timeout_s=2, retries=0)
    data["leader_election"] = {"enabled": True, "namespace": NS, "lease_name": "sla-planner",
                               "identity": "planner-a", "lease_duration_s": 3,
                               "renew_deadline_s": 2, "retry_period_s": 0.5}  # fmt: skip
    data["server"] = {"host": "127.0.0.1", "port": 0}
    data["loop"] = {"retry_interval_s": 1, "backfill_intervals": 10}
    for _, _, _, obj in pool_objects(data):
        n = RUNNING.get(obj, 0)
        kube.add_pcsg(NS, obj, replicas=n, ready=n)
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, data


def wait_for(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def demand_seen(demand: LiveDemand) -> None:
    """A few complete 2 s intervals of every model's counters in Prometheus."""
    assert demand.prometheus is not None
    demand.prometheus.wait_for(
        'count(dynamo_frontend_requests_total{model=~"chat|code|batch"})',
        lambda r: bool(r) and float(r[0]["value"][1]) == 3,
    )
    time.sleep(7)


def command(config: Path, kc: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sla_planner.cli.main", "run", "--config", str(config),
            "--kubeconfig", str(kc), *extra]  # fmt: skip


def env() -> dict[str, str]:
    e = dict(os.environ, PYTHONUNBUFFERED="1")
    e.pop("KUBERNETES_SERVICE_HOST", None)
    return e


def used(kube: FakeKube, data: dict) -> dict[str, int]:
    out = {"H200": 0, "H100": 0}
    for _, variant, _, obj in pool_objects(data):
        out["H100" if variant == "h100" else "H200"] += kube.spec_replicas(PCSG, NS, obj)
    return out


def test_run_once_with_a_fleet_file_scales_every_deployment(live_kube, tmp_path):
    kube = live_kube
    with LiveDemand(tmp_path / "demand", rates=RATES) as demand:
        config, data = fleet_file(tmp_path, kube, demand.prometheus_url)
        kc = kubeconfig(tmp_path / "kubeconfig", kube, "planner-a")
        demand_seen(demand)
        proc = subprocess.run(command(config, kc, "--once"), capture_output=True, text=True,
                              env=env(), timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert set(out["deployments"]) == {"chat", "code", "batch"}
    assert out["gpus"]["H200"]["budget"] == 6 and out["gpus"]["H100"]["budget"] == 4
    for name, dep in out["deployments"].items():
        for variant, pools in dep["variants"].items():
            for pool, p in pools.items():
                assert p["desiredReplicas"] == kube.spec_replicas(
                    PCSG, NS, f"{name}-{variant}-{pool}"
                )
    chat = out["deployments"]["chat"]
    assert chat["prefill"]["desiredReplicas"] + chat["decode"]["desiredReplicas"] > 2  # 40 req/s
    assert chat["prefill"]["reasonCode"] == "scale_up"
    assert all(n <= {"H200": 6, "H100": 4}[t] for t, n in used(kube, data).items())
    assert not kube.get(LEASES, NS, "sla-planner")["spec"].get("holderIdentity")  # released
    assert "Traceback" not in proc.stderr


def test_fleet_metrics_scraped_by_prometheus_carry_the_deployment_label(live_kube, tmp_path):
    kube = live_kube
    with LiveDemand(tmp_path / "demand", rates=RATES) as demand:
        config, data = fleet_file(tmp_path, kube, demand.prometheus_url)
        kc = kubeconfig(tmp_path / "kubeconfig", kube, "planner-a")
        demand_seen(demand)
        log = tmp_path / "planner.log"
        proc = subprocess.Popen(command(config, kc), stdout=subprocess.DEVNULL,
                                stderr=log.open("w"), env=env())  # fmt: skip
        try:
            url = wait_for(lambda: _api_url(log, proc), 90, "the API")
            wait_for(lambda: kube.spec_replicas(PCSG, NS, "chat-h200-prefill") > 1, 60,
                     "chat to scale up")  # fmt: skip
            host = url.removeprefix("http://")
            with PrometheusServer(tmp_path / "scrape", scrape_targets=[host]) as prom:
                q = 'sla_planner_desired_replicas{deployment="chat",variant="h200",pool="prefill"}'
                got = prom.wait_for(q, lambda r: bool(r), timeout_s=60)
                assert got[0]["metric"]["job"] and got[0]["metric"]["deployment"] == "chat"
                wait_for(lambda: float(prom.query(q)[0]["value"][1])
                         == kube.spec_replicas(PCSG, NS, "chat-h200-prefill"), 30,
                         "the scraped value to match the cluster")  # fmt: skip
                names = {r["metric"]["deployment"]
                         for r in prom.query("sla_planner_desired_replicas")}  # fmt: skip
                assert names == {"chat", "code", "batch"}
                budget = prom.query('sla_planner_gpu_budget{gpu_type="H100"}')
                assert float(budget[0]["value"][1]) == 4
            r = httpx.get(url + "/api/v1/deployments/chat/decision", timeout=5)
            assert r.status_code == 200
            spec = kube.spec_replicas(PCSG, NS, "chat-h200-prefill")
            assert keda_metric_value(r.content, "variants.h200.prefill.desiredReplicas") == spec
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
    assert code == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "stopped" in text and "Traceback" not in text
    assert all(n <= {"H200": 6, "H100": 4}[t] for t, n in used(kube, data).items())


def _api_url(log: Path, proc: subprocess.Popen) -> str | None:
    import re

    assert proc.poll() is None, log.read_text()[-3000:]
    m = re.search(r"api_listening url=(\S+)", log.read_text())
    return m.group(1) if m else None
