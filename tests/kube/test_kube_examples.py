"""The shipped deploy/examples on the real API server, as shipped (namespace `llm`): every
manifest passes `kubectl apply --dry-run=server` (the server's own schema, strict field
validation and admission, LWS's webhooks included) and is then really applied; every values
file renders with helm v4 into objects the server accepts. And `kubectl` shows what the README
says it shows for the planner's objects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support import kube_objects as ko
from support.kube_env import KubeEnv, wait_for
from support.paths import REPO

pytestmark = [pytest.mark.kube, pytest.mark.slow]

EXAMPLES = REPO / "deploy" / "examples"
CHART = REPO / "deploy" / "helm" / "sla-planner"
MANIFESTS = sorted(p for p in EXAMPLES.rglob("*.yaml") if not p.name.startswith("values-")
                   and p.name != "prometheus-adapter-values.yaml")  # fmt: skip
VALUES = sorted(EXAMPLES.rglob("values-*.yaml"))
NS = "llm"  # what the examples name


@pytest.fixture(scope="module")
def llm_ns(kube_env: KubeEnv) -> Iterator[str]:
    kube_env.delete_namespace(NS)
    wait_for(lambda: kube_env.kubectl("get", "ns", NS, check=False).returncode != 0, 120,
             "a previous llm namespace gone")  # fmt: skip
    kube_env.kubectl("create", "namespace", NS)
    yield NS
    kube_env.delete_namespace(NS)


def without_service_monitors(rendered: str) -> str:
    """The Prometheus Operator's CRD is not installed here (see tests/kube/crds/PROVENANCE.md)."""
    docs = [d for d in yaml.safe_load_all(rendered) if d and d.get("kind") != "ServiceMonitor"]
    return yaml.safe_dump_all(docs)


@pytest.mark.parametrize(
    "manifest", MANIFESTS, ids=[str(p.relative_to(EXAMPLES)) for p in MANIFESTS]
)
def test_shipped_manifest_applies_as_shipped(kube_env: KubeEnv, llm_ns, manifest: Path):
    dry = kube_env.kubectl("apply", "--dry-run=server", "-f", str(manifest), check=False)
    assert dry.returncode == 0, dry.stderr
    kube_env.kubectl("apply", "-f", str(manifest))
    for doc in yaml.safe_load_all(manifest.read_text()):
        if doc:
            got = kube_env.kubectl("get", doc["kind"], doc["metadata"]["name"], "-n", NS,
                                   "-o", "jsonpath={.metadata.uid}")  # fmt: skip
            assert got.stdout, doc["metadata"]["name"]


def test_shipped_leaderworkersets_are_reconciled_by_the_lws_controller(kube_env: KubeEnv, llm_ns):
    kube_env.kubectl("apply", "-f", str(EXAMPLES / "lws" / "leaderworkersets.yaml"))
    for doc in yaml.safe_load_all((EXAMPLES / "lws" / "leaderworkersets.yaml").read_text()):
        name = doc["metadata"]["name"]
        wait_for(lambda n=name: kube_env.kubectl("get", "statefulset", n, "-n", NS,
                                                 check=False).returncode == 0,
                 60, f"the leader StatefulSet of {name}")  # fmt: skip


@pytest.mark.parametrize("values", VALUES, ids=[str(p.relative_to(EXAMPLES)) for p in VALUES])
def test_shipped_values_render_into_objects_the_server_accepts(kube_env: KubeEnv, llm_ns, values):
    rendered = kube_env.helm("template", "sla-planner", str(CHART), "-n", NS, "-f", str(values))
    dry = kube_env.kubectl("apply", "--dry-run=server", "-n", NS, "-f", "-",
                           stdin=without_service_monitors(rendered), check=False)  # fmt: skip
    assert dry.returncode == 0, dry.stderr


def test_kubectl_shows_the_planners_objects(kube_env: KubeEnv, kube_ns, admin):
    """README "In a real cluster": `kubectl get/scale pcsg`, `get pclq`, `get lws`, `get lease`."""
    ko.create(admin, "PodCliqueScalingGroup", kube_ns, "llama-0-prefill", replicas=2)
    ko.write_grove_status(admin, "PodCliqueScalingGroup", kube_ns, "llama-0-prefill", ready=1)
    ko.create(admin, "PodClique", kube_ns, "llama-0-decode", replicas=2)
    k = kube_env.kubectl
    table = k("get", "pcsg", "llama-0-prefill", "-n", kube_ns).stdout.splitlines()
    cols = dict(zip(table[0].split(), table[1].split(), strict=False))  # MINBREACHED: wide only
    assert (cols["REPLICAS"], cols["AVAILABLE"]) == ("2", "1"), table
    assert "scaled" in k("scale", "pcsg", "llama-0-prefill", "--replicas=3", "-n", kube_ns).stdout
    assert ko.spec_replicas(admin, "PodCliqueScalingGroup", kube_ns, "llama-0-prefill") == 3
    k("scale", "pclq", "llama-0-decode", "--replicas=4", "-n", kube_ns)
    assert ko.spec_replicas(admin, "PodClique", kube_ns, "llama-0-decode") == 4
    ko.create(admin, "LeaderWorkerSet", kube_ns, "llama-decode", replicas=1)
    k("scale", "lws", "llama-decode", "--replicas=2", "-n", kube_ns)
    wait_for(
        lambda: (
            k(
                "get",
                "lws",
                "llama-decode",
                "-n",
                kube_ns,
                "-o",
                "jsonpath={.status.readyReplicas}",
            ).stdout
            == "2"
        ),
        60,
        "two LWS groups",
    )
    k(
        "create",
        "-n",
        kube_ns,
        "-f",
        "-",
        stdin=yaml.safe_dump(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "sla-planner"},
                "spec": {"holderIdentity": "sla-planner-7d9f-abcde", "leaseDurationSeconds": 15},
            }
        ),
    )
    lease = k("get", "lease", "sla-planner", "-n", kube_ns).stdout.splitlines()
    assert (
        lease[0].split()[:2] == ["NAME", "HOLDER"]
        and lease[1].split()[1] == "sla-planner-7d9f-abcde"
    )
