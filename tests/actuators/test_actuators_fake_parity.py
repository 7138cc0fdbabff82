"""The fake API server answers as the real kube-apiserver does, on each point where they were
found to differ (tests/kube/test_kube_fake_parity.py runs the same probes on the real one):

1. a resource type the server does not serve (CRD not installed) is a plain-text
   "404 page not found", not a Status; a served type without that subresource is a Status
   "the server could not find the requested resource";
2. a PUT that changes nothing (same replicas) keeps the resourceVersion;
3. negative replicas through /scale: 422 with the server's own message and a `causes` entry
   (a CRD's OpenAPI check for custom resources, Scale validation for a Deployment);
4. a body naming another object is 400 before any resourceVersion check;
5. a Lease has no metadata.generation;
6. a controller publishing status (a replica turning ready) moves the resourceVersion, so a
   scale PUT carrying the version read before that conflicts;
7. a resourceVersion that is not a number is a 500, not a 409.

Also: the actuators name a CRD that is not installed, not a missing object.
"""

from __future__ import annotations

import httpx
import pytest
from support.fake_kube import DEPLOYMENTS, LEASES, PCLQ, PCSG, FakeKube

from sla_planner.actuators.errors import KubeActuatorError
from sla_planner.actuators.grove_podclique import GrovePodCliqueActuator

NS = "llm"


def scale_url(kube: FakeKube, plural: str, name: str) -> str:
    group = {PCSG: "grove.io/v1alpha1", PCLQ: "grove.io/v1alpha1", DEPLOYMENTS: "apps/v1"}[plural]
    return f"{kube.url}/apis/{group}/namespaces/{NS}/{plural}/{name}/scale"


def scale_body(name: str, replicas: int, rv: str | None = None) -> dict:
    meta = {"name": name, "namespace": NS} | ({"resourceVersion": rv} if rv else {})
    return {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": meta,
            "spec": {"replicas": replicas}}  # fmt: skip


@pytest.fixture
def kube():
    with FakeKube(ready_delay_s=10.0) as k:
        yield k


def test_type_not_served_is_a_plain_text_404(kube):
    r = httpx.get(f"{kube.url}/apis/grove.io/v1alpha1/namespaces/{NS}/podgangs/x")
    assert r.status_code == 404 and r.text == "404 page not found\n"
    assert r.headers["content-type"].startswith("text/plain")
    kube.add_lease(NS, "l", holder="a")
    r = httpx.get(f"{kube.url}/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/l/scale")
    assert r.status_code == 404 and r.json()["message"] == (
        "the server could not find the requested resource"
    )


def test_actuator_names_the_crd_that_is_not_installed(kube):
    kube.add_podclique(NS, "llama-0-worker", replicas=1)
    kube.unserve(PCLQ)
    act = GrovePodCliqueActuator(kube.api_client(), NS, "llama-0-worker")
    with pytest.raises(KubeActuatorError) as err:
        act.scale(2)
    msg = str(err.value)
    assert err.value.reason == "not_found" and err.value.status == 404
    assert 'does not serve "podcliques" in API group "grove.io"' in msg
    assert "CustomResourceDefinition is not installed" in msg and "Grove" in msg
    assert "create the object" not in msg  # not a missing object


def test_put_that_changes_nothing_keeps_the_resource_version(kube):
    kube.add_pcsg(NS, "p", replicas=2)
    rv = kube.resource_version(PCSG, NS, "p")
    r = httpx.put(scale_url(kube, PCSG, "p"), json=scale_body("p", 2, rv))
    assert r.status_code == 200 and r.json()["metadata"]["resourceVersion"] == rv
    assert kube.resource_version(PCSG, NS, "p") == rv


@pytest.mark.parametrize(
    ("plural", "message", "field", "kind", "group"),
    [
        (PCSG, 'PodCliqueScalingGroup.grove.io "p" is invalid: .spec.replicas: Invalid value: '
         "-1: should be a non-negative integer", ".spec.replicas", "PodCliqueScalingGroup",
         "grove.io"),
        (DEPLOYMENTS, 'Scale.autoscaling "p" is invalid: spec.replicas: Invalid value: -1: must '
         "be greater than or equal to 0", "spec.replicas", "Scale", "autoscaling"),
    ],
)  # fmt: skip
def test_negative_replicas_is_the_servers_422(kube, plural, message, field, kind, group):
    (kube.add_pcsg if plural == PCSG else kube.add_deployment)(NS, "p", replicas=1)
    body = httpx.put(scale_url(kube, plural, "p"), json=scale_body("p", -1)).json()
    assert (body["code"], body["reason"], body["message"]) == (422, "Invalid", message)
    assert body["details"]["kind"] == kind and body["details"]["group"] == group
    assert body["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": message.split(": ", 2)[2], "field": field}
    ]


def test_wrong_name_is_400_before_the_resource_version_check(kube):
    kube.add_pcsg(NS, "p", replicas=1)
    r = httpx.put(scale_url(kube, PCSG, "p"), json=scale_body("other", 3, rv="1"))
    assert r.status_code == 400 and "does not match the name on the URL" in r.json()["message"]


def test_lease_has_no_generation(kube):
    kube.add_lease(NS, "l", holder="a")
    assert "generation" not in kube.get(LEASES, NS, "l")["metadata"]


def test_status_published_by_the_controller_moves_the_resource_version(kube):
    kube.add_pcsg(NS, "p", replicas=1)
    rv = httpx.put(scale_url(kube, PCSG, "p"), json=scale_body("p", 3)).json()["metadata"][
        "resourceVersion"
    ]
    kube.clock.advance(10.0)  # the new replicas turn ready: the controller writes status
    assert kube.get(PCSG, NS, "p")["status"]["availableReplicas"] == 3
    assert kube.resource_version(PCSG, NS, "p") != rv
    r = httpx.put(scale_url(kube, PCSG, "p"), json=scale_body("p", 4, rv))
    assert r.status_code == 409


def test_resource_version_that_is_not_a_number_is_500(kube):
    kube.add_pcsg(NS, "p", replicas=1)
    r = httpx.put(scale_url(kube, PCSG, "p"), json=scale_body("p", 3, rv="abc"))
    assert r.status_code == 500 and "invalid syntax" in r.json()["message"]
