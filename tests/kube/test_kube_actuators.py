"""Each actuator against the real kube-apiserver: it scales a real object through `/scale` with
a ServiceAccount token that holds exactly the RBAC the README lists; a real concurrent writer
makes its PUT conflict (409) and it re-reads; a deleted target and a CRD that is not installed
give the documented errors. The audit log shows every write and who made it."""

from __future__ import annotations

import time

import pytest
from kubernetes import client
from support import kube_objects as ko
from support.kube_env import KubeEnv, wait_for

from sla_planner.actuators.config import TargetConfig
from sla_planner.actuators.errors import KubeActuatorError
from sla_planner.actuators.factory import build_actuator

pytestmark = [pytest.mark.kube, pytest.mark.slow]

KINDS = ["PodCliqueScalingGroup", "PodClique", "LeaderWorkerSet", "Deployment"]
SA = "planner"


def planner_rbac(api: client.ApiClient, ns: str, kind: str) -> None:
    """README "Actuators": get on <plural>, get + update on <plural>/scale. Nothing else."""
    group, _, plural = ko.KINDS[kind]
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(ns, {"metadata": {"name": SA}})
    rbac.create_namespaced_role(ns, {
        "metadata": {"name": SA},
        "rules": [{"apiGroups": [group], "resources": [plural], "verbs": ["get"]},
                  {"apiGroups": [group], "resources": [f"{plural}/scale"],
                   "verbs": ["get", "update"]}],
    })  # fmt: skip
    rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": SA},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SA},
        "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": ns}],
    })  # fmt: skip


def actuator(env: KubeEnv, ns: str, kind: str, name: str, tmp_path, retries: int = 3):
    kc = env.service_account_kubeconfig(ns, SA, tmp_path / "planner.kubeconfig")
    target = TargetConfig(kind=kind, namespace=ns, name=name, conflict_retries=retries)
    return build_actuator(target, env.client_for(kc), pool="decode", sleep=lambda _s: None)


def sa_user(ns: str) -> str:
    return f"system:serviceaccount:{ns}:{SA}"


@pytest.mark.parametrize("kind", KINDS)
def test_scales_a_real_object_through_the_scale_subresource(
    kube_env, kube_ns, admin, tmp_path, kind
):
    ko.create(admin, kind, kube_ns, "llama-decode", replicas=1)
    planner_rbac(admin, kube_ns, kind)
    act = actuator(kube_env, kube_ns, kind, "llama-decode", tmp_path)
    t0 = time.time() - 1
    act.scale(3)
    assert ko.spec_replicas(admin, kind, kube_ns, "llama-decode") == 3
    act.scale(3)  # already there: nothing to write
    writes = [e for e in kube_env.audit(namespace=kube_ns, since=t0) if e.user == sa_user(kube_ns)]
    _, _, plural = ko.KINDS[kind]
    assert {(e.verb, e.resource, e.subresource) for e in writes} == {("update", plural, "scale")}
    # One write lands. The Deployment and LWS controllers are still publishing their first
    # status: each status write moves the resourceVersion, so a PUT may conflict (409) and be
    # re-read first. No controller writes a Grove object here: exactly one PUT.
    codes = [e.code for e in writes]
    assert codes[-1] == 200 and set(codes[:-1]) <= {409} and len(codes) <= 4, codes
    if kind.startswith("PodClique"):
        assert codes == [200], codes
    assert act.status().desired == 3


@pytest.mark.parametrize("kind", ["PodCliqueScalingGroup", "PodClique"])
def test_grove_ready_counts_come_from_the_status_grove_publishes(
    kube_ns, kube_env, admin, tmp_path, kind
):
    ko.create(admin, kind, kube_ns, "llama-0-decode", replicas=3)
    planner_rbac(admin, kube_ns, kind)
    act = actuator(kube_env, kube_ns, kind, "llama-0-decode", tmp_path)
    before = act.status()
    assert (before.desired, before.ready, before.observed_generation_current) == (3, 0, False)
    ko.write_grove_status(admin, kind, kube_ns, "llama-0-decode", ready=2)
    after = act.status()
    assert (after.desired, after.ready) == (3, 2)
    scale = client.CustomObjectsApi(admin).get_namespaced_custom_object_scale(
        *ko.KINDS[kind][:2], kube_ns, ko.KINDS[kind][2], "llama-0-decode")  # fmt: skip
    assert scale["status"] == {
        "replicas": 3,
        "selector": "app.kubernetes.io/part-of=llama-0-decode",
    }


