"""Each kind's actuator over real HTTP, through the official client, against the fake API."""

from __future__ import annotations

from sla_planner.actuators.base import Actuator, ReplicaStatus

NS = "llm"  # the namespace make_actuator uses


def test_status_reads_desired_and_ready_from_the_kinds_status_field(kind, make_actuator, fake_kube):
    actuator, name = make_actuator(replicas=3, ready=1)
    assert isinstance(actuator, Actuator)
    assert actuator.status() == ReplicaStatus(desired=3, ready=1, observed_generation_current=True)
    # the number came from the field the real controller publishes
    assert fake_kube.get(kind.plural, NS, name)["status"].get(kind.ready_field) == 1
    assert kind.plural in actuator.description or kind.actuator.kind in actuator.description
    assert f"{NS}/{name}" in actuator.description


def test_scale_up_sets_spec_replicas_and_ready_follows_after_the_startup_delay(
    kind, make_actuator, fake_kube
):
    actuator, name = make_actuator(replicas=2)
    actuator.scale(5)
    assert fake_kube.spec_replicas(kind.plural, NS, name) == 5
    assert actuator.status() == ReplicaStatus(desired=5, ready=2)
    fake_kube.clock.advance(fake_kube.ready_delay_s - 1)
    assert actuator.status().ready == 2
    fake_kube.clock.advance(1)
    assert actuator.status() == ReplicaStatus(desired=5, ready=5)
    # exactly one write: a PUT of the scale subresource carrying the version it read
    writes = fake_kube.writes()
    assert [(w.method, w.path.rsplit("/", 1)[-1]) for w in writes] == [("PUT", "scale")]
    assert writes[0].body["spec"] == {"replicas": 5}
    assert writes[0].body["metadata"]["resourceVersion"]


def test_scale_down_is_immediate(kind, make_actuator):
    actuator, _ = make_actuator(replicas=4)
    actuator.scale(1)
    assert actuator.status() == ReplicaStatus(desired=1, ready=1)
    actuator.scale(0)
    assert actuator.status() == ReplicaStatus(desired=0, ready=0)


def test_scale_to_current_value_writes_nothing(kind, make_actuator, fake_kube):
    actuator, name = make_actuator(replicas=3)
    version = fake_kube.resource_version(kind.plural, NS, name)
    actuator.scale(3)
    assert fake_kube.writes() == []
    assert fake_kube.resource_version(kind.plural, NS, name) == version


def test_status_reflects_another_writer(kind, make_actuator, fake_kube):
    actuator, name = make_actuator(replicas=2)
    fake_kube.set_replicas(kind.plural, NS, name, 6)
    assert actuator.status().desired == 6
    actuator.scale(3)
    assert fake_kube.spec_replicas(kind.plural, NS, name) == 3


def test_zero_ready_omitted_by_controller_reads_as_zero(kind, make_actuator, fake_kube):
    # LWS and Deployment omit zero counters (Go omitempty); all kinds must read 0, not fail
    actuator, name = make_actuator(replicas=2, ready=0)
    status = fake_kube.get(kind.plural, NS, name)["status"]
    if kind.id in ("lws", "deploy"):
        assert kind.ready_field not in status
    assert actuator.status() == ReplicaStatus(desired=2, ready=0)


def test_observed_generation_marks_a_spec_the_controller_has_not_seen():
    from sla_planner.actuators.scale_subresource import status_from_object

    fresh = {"metadata": {"generation": 3}, "spec": {"replicas": 4}}
    assert status_from_object(fresh, "readyReplicas") == ReplicaStatus(4, 0, False)
    lagging = fresh | {"status": {"observedGeneration": 2, "readyReplicas": 1}}
    assert status_from_object(lagging, "readyReplicas") == ReplicaStatus(4, 1, False)
    seen = fresh | {"status": {"observedGeneration": 3, "readyReplicas": 4}}
    assert status_from_object(seen, "readyReplicas") == ReplicaStatus(4, 4, True)
    no_generation_field = fresh | {"status": {"readyReplicas": 2}}  # e.g. older LWS
    assert status_from_object(no_generation_field, "readyReplicas").observed_generation_current
