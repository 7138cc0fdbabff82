"""The real `sla-planner run` in a subprocess, for fault tests that kill, freeze and restart
it: its run config and kubeconfig (each planner its own bearer token, so the fake API server
can tell who wrote), its log, its API URL, and signals.

    proc = PlannerProcess(tmp_path, "planner-a", kube, prometheus_url).start()
    proc.wait_api(); proc.freeze(); proc.thaw(); proc.kill(); proc.terminate()
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from support.controller_harness import DECODE_NAME, NS, PREFILL_NAME
from support.fake_kube import FakeKube

LEASE_S, RENEW_S, RETRY_S = 3, 2, 0.5


def run_config(path: Path, identity: str, prometheus_url: str, **loop: float) -> Path:
    extra = "".join(f", {k}: {v}" for k, v in loop.items())
    path.write_text(
        f"""
planner: {{sla: {{ttft_ms: 200, itl_ms: 25}}, interval_s: 2, startup_s: 4,
          budget: {{max_gpus: 16}}, forecaster: last, scale_down_window_s: 0}}
profile: dynamo-h200-llama3.1-8b-fp8-tp1
metrics: {{prometheus: {{url: "{prometheus_url}", preset: dynamo, timeout_s: 2, retries: 0}}}}
targets:
  prefill: {{kind: PodCliqueScalingGroup, namespace: {NS}, name: {PREFILL_NAME},
            request_timeout_s: 3, conflict_retries: 2}}
  decode:  {{kind: PodCliqueScalingGroup, namespace: {NS}, name: {DECODE_NAME},
            request_timeout_s: 3, conflict_retries: 2}}
leader_election: {{enabled: true, namespace: {NS}, lease_name: sla-planner, identity: {identity},
                  lease_duration_s: {LEASE_S}, renew_deadline_s: {RENEW_S},
                  retry_period_s: {RETRY_S}}}
server: {{host: 127.0.0.1, port: 0}}
loop: {{retry_interval_s: 1, backfill_intervals: 10, latency_correction: false{extra}}}
"""
    )
    return path


def kubeconfig(path: Path, kube: FakeKube, token: str) -> Path:
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: "{kube.url}"}}}}]
users: [{{name: planner, user: {{token: {token}}}}}]
contexts: [{{name: fake, context: {{cluster: fake, user: planner, namespace: {NS}}}}}]
current-context: fake
"""
    )
    return path


class PlannerProcess:
    def __init__(
        self, workdir: Path, identity: str, kube: FakeKube, prometheus_url: str, **loop: float
    ) -> None:
        self.identity = identity
        self.dir = workdir / identity
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = run_config(self.dir / "planner.yaml", identity, prometheus_url, **loop)
        self.kubeconfig = kubeconfig(self.dir / "kubeconfig", kube, identity)
        self.proc: subprocess.Popen | None = None
        self.frozen = False
        self.starts = 0
        self.url: str | None = None

    @property
    def log_path(self) -> Path:
        return self.dir / f"planner-{self.starts}.log"

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def start(self) -> PlannerProcess:
        self.starts += 1
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("KUBERNETES_SERVICE_HOST", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sla_planner.cli.main", "run", "--config", str(self.config),
             "--kubeconfig", str(self.kubeconfig)],
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("w"),
            env=env,
        )  # fmt: skip
        self.frozen = False
        self.url = None
        return self

    def wait_api(self, timeout_s: float = 90.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            m = re.search(r"api_listening url=(\S+)", self.log())
            if m:
                self.url = m.group(1)
                return self.url
            time.sleep(0.1)
        raise AssertionError(f"{self.identity}: the API never listened:\n{self.log()[-3000:]}")

    def get(self, path: str) -> httpx.Response | None:
        """GET on its API; None when it does not answer (frozen, dead)."""
        if self.url is None or self.frozen:
            return None
        try:
            return httpx.get(self.url + path, timeout=2)
        except httpx.HTTPError:
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.frozen = False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def terminate(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (after SIGCONT if frozen); the exit code, or None if it had to be killed."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        if self.frozen:
            self.thaw()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None
