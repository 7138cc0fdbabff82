"""A real Prometheus server scrapes the planner's /metrics over HTTP, then PromQL returns the
desired replicas the controller applied to the (fake) cluster."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rt_support import (
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

from planner.api import ApiServer, create_app

PROMETHEUS = shutil.which("prometheus")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def prometheus_scraping(target: str, workdir: Path) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 scraping `target` (host:port) every second."""
    assert PROMETHEUS, "needs the prometheus binary: apt-get install -y prometheus"
    port = _free_port()
    cfg = workdir / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: sla-planner\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    log = (workdir / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (workdir / "prometheus.log").read_text()[-2000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Prometheus did not become ready in 30 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def promql(url: str, query: str) -> list[dict]:
    r = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


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
        "prefill": kube.spec_replicas(PCSG, NS, PREFILL_NAME),
        "decode": kube.spec_replicas(PCSG, NS, DECODE_NAME),
    }
    assert want["decode"] > 1  # the controller did scale, so the value is not a default
    app = create_app(
        snapshot=ctl.snapshot,
        metrics=metrics,
        clock=clock,
        is_leader=lambda: True,
        stale_after_s=180,
    )
    server = ApiServer(app, host="127.0.0.1", port=0).start()
    try:
        with prometheus_scraping(f"127.0.0.1:{server.port}", tmp_path) as prom:
            deadline = time.monotonic() + 30
            result: list[dict] = []
            while time.monotonic() < deadline:
                result = promql(prom, 'sla_planner_desired_replicas{job="sla-planner"}')
                if len(result) == 2:
                    break
                time.sleep(0.5)
            got = {r["metric"]["pool"]: float(r["value"][1]) for r in result}
            assert got == {k: float(v) for k, v in want.items()}
            up = promql(prom, 'up{job="sla-planner"}')
            assert up and up[0]["value"][1] == "1"
            budget = promql(prom, "sla_planner_gpu_budget - sla_planner_gpus_used")
            assert float(budget[0]["value"][1]) == 16 - sum(want.values())
            ups = promql(prom, 'sum(sla_planner_decisions_total{reason="scale_up"})')
            assert float(ups[0]["value"][1]) >= 1
    finally:
        server.stop()