@pytest.mark.parametrize("kind", ["Deployment", "LeaderWorkerSet"])
def test_ready_follows_kwok_pods_turning_ready(kube_env, kube_ns, admin, tmp_path, kind):
    """The Deployment controller and the LWS controller count pods that KWOK turns Ready 4 s
    after they start: the planner's startup delay, for real."""
    ko.create(admin, kind, kube_ns, "router", replicas=1, delay_s=4)
    planner_rbac(admin, kube_ns, kind)
    act = actuator(kube_env, kube_ns, kind, "router", tmp_path)
    wait_for(lambda: act.status().ready == 1, 60, "the first pod Ready")
    act.scale(3)
    t0 = time.monotonic()
    mid = act.status()
    assert (mid.desired, mid.ready) == (3, 1)  # the new pods are starting (KWOK's delay)
    wait_for(lambda: act.status().ready == 3, 60, "three replicas Ready")
    assert time.monotonic() - t0 >= 3.0  # not before KWOK's 4 s readiness delay


@pytest.mark.parametrize("kind", KINDS)
def test_real_concurrent_writer_conflicts_and_the_actuator_rereads(
    kube_env, kube_ns, admin, tmp_path, kind
):
    ko.create(admin, kind, kube_ns, "llama-decode", replicas=1)
    planner_rbac(admin, kube_ns, kind)
    act = actuator(kube_env, kube_ns, kind, "llama-decode", tmp_path)
    if kind in ("Deployment", "LeaderWorkerSet"):  # its controller done writing status
        wait_for(lambda: act.status().ready == 1, 60, "the controller settled")
        time.sleep(1.0)
    races = [0]

    def other_writer_between_read_and_write() -> float:
        if races[0] < 2:  # another client updates the object after each of the first 2 reads
            races[0] += 1
            ko.touch(admin, kind, kube_ns, "llama-decode", f"w{races[0]}")
        return 10.0

    t0 = time.time() - 1
    act.scale(4, guard=other_writer_between_read_and_write)
    assert ko.spec_replicas(admin, kind, kube_ns, "llama-decode") == 4
    mine = [
        e.code for e in kube_env.audit(namespace=kube_ns, since=t0) if e.user == sa_user(kube_ns)
    ]
    assert mine == [409, 409, 200], mine  # two real conflicts, then the re-read write lands


def test_conflicts_past_the_retries_hold_and_change_nothing(kube_env, kube_ns, admin, tmp_path):
    ko.create(admin, "LeaderWorkerSet", kube_ns, "llama-decode", replicas=2)
    planner_rbac(admin, kube_ns, "LeaderWorkerSet")
    act = actuator(kube_env, kube_ns, "LeaderWorkerSet", "llama-decode", tmp_path, retries=1)
    n = [0]

    def always_another_writer() -> float:
        n[0] += 1
        ko.touch(admin, "LeaderWorkerSet", kube_ns, "llama-decode", f"w{n[0]}")
        return 10.0

    with pytest.raises(KubeActuatorError) as err:
        act.scale(5, guard=always_another_writer)
    assert err.value.reason == "conflict" and "after 2 read-and-retry attempts" in str(err.value)
    assert ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, "llama-decode") == 2


@pytest.mark.parametrize("kind", KINDS)
def test_deleted_target_is_not_found_naming_the_object(kube_env, kube_ns, admin, tmp_path, kind):
    ko.create(admin, kind, kube_ns, "llama-decode", replicas=1)
    planner_rbac(admin, kube_ns, kind)
    act = actuator(kube_env, kube_ns, kind, "llama-decode", tmp_path)
    act.scale(2)
    ko.delete(admin, kind, kube_ns, "llama-decode")
    _, _, plural = ko.KINDS[kind]

    def gone() -> KubeActuatorError | None:
        try:
            act.status()
        except KubeActuatorError as exc:
            return exc
        return None  # a Deployment is deleted in the background (finalizers)

    err = wait_for(gone, 30, "the target gone")
    assert err.reason == "not_found" and err.status == 404
    assert "target missing" in str(err) and '"llama-decode" not found' in str(err)
    with pytest.raises(KubeActuatorError) as scale_err:
        act.scale(3)
    assert scale_err.value.reason == "not_found"


def test_crd_not_installed_says_so_and_how_to_fix(kube_env: KubeEnv, kube_ns, admin, tmp_path):
    """A target whose CRD is not installed: the API server has no such route (a plain-text
    404, not a Status); the error names the missing CRD, not a missing object."""
    planner_rbac(admin, kube_ns, "PodClique")
    act = actuator(kube_env, kube_ns, "PodClique", "llama-0-worker", tmp_path)
    kube_env.kubectl("delete", "crd", "podcliques.grove.io", "--wait=true")
    try:
        wait_for(lambda: not kube_env.kubectl("get", "--raw", "/apis/grove.io/v1alpha1",
                                              check=False).stdout.count('"podcliques"'),
                 30, "podcliques gone from discovery")  # fmt: skip
        for call in (act.status, lambda: act.scale(2)):
            with pytest.raises(KubeActuatorError) as err:
                call()
            msg = str(err.value)
            assert err.value.reason == "not_found", msg
            assert "CustomResourceDefinition" in msg and "podcliques" in msg, msg
            assert "grove.io" in msg and "install" in msg.lower(), msg
    finally:
        kube_env.install_crds()
