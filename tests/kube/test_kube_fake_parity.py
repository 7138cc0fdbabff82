"""The fake API server (tests/support/fake_kube.py, kept for fast fault injection) against the
real kube-apiserver: the same requests to both, the same answers on every point the tests
touch (status codes and Status bodies of 400/403/404/409/422/500, the Scale object, what moves
the resourceVersion, a PUT without resourceVersion, Leases, a CRD that is not installed).
Each difference found here was fixed in the fake (tests/actuators/test_actuators_fake_parity.py
holds the fake to it without a real server)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from kubernetes import client
from support.fake_kube import FakeKube
from support.kube_env import KubeEnv

pytestmark = [pytest.mark.kube, pytest.mark.slow]

GROUP_OF = {"podcliquescalinggroups": "grove.io/v1alpha1", "deployments": "apps/v1",
            "leases": "coordination.k8s.io/v1"}  # fmt: skip
PCSG_SPEC = {"cliqueNames": ["leader", "worker"], "replicas": 2}
DEPLOY_SPEC = {
    "replicas": 1,
    "selector": {"matchLabels": {"app": "d"}},
    "template": {"metadata": {"labels": {"app": "d"}},
                 "spec": {"containers": [{"name": "c", "image": "registry.invalid/x"}]}},
}  # fmt: skip
KIND_OF = {"podcliquescalinggroups": "PodCliqueScalingGroup", "deployments": "Deployment",
           "leases": "Lease"}  # fmt: skip


@dataclass
class Server:
    """One API server, real or fake, spoken to with plain HTTP (httpx)."""

    name: str
    http: httpx.Client
    ns: str

    def url(self, plural: str, name: str = "", sub: str = "") -> str:
        path = f"/apis/{GROUP_OF[plural]}/namespaces/{self.ns}/{plural}"
        return path + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    def create(self, plural: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": GROUP_OF[plural], "kind": KIND_OF[plural],
                "metadata": {"name": name}, "spec": spec}  # fmt: skip
        r = self.http.post(self.url(plural), json=body)
        assert r.status_code == 201, (self.name, r.text)
        return r.json()

    def scale(self, plural: str, name: str) -> dict[str, Any]:
        return self.http.get(self.url(plural, name, "scale")).json()

    def put_scale(
        self,
        plural: str,
        name: str,
        replicas: int,
        rv: str | None = None,
        body_name: str | None = None,
    ) -> httpx.Response:
        meta: dict[str, Any] = {"name": body_name or name, "namespace": self.ns}
        if rv is not None:
            meta["resourceVersion"] = rv
        body = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": meta,
                "spec": {"replicas": replicas}}  # fmt: skip
        return self.http.put(self.url(plural, name, "scale"), json=body)


def status_of(r: httpx.Response, ns: str) -> dict[str, Any]:
    """The parts of an error answer a client reads: code, content type, Status fields."""
    out: dict[str, Any] = {"http": r.status_code}
    if not r.headers.get("content-type", "").startswith("application/json"):
        return out | {"text": r.text}
    body = r.json()
    details = body.get("details") or {}
    return out | {
        "code": body.get("code"),
        "reason": body.get("reason", ""),
        "message": body.get("message", "").replace(ns, "NS"),
        "details": {k: details[k] for k in ("name", "group", "kind", "causes") if k in details},
    }


@pytest.fixture
def servers(kube_env: KubeEnv, kube_ns: str) -> Iterator[tuple[Server, Server]]:
    pki = kube_env.run_dir / "pki"
    tls = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    tls.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    real = httpx.Client(base_url=kube_env.server, verify=tls)
    with FakeKube() as kube, httpx.Client(base_url=kube.url) as fake:
        yield Server("real", real, kube_ns), Server("fake", fake, kube_ns)
    real.close()


def both(servers, probe) -> tuple[Any, Any]:
    real, fake = servers
    return probe(real), probe(fake)


def test_not_found_conflict_invalid_and_bad_request_answer_alike(servers):
    def probe(s: Server) -> list[dict[str, Any]]:
        s.create("podcliquescalinggroups", "p", PCSG_SPEC)
        s.create("deployments", "d", DEPLOY_SPEC)
        return [status_of(r, s.ns) for r in (
            s.http.get(s.url("podcliquescalinggroups", "nope", "scale")),  # 404 object
            s.put_scale("podcliquescalinggroups", "nope", 2),  # 404 on write
            s.put_scale("podcliquescalinggroups", "p", 3, rv="1"),  # 409 stale
            s.put_scale("deployments", "d", 3, rv="1"),
            s.put_scale("podcliquescalinggroups", "p", -1),  # 422, the CRD's check
            s.put_scale("deployments", "d", -1),  # 422, Scale validation
            s.put_scale("podcliquescalinggroups", "p", 3, rv="1", body_name="other"),  # 400
            s.put_scale("podcliquescalinggroups", "p", 3, rv="abc"),  # 500
        )]  # fmt: skip

    real, fake = both(servers, probe)
    assert fake == real


def test_a_type_that_is_not_served_answers_alike(servers):
    def probe(s: Server) -> list[dict[str, Any]]:
        s.create("leases", "l", {"holderIdentity": "a"})
        return [status_of(s.http.get(p), s.ns) for p in (
            f"/apis/grove.io/v1alpha1/namespaces/{s.ns}/podgangs/x",  # CRD not installed
            f"/apis/nothere.example.com/v1/namespaces/{s.ns}/things/x",  # group not served
            s.url("leases", "l", "scale"),  # served type, no such subresource
        )]  # fmt: skip

    real, fake = both(servers, probe)
    assert fake == real


def test_scale_object_and_resource_version_semantics_alike(servers):
    def probe(s: Server) -> dict[str, Any]:
        created = s.create("podcliquescalinggroups", "p", PCSG_SPEC)
        scale = s.scale("podcliquescalinggroups", "p")
        # The first writes by a new client move managedFields (bookkeeping the fake does not
        # keep: up to two resourceVersions on the real server); after that, nothing changes.
        for _ in range(2):
            s.put_scale("podcliquescalinggroups", "p", 2)
        rv0 = s.scale("podcliquescalinggroups", "p")["metadata"]["resourceVersion"]
        same = s.put_scale("podcliquescalinggroups", "p", 2, rv=rv0).json()  # changes nothing
        no_rv = s.put_scale("podcliquescalinggroups", "p", 5)  # last writer wins
        after = s.http.get(s.url("podcliquescalinggroups", "p")).json()
        return {
            "scale_keys": sorted(scale), "meta_keys": sorted(scale["metadata"]),
            "spec": scale["spec"], "api": (scale["apiVersion"], scale["kind"]),
            "same_uid": scale["metadata"]["uid"] == created["metadata"]["uid"],
            "noop_keeps_rv": same["metadata"]["resourceVersion"] == rv0,
            "put_without_rv": (no_rv.status_code, no_rv.json()["spec"]),
            "rv_moved": no_rv.json()["metadata"]["resourceVersion"] != rv0,
            "generation": (created["metadata"]["generation"], after["metadata"]["generation"]),
            "spec_after": after["spec"]["replicas"],
        }  # fmt: skip

    real, fake = both(servers, probe)
    assert fake == real


def test_leases_answer_alike(servers):
    def probe(s: Server) -> dict[str, Any]:
        spec = {"holderIdentity": "a", "leaseDurationSeconds": 3, "leaseTransitions": 0}
        created = s.create("leases", "l", spec)
        again = s.http.post(s.url("leases"), json={"apiVersion": "coordination.k8s.io/v1",
                            "kind": "Lease", "metadata": {"name": "l"}, "spec": spec})  # fmt: skip
        stale = s.http.put(s.url("leases", "l"), json={"apiVersion": "coordination.k8s.io/v1",
                           "kind": "Lease", "metadata": {"name": "l", "resourceVersion": "1"},
                           "spec": spec | {"holderIdentity": "b"}})  # fmt: skip
        return {
            "meta_keys": sorted(k for k in created["metadata"] if k != "managedFields"),
            "spec": created["spec"],
            "again": status_of(again, s.ns),
            "stale": status_of(stale, s.ns),
            "missing": status_of(s.http.get(s.url("leases", "nope")), s.ns),
        }

    real, fake = both(servers, probe)
    assert fake == real


def test_forbidden_answers_alike(servers, kube_env: KubeEnv, tmp_path):
    real, _ = servers
    core = client.CoreV1Api(kube_env.admin_client())
    core.create_namespaced_service_account(real.ns, {"metadata": {"name": "sla-planner"}})
    kc = kube_env.service_account_kubeconfig(real.ns, "sla-planner", tmp_path / "kc")
    token = kc.read_text().split("token: ")[1].split()[0]
    real.create("podcliquescalinggroups", "p", PCSG_SPEC)
    with httpx.Client(base_url=kube_env.server, verify=str(kube_env.ca_file),
                      headers={"Authorization": f"Bearer {token}"}) as sa:  # fmt: skip
        got_real = status_of(Server("sa", sa, real.ns).put_scale("podcliquescalinggroups", "p", 3),
                             real.ns)  # fmt: skip
    # The fake's forbid() stands for a Role that does not grant the verb.
    with FakeKube() as fk, httpx.Client(base_url=fk.url) as http:
        fk.forbid("podcliquescalinggroups/scale", verbs={"update"})
        s = Server("fake", http, real.ns)
        s.create("podcliquescalinggroups", "p", PCSG_SPEC)
        got_fake = status_of(s.put_scale("podcliquescalinggroups", "p", 3), real.ns)
    assert got_fake == got_real
