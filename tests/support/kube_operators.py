"""Controllers the kube tests run beside the control plane, built by scripts/kube_testenv.sh:
the LeaderWorkerSet controller (with its admission webhooks, served on 127.0.0.1) and
prometheus-adapter (HPA External metrics from Prometheus). Started once, reused by PID file;
`scripts/kube_testenv.sh stop` stops them with the rest."""

from __future__ import annotations

import base64
import copy
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from support.kube_env import KubeEnv, wait_for

LWS_WEBHOOK_PORT = 19443
LWS_SELECTOR = {
    "matchExpressions": [{"key": "leaderworkerset.sigs.k8s.io/name", "operator": "Exists"}]
}


def _running(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def _spawn(env: KubeEnv, name: str, argv: list[str], extra_env: dict[str, str]) -> None:
    pid_file = env.run_dir / f"{name}.pid"
    if pid_file.exists() and _running(pid_file):
        return
    log = (env.run_dir / f"{name}.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **extra_env}, start_new_session=True)  # fmt: skip
    pid_file.write_text(str(proc.pid))


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def lws_webhooks(manifests: str, ca_pem: bytes) -> list[dict[str, Any]]:
    """LWS's webhook configurations (config/webhook), pointed at 127.0.0.1 instead of its
    in-cluster Service, with the pod webhooks limited to LWS pods as LWS's own kustomize patch
    does; the DisaggregatedSet webhook is left out (its CRD is not installed)."""
    out = []
    for doc in yaml.safe_load_all(manifests):
        if not doc:
            continue
        doc = copy.deepcopy(doc)
        hooks = []
        for hook in doc["webhooks"]:
            if "disaggregatedset" in hook["name"]:
                continue
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{LWS_WEBHOOK_PORT}{path}",
                                    "caBundle": base64.b64encode(ca_pem).decode()}  # fmt: skip
            if hook["name"] in ("mpod.kb.io", "vpod.kb.io"):
                hook["objectSelector"] = LWS_SELECTOR
            hooks.append(hook)
        doc["webhooks"] = hooks
        doc["metadata"]["name"] = "lws-" + doc["metadata"]["name"]
        out.append(doc)
    return out


def start_lws(env: KubeEnv) -> None:
    """The LWS controller v0.9.0 with its webhooks; idempotent."""
    certs = env.run_dir / "lws-certs"
    certs.mkdir(exist_ok=True)
    shutil.copy(env.run_dir / "pki" / "webhook.crt", certs / "tls.crt")
    shutil.copy(env.run_dir / "pki" / "webhook.key", certs / "tls.key")
    cfg = env.run_dir / "lws-config.yaml"
    cfg.write_text(yaml.safe_dump({
        "apiVersion": "config.lws.x-k8s.io/v1alpha1", "kind": "Configuration",
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "health": {"healthProbeBindAddress": "127.0.0.1:18081"},
        "metrics": {"bindAddress": "0"},
        "webhook": {"port": LWS_WEBHOOK_PORT, "host": "127.0.0.1", "certDir": str(certs)},
    }))  # fmt: skip
    # LWS also runs a DisaggregatedSet controller, which exits the manager without its CRD.
    crd = env.bin_dir / "data" / "disaggregatedset.x-k8s.io_disaggregatedsets.yaml"
    env.kubectl("apply", "--server-side", "-f", str(crd))
    _spawn(env, "lws", [str(env.bin_dir / "lws"), "--config", str(cfg)],
           {"KUBECONFIG": str(env.kubeconfig)})  # fmt: skip
    wait_for(lambda: _port_open(LWS_WEBHOOK_PORT), 60, "the LWS webhook server")
    hooks = lws_webhooks((env.bin_dir / "data" / "lws-webhooks.yaml").read_text(),
                         env.ca_file.read_bytes())  # fmt: skip
    env.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(hooks))
    time.sleep(1.0)  # the API server picks up webhook configurations asynchronously


ADAPTER_PORT = 16445


class PrometheusAdapter:
    """prometheus-adapter v0.12.0 serving external.metrics.k8s.io from `prometheus_url`, with
    `external_rules` (its config's externalRules), registered as an APIService behind the real
    API server's aggregator (an ExternalName Service to localhost, the env CA as caBundle)."""

    def __init__(self, env: KubeEnv, prometheus_url: str, external_rules: list[dict]) -> None:
        self.env, self.url, self.rules = env, prometheus_url, external_rules
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> PrometheusAdapter:
        run = self.env.run_dir
        cfg = run / "adapter-config.yaml"
        cfg.write_text(yaml.safe_dump({"externalRules": self.rules}))
        kc = str(self.env.kubeconfig)
        pki = run / "pki"
        self.proc = subprocess.Popen(
            [str(self.env.bin_dir / "prometheus-adapter"), f"--secure-port={ADAPTER_PORT}",
             "--bind-address=127.0.0.1", f"--tls-cert-file={pki / 'webhook.crt'}",
             f"--tls-private-key-file={pki / 'webhook.key'}", f"--lister-kubeconfig={kc}",
             f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
             f"--prometheus-url={self.url}", f"--config={cfg}", "--metrics-relist-interval=2s",
             "--v=2"],
            stdout=(run / "prometheus-adapter.log").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        (run / "prometheus-adapter.pid").write_text(str(self.proc.pid))
        wait_for(lambda: _port_open(ADAPTER_PORT), 60, "prometheus-adapter")
        ca = base64.b64encode(self.env.ca_file.read_bytes()).decode()
        self.env.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "prometheus-adapter", "namespace": "kube-system"},
             "spec": {"type": "ExternalName", "externalName": "localhost"}},
            {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
             "metadata": {"name": "v1beta1.external.metrics.k8s.io"},
             "spec": {"group": "external.metrics.k8s.io", "version": "v1beta1",
                      "groupPriorityMinimum": 100, "versionPriority": 100, "caBundle": ca,
                      "service": {"name": "prometheus-adapter", "namespace": "kube-system",
                                  "port": ADAPTER_PORT}}},
        ]))  # fmt: skip
        self.env.kubectl("wait", "--for=condition=Available", "--timeout=60s",
                         "apiservice/v1beta1.external.metrics.k8s.io")  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        self.env.kubectl("delete", "apiservice", "v1beta1.external.metrics.k8s.io",
                         "--ignore-not-found", check=False)  # fmt: skip
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        (self.env.run_dir / "prometheus-adapter.pid").unlink(missing_ok=True)
