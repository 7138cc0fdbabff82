"""The fake API server's own contract, which the actuator and leader-election tests rely on."""

from __future__ import annotations

import datetime as dt

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support.fake_kube import LEASES, PCSG, FakeClock, FakeKube

NS = "llm"


def _lease(name: str, holder: str, rv: str | None = None) -> client.V1Lease:
    now = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    return client.V1Lease(
        metadata=client.V1ObjectMeta(name=name, namespace=NS, resource_version=rv),
        spec=client.V1LeaseSpec(
            holder_identity=holder, lease_duration_seconds=15, acquire_time=now, renew_time=now
        ),
    )


def test_lease_create_read_and_already_exists(fake_kube, api_client):
    coord = client.CoordinationV1Api(api_client)
    created = coord.create_namespaced_lease(NS, _lease("sla-planner", "pod-a"))
    assert created.spec.holder_identity == "pod-a"
    assert created.spec.renew_time == dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    read = coord.read_namespaced_lease("sla-planner", NS)
    assert read.metadata.resource_version == created.metadata.resource_version
    with pytest.raises(ApiException) as info:
        coord.create_namespaced_lease(NS, _lease("sla-planner", "pod-b"))
    assert info.value.status == 409 and "AlreadyExists" in info.value.body
    assert coord.read_namespaced_lease("sla-planner", NS).spec.holder_identity == "pod-a"


def test_lease_update_with_stale_resource_version_conflicts(fake_kube, api_client):
    coord = client.CoordinationV1Api(api_client)
    a_view = coord.create_namespaced_lease(NS, _lease("sla-planner", "pod-a"))
    b_view = coord.read_namespaced_lease("sla-planner", NS)
    # pod-a renews first: the version moves on
    a_view.spec.renew_time = dt.datetime(2025, 1, 1, 12, 0, 5, tzinfo=dt.timezone.utc)
    renewed = coord.replace_namespaced_lease("sla-planner", NS, a_view)
    assert int(renewed.metadata.resource_version) > int(b_view.metadata.resource_version)
    # pod-b tries to take over with what it read before: 409, nothing changes
    b_view.spec.holder_identity = "pod-b"
    with pytest.raises(ApiException) as info:
        coord.replace_namespaced_lease("sla-planner", NS, b_view)
    assert info.value.status == 409 and '"reason": "Conflict"' in info.value.body
    assert fake_kube.get(LEASES, NS, "sla-planner")["spec"]["holderIdentity"] == "pod-a"
    # with the fresh version it succeeds
    fresh = coord.read_namespaced_lease("sla-planner", NS)
    fresh.spec.holder_identity = "pod-b"
    assert coord.replace_namespaced_lease("sla-planner", NS, fresh).spec.holder_identity == "pod-b"


def test_lease_missing_forbidden_and_patch(fake_kube, api_client):
    coord = client.CoordinationV1Api(api_client)
    with pytest.raises(ApiException) as info:
        coord.read_namespaced_lease("absent", NS)
    assert info.value.status == 404
    fake_kube.add_lease(NS, "held", holder="pod-a")
    patched = coord.patch_namespaced_lease("held", NS, {"spec": {"holderIdentity": "pod-c"}})
    assert patched.spec.holder_identity == "pod-c" and patched.spec.lease_duration_seconds == 15
    fake_kube.forbid(LEASES, verbs={"update"})
    lease = coord.read_namespaced_lease("held", NS)
    with pytest.raises(ApiException) as info:
        coord.replace_namespaced_lease("held", NS, lease)
    assert info.value.status == 403 and 'cannot update resource \\"leases\\"' in info.value.body


def test_resource_version_increments_on_every_write_only(fake_kube, api_client):
    fake_kube.add_pcsg(NS, "g", replicas=1)
    co = client.CustomObjectsApi(api_client)
    versions = [int(fake_kube.resource_version(PCSG, NS, "g"))]
    for n in (2, 3):
        co.patch_namespaced_custom_object_scale(
            "grove.io", "v1alpha1", NS, PCSG, "g", {"spec": {"replicas": n}}
        )
        versions.append(int(fake_kube.resource_version(PCSG, NS, "g")))
    co.get_namespaced_custom_object("grove.io", "v1alpha1", NS, PCSG, "g")
    versions.append(int(fake_kube.resource_version(PCSG, NS, "g")))
    assert versions[0] < versions[1] < versions[2] == versions[3]
    assert fake_kube.get(PCSG, NS, "g")["metadata"]["generation"] == 3


def test_strategic_merge_patch_is_refused_on_custom_resources(fake_kube, api_client):
    fake_kube.add_pcsg(NS, "g", replicas=1)
    co = client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as info:
        co.patch_namespaced_custom_object_scale(
            "grove.io",
            "v1alpha1",
            NS,
            PCSG,
            "g",
            {"spec": {"replicas": 4}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert info.value.status == 415
    assert fake_kube.spec_replicas(PCSG, NS, "g") == 1


def test_readiness_follows_the_injected_clock():
    clock = FakeClock(100.0)
    with FakeKube(clock=clock, ready_delay_s=30) as kube:
        kube.add_pcsg(NS, "g", replicas=1)
        kube.set_replicas(PCSG, NS, "g", 3)
        assert kube.get(PCSG, NS, "g")["status"]["availableReplicas"] == 1
        clock.advance(29.5)
        assert kube.get(PCSG, NS, "g")["status"]["availableReplicas"] == 1
        clock.advance(0.5)
        assert kube.get(PCSG, NS, "g")["status"]["availableReplicas"] == 3
        kube.set_ready(PCSG, NS, "g", 2)
        assert kube.get(PCSG, NS, "g")["status"]["availableReplicas"] == 2


def test_fail_next_counts_and_request_log(fake_kube, api_client):
    fake_kube.add_pcsg(NS, "g")
    co = client.CustomObjectsApi(api_client)
    fake_kube.fail_next(2, status=500)
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            co.get_namespaced_custom_object("grove.io", "v1alpha1", NS, PCSG, "g")
        assert info.value.status == 500
    co.get_namespaced_custom_object("grove.io", "v1alpha1", NS, PCSG, "g")
    assert [r.status for r in fake_kube.requests] == [500, 500, 200]
    assert fake_kube.writes() == []


def test_stop_refuses_connections_and_start_reuses_the_port(fake_kube):
    url = fake_kube.url
    fake_kube.stop()
    assert not fake_kube.running
    fake_kube.start()
    assert fake_kube.url == url
