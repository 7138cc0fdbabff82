"""`sla-planner run` end to end: the real console entry point in a subprocess, talking real HTTP
to the fake Kubernetes API (via a kubeconfig) and serving its API on 127.0.0.1; SIGTERM stops it
cleanly and releases the leader Lease."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.controller_harness import DECODE_NAME, NS, PREFILL_NAME
from support.fake_kube import LEASES, PCSG, FakeKube

pytestmark = pytest.mark.slow  # subprocesses


def kubeconfig_for(kube: FakeKube, path: Path) -> Path:
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: "{kube.url}"}}}}]
users: [{{name: planner, user: {{token: test-token}}}}]
contexts: [{{name: fake, context: {{cluster: fake, user: planner, namespace: {NS}}}}}]
current-context: fake
"""
    )
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


def run_config(tmp_path: Path, prometheus_url: str, *, leader: bool = True) -> Path:
    p = tmp_path / "planner.yaml"
    p.write_text(
        f"""
planner: {{sla: {{ttft_ms: 200, itl_ms: 25}}, interval_s: 60, startup_s: 120,
          budget: {{max_gpus: 16}}, forecaster: last}}
profile: dynamo-h200-llama3.1-8b-fp8-tp1
metrics: {{prometheus: {{url: "{prometheus_url}", preset: dynamo}}}}
targets:
  prefill: {{kind: PodCliqueScalingGroup, namespace: {NS}, name: {PREFILL_NAME}}}
  decode:  {{kind: PodCliqueScalingGroup, namespace: {NS}, name: {DECODE_NAME}}}
leader_election: {{enabled: {str(leader).lower()}, namespace: {NS}, lease_name: sla-planner,
                  identity: planner-e2e, lease_duration_s: 6, renew_deadline_s: 4,
                  retry_period_s: 1}}
server: {{host: 127.0.0.1, port: 0}}
loop: {{retry_interval_s: 1}}
"""
    )
    return p


def wait_for(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def planner_proc(kube: FakeKube, tmp_path: Path):
    procs: list[subprocess.Popen] = []

    def start(config: Path, kubeconfig: Path) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"planner-{len(procs)}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("KUBERNETES_SERVICE_HOST", None)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sla_planner.cli.main",
                "run",
                "--config",
                str(config),
                "--kubeconfig",
                str(kubeconfig),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            env=env,
        )
        procs.append(proc)
        return proc, log

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


def test_run_serves_holds_without_metrics_and_stops_on_sigterm(
    kube: FakeKube, tmp_path: Path, planner_proc
):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=2, ready=2)
    kube.add_pcsg(NS, DECODE_NAME, replicas=3, ready=3)
    cfg = run_config(tmp_path, f"http://127.0.0.1:{closed_port()}")
    proc, log = planner_proc(cfg, kubeconfig_for(kube, tmp_path / "kubeconfig"))

    def api_url():
        m = re.search(r"api_listening url=(\S+)", log.read_text())
        assert proc.poll() is None, log.read_text()
        return m.group(1) if m else None

    url = wait_for(api_url, 60, "the API to listen")
    assert httpx.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    # Leader: holds the Lease in the fake cluster.
    wait_for(
        lambda: (
            kube.exists(LEASES, NS, "sla-planner")
            and kube.get(LEASES, NS, "sla-planner")["spec"].get("holderIdentity") == "planner-e2e"
        ),
        20,
        "the Lease to be acquired",
    )

    def metrics():
        text = httpx.get(f"{url}/metrics", timeout=5).text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }

    # Prometheus is unreachable: the planner holds at what the cluster runs and says why.
    m = wait_for(
        lambda: (
            (x := metrics()).get(
                ("sla_planner_errors_total", (("deployment", "default"), ("kind", "metrics"))), 0
            )
            >= 1
            and x
        ),
        30,
        "a metrics error to be counted",
    )
    assert m[("sla_planner_is_leader", ())] == 1
    pool = (("deployment", "default"), ("pool", "decode"), ("variant", "default"))
    assert m[("sla_planner_current_replicas", pool)] == 3
    pool = (("deployment", "default"), ("pool", "prefill"), ("variant", "default"))
    assert m[("sla_planner_desired_replicas", pool)] == 2
    r = httpx.get(f"{url}/readyz", timeout=5)
    assert r.status_code == 503
    assert kube.spec_replicas(PCSG, NS, PREFILL_NAME) == 2  # nothing changed
    assert kube.spec_replicas(PCSG, NS, DECODE_NAME) == 3
    assert "hold_metrics" in log.read_text()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()
    text = log.read_text()
    assert "shutdown signal=SIGTERM" in text and "stopped" in text
    assert "Traceback" not in text
    assert not kube.get(LEASES, NS, "sla-planner")["spec"].get("holderIdentity")  # released


def test_run_once_without_metrics_fails_in_one_line_and_changes_nothing(
    kube: FakeKube, tmp_path: Path, capsys
):
    from sla_planner.cli.main import main

    kube.add_pcsg(NS, PREFILL_NAME, replicas=2, ready=2)
    kube.add_pcsg(NS, DECODE_NAME, replicas=3, ready=3)
    cfg = run_config(tmp_path, f"http://127.0.0.1:{closed_port()}", leader=False)
    code = main(
        [
            "run",
            "--config",
            str(cfg),
            "--once",
            "--kubeconfig",
            str(kubeconfig_for(kube, tmp_path / "kc")),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("sla-planner: error: no decision could be made")
    assert "metrics unavailable" in err[-1]
    assert kube.writes() == []


def test_port_in_use_is_one_line_naming_the_port_and_the_fix(
    kube: FakeKube, tmp_path: Path, capsys
):
    from sla_planner.cli.main import main

    kube.add_pcsg(NS, PREFILL_NAME, replicas=2, ready=2)
    kube.add_pcsg(NS, DECODE_NAME, replicas=3, ready=3)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = run_config(tmp_path, f"http://127.0.0.1:{closed_port()}", leader=False)
        cfg.write_text(cfg.read_text().replace("port: 0", f"port: {port}"))
        code = main(
            ["run", "--config", str(cfg), "--kubeconfig", str(kubeconfig_for(kube, tmp_path / "k"))]
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1, err
    assert len(err) == 1 and err[0].startswith("sla-planner: error:"), err
    assert f"127.0.0.1:{port}" in err[0] and "in use" in err[0] and "server.port" in err[0]
    assert "internal error" not in err[0]
    assert kube.writes() == []
