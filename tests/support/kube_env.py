"""The real control plane of scripts/kube_testenv.sh for the kube tests: start (or reuse) it,
admin and ServiceAccount clients, one namespace per test, the CRDs, and the audit log (every
write with who made it).

    env = KubeEnv.start()                      # builds once (~10 min cold), then ~5 s
    api = env.admin_client()
    ns = env.new_namespace("actuators")
    token_kc = env.service_account_kubeconfig(ns, "sla-planner", tmp_path / "kc")
    env.audit(namespace=ns, resource="podcliquescalinggroups")   # AuditEvents, oldest first
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from support.paths import REPO

SCRIPT = REPO / "scripts" / "kube_testenv.sh"
CRDS = REPO / "tests" / "kube" / "crds"
GROVE_CRDS = ("podcliquescalinggroups", "podcliques", "podcliquesets")
LWS_CRD = "leaderworkersets.leaderworkerset.x-k8s.io"


class KubeEnvUnavailable(RuntimeError):
    """The control plane could not be built or started; the message says why."""


def _script(*args: str, timeout_s: float = 3600) -> str:
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout_s
    )
    if proc.returncode != 0:
        raise KubeEnvUnavailable(
            f"scripts/kube_testenv.sh {' '.join(args)} exited {proc.returncode}: "
            f"{(proc.stderr or proc.stdout)[-2000:]}"
        )
    return proc.stdout.strip()


@dataclass(frozen=True)
class AuditEvent:
    verb: str
    user: str
    namespace: str
    resource: str
    subresource: str
    name: str
    code: int
    at: float  # requestReceivedTimestamp, epoch seconds
    raw: dict[str, Any]


def _epoch(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class KubeEnv:
    kubeconfig: Path
    bin_dir: Path

    @property
    def run_dir(self) -> Path:
        return self.kubeconfig.parent

    @property
    def ca_file(self) -> Path:
        return self.run_dir / "pki" / "ca.crt"

    @property
    def server(self) -> str:
        return yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]

    @classmethod
    def start(cls) -> KubeEnv:
        if not SCRIPT.is_file():
            raise KubeEnvUnavailable(f"{SCRIPT} is missing")
        _script("start")
        return cls(Path(_script("kubeconfig")), Path(_script("path")))

    # -- clients ------------------------------------------------------------------------------
    def admin_client(self) -> client.ApiClient:
        return self.client_for(self.kubeconfig)

    @staticmethod
    def client_for(kubeconfig: Path) -> client.ApiClient:
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
        cfg.retries = 0
        return client.ApiClient(cfg)

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        check: bool = True,
        stdin: str | None = None,
        timeout_s: float = 60,
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig or self.kubeconfig), *args],
            capture_output=True, text=True, input=stdin, timeout=timeout_s,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    def helm(self, *args: str) -> str:
        proc = subprocess.run(
            [str(self.bin_dir / "helm"), *args], capture_output=True, text=True, timeout=120,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig), "HELM_CACHE_HOME": str(
                self.run_dir / "helm-cache"), "HELM_CONFIG_HOME": str(self.run_dir / "helm")},
        )  # fmt: skip
        if proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    # -- namespaces, CRDs, ServiceAccounts ------------------------------------------------------
    def new_namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        client.CoreV1Api(self.admin_client()).create_namespace({"metadata": {"name": name}})
        return name

    def delete_namespace(self, name: str) -> None:
        try:
            client.CoreV1Api(self.admin_client()).delete_namespace(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    def install_crds(self) -> None:
        """The Grove and LWS CRDs (idempotent), waited for until the API serves them."""
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
        names = [f"{p}.grove.io" for p in GROVE_CRDS] + [LWS_CRD, "scaledobjects.keda.sh"]
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                     *[f"crd/{n}" for n in names])  # fmt: skip

    def service_account_kubeconfig(
        self, namespace: str, service_account: str, path: Path, expiration_s: int = 3600
    ) -> Path:
        """A kubeconfig with a token of `service_account` (TokenRequest API), as a pod gets."""
        core = client.CoreV1Api(self.admin_client())
        req = core.create_namespaced_service_account_token(
            service_account, namespace, {"spec": {"expirationSeconds": expiration_s}}
        )
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "testenv", "cluster": {
                        "server": self.server, "certificate-authority": str(self.ca_file)}}],
                    "users": [{"name": service_account, "user": {"token": req.status.token}}],
                    "contexts": [{"name": "sa", "context": {
                        "cluster": "testenv", "user": service_account, "namespace": namespace}}],
                    "current-context": "sa",
                }
            )
        )  # fmt: skip
        return path

    # -- the audit log ----------------------------------------------------------------------------
    def audit(
        self,
        *,
        namespace: str | None = None,
        resource: str | None = None,
        since: float = 0.0,
        verbs: tuple[str, ...] = ("update", "patch", "create", "delete"),
    ) -> list[AuditEvent]:
        """Audit events (ResponseComplete stage), oldest first."""
        out: list[AuditEvent] = []
        path = self.run_dir / "audit.log"
        if not path.exists():
            return out
        for line in path.read_text().splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line being written
            if ev.get("stage") != "ResponseComplete" or ev.get("verb") not in verbs:
                continue
            ref = ev.get("objectRef") or {}
            at = _epoch(ev["requestReceivedTimestamp"])
            if at < since:
                continue
            if namespace is not None and ref.get("namespace") != namespace:
                continue
            if resource is not None and ref.get("resource") != resource:
                continue
            out.append(
                AuditEvent(
                    verb=ev["verb"],
                    user=ev.get("user", {}).get("username", ""),
                    namespace=ref.get("namespace", ""),
                    resource=ref.get("resource", ""),
                    subresource=ref.get("subresource", ""),
                    name=ref.get("name", ""),
                    code=int((ev.get("responseStatus") or {}).get("code", 0)),
                    at=at,
                    raw=ev,
                )
            )
        return out


def wait_for(pred: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what} (last: {last!r})")


def namespace_fixture(env: KubeEnv, prefix: str) -> Iterator[str]:
    ns = env.new_namespace(prefix)
    try:
        yield ns
    finally:
        env.delete_namespace(ns)
