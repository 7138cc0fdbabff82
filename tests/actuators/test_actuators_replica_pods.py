"""The pods behind each target kind, grouped into replicas, and the drain's marks on them: pure
parts by hand-made tables; reads and writes against the fake API server (its pods follow each
controller's removal rules, tests/support/fake_pods.py; the real ReplicaSet and LWS controllers
are checked in tests/kube/test_kube_drain.py)."""

from __future__ import annotations

import pytest
from support.fake_kube import DEPLOYMENTS, LWS, PCLQ, PCSG

from sla_planner.actuators.base import WriteRefused
from sla_planner.actuators.deployment import DeploymentActuator, DeploymentPods
from sla_planner.actuators.errors import KubeActuatorError
from sla_planner.actuators.grove_podclique import GrovePodCliqueActuator, PodCliquePods
from sla_planner.actuators.grove_scaling_group import ScalingGroupPods
from sla_planner.actuators.leaderworkerset import LeaderWorkerSetActuator, LeaderWorkerSetPods
from sla_planner.actuators.replica_pods import (
    COST_WAS,
    DELETION_COST,
    DRAIN_SINCE,
    LOWEST_COST,
    PodView,
    by_index,
    class_rank,
    label_selector,
)

NS = "llm"
SERVING = "sla-planner.io/serving"


def pod_obj(name="p", *, node="n1", phase="Running", ready=True, labels=None, ann=None, deleting=False):  # fmt: skip
    meta = {"name": name, "labels": labels or {}, "annotations": ann or {}}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    cond = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": meta, "spec": {"nodeName": node}, "status": {"phase": phase, "conditions": cond}}  # fmt: skip


@pytest.mark.parametrize(
    "obj, rank, active",
    [
        (pod_obj(), (1, 2, 1), True),
        (pod_obj(ready=False), (1, 2, 0), True),
        (pod_obj(node="", phase="Pending", ready=False), (0, 0, 0), True),
        (pod_obj(phase="Unknown", ready=False), (1, 1, 0), True),
        (pod_obj(deleting=True), (1, 2, 1), False),  # terminating: its controller counts it out
        (pod_obj(phase="Succeeded", ready=False), (1, 2, 0), False),
    ],
)
def test_pod_classes_follow_the_controllers_first_three_criteria(obj, rank, active):
    p = PodView.of(obj)
    assert class_rank(p) == rank and p.active == active


@pytest.mark.parametrize(
    "selector, text",
    [
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]},
         "tier in (x,y)"),
        ({"matchLabels": {"a": "1"}, "matchExpressions": [
            {"key": "t", "operator": "NotIn", "values": ["z"]}, {"key": "e", "operator": "Exists"},
            {"key": "d", "operator": "DoesNotExist"}]}, "a=1,t notin (z),e,!d"),
        ({}, ""),
    ],
)  # fmt: skip
def test_label_selector(selector, text):
    assert label_selector(selector) == text


def test_groups_by_index_and_marks():
    idx = "leaderworkerset.sigs.k8s.io/group-index"
    pods = [
        PodView.of(pod_obj("l-1", labels={idx: "1"}, ann={DRAIN_SINCE: "50"})),
        PodView.of(pod_obj("l-0", labels={idx: "0"})),
        PodView.of(pod_obj("l-1-1", labels={idx: "1"}, ready=False)),
        PodView.of(pod_obj("stray")),  # no index label: not one of the target's replicas
    ]
    groups = by_index(pods, idx)
    assert [(g.id, g.index, g.rank, [p.name for p in g.pods]) for g in groups] == [
        ("0", 0, (0,), ["l-0"]),
        ("1", 1, (-1,), ["l-1", "l-1-1"]),
    ]
    assert groups[1].ready and groups[1].marked_at == 50.0 and not groups[1].fully_marked
    assert groups[0].marked_at is None


def _deployment(fake_kube, api_client, replicas=3):
    fake_kube.add_deployment(NS, "router", replicas=replicas, ready=replicas)
    names = fake_kube.pods.enable(DEPLOYMENTS, NS, "router")
    return DeploymentPods(api_client, NS, "router", serving_label=SERVING), names


def test_deployment_pods_marked_and_unmarked(fake_kube, api_client):
    pods, names = _deployment(fake_kube, api_client)
    replicas, blocked = pods.replicas()
    assert blocked is None and sorted(r.id for r in replicas) == sorted(names)
    assert all(r.ready and r.rank == (1, 2, 1) for r in replicas)
    # someone else's cost is kept aside and put back
    fake_kube.pods._patch(fake_kube.pods.pods[(NS, names[0])], {"metadata": {"annotations": {DELETION_COST: "7"}}})  # fmt: skip
    first = next(r for r in pods.replicas()[0] if r.id == names[0])
    pods.mark(first, 123.5, None)
    meta = fake_kube.pods.get(NS, names[0])["metadata"]
    assert meta["annotations"] == {
        DRAIN_SINCE: "123.500",
        DELETION_COST: LOWEST_COST,
        COST_WAS: "7",
    }
    assert meta["labels"][SERVING] == "false"
    marked = next(r for r in pods.replicas()[0] if r.id == names[0])
    assert marked.marked_at == 123.5 and marked.fully_marked
    pods.unmark(marked, None)
    meta = fake_kube.pods.get(NS, names[0])["metadata"]
    assert meta["annotations"] == {DELETION_COST: "7"} and meta["labels"][SERVING] == "true"


def test_the_fake_replicaset_removes_the_lowest_cost_pod(fake_kube, api_client):
    pods, names = _deployment(fake_kube, api_client)
    middle = next(r for r in pods.replicas()[0] if r.id == names[1])
    pods.mark(middle, 1.0, None)
    DeploymentActuator(api_client, NS, "router").scale(2)
    assert sorted(fake_kube.pods.names(DEPLOYMENTS, NS, "router")) == sorted([names[0], names[2]])


def test_a_rollout_blocks_choosing(fake_kube, api_client):
    pods, _ = _deployment(fake_kube, api_client, replicas=2)
    fake_kube.pods.set_template_hash(DEPLOYMENTS, NS, "router", "h2")
    fake_kube.set_replicas(DEPLOYMENTS, NS, "router", 3)
    assert "rollout" in (pods.replicas()[1] or "")


def test_lws_and_pcsg_groups(fake_kube, api_client):
    fake_kube.add_lws(NS, "dec", replicas=3, size=2, ready=3)
    fake_kube.pods.enable(LWS, NS, "dec")
    groups, _ = LeaderWorkerSetPods(api_client, NS, "dec").replicas()
    assert [(g.id, sorted(p.name for p in g.pods)) for g in groups] == [
        ("0", ["dec-0", "dec-0-1"]), ("1", ["dec-1", "dec-1-1"]), ("2", ["dec-2", "dec-2-1"])]  # fmt: skip
    LeaderWorkerSetActuator(api_client, NS, "dec").scale(1)
    assert fake_kube.pods.names(LWS, NS, "dec") == ["dec-0", "dec-0-1"]  # the highest go
    fake_kube.add_pcsg(NS, "pre", replicas=2, ready=2)
    fake_kube.pods.enable(PCSG, NS, "pre")
    groups, _ = ScalingGroupPods(api_client, NS, "pre").replicas()
    assert [(g.id, len(g.pods)) for g in groups] == [("0", 2), ("1", 2)]  # leader + worker


def test_podclique_drained_pods_are_deleted_then_replicas_lowered(fake_kube, api_client):
    fake_kube.add_podclique(NS, "w", replicas=3, ready=3)
    names = fake_kube.pods.enable(PCLQ, NS, "w")
    pods = PodCliquePods(api_client, NS, "w")
    oldest = next(r for r in pods.replicas()[0] if r.id == names[0])
    pods.remove([oldest], None)  # Grove would have removed the newest, names[2]
    GrovePodCliqueActuator(api_client, NS, "w").scale(2)
    assert sorted(fake_kube.pods.names(PCLQ, NS, "w")) == sorted(names[1:])


def test_pods_forbidden_names_the_rule(fake_kube, api_client):
    pods, _ = _deployment(fake_kube, api_client)
    fake_kube.forbid("pods", {"list"})
    with pytest.raises(KubeActuatorError) as info:
        pods.replicas()
    assert info.value.reason == "forbidden"
    assert "list" in str(info.value) and "pods" in str(info.value)


def test_a_refused_guard_writes_nothing(fake_kube, api_client):
    pods, names = _deployment(fake_kube, api_client)
    replica = pods.replicas()[0][0]
    fake_kube.clear_log()

    def refuse() -> float:
        raise WriteRefused("write refused: not the leader")

    with pytest.raises(WriteRefused):
        pods.mark(replica, 1.0, refuse)
    assert fake_kube.writes() == []


def test_a_serving_label_the_deployment_selects_on_is_refused(fake_kube, api_client):
    fake_kube.add_deployment(NS, "router", replicas=1)
    dep = fake_kube._objects[(DEPLOYMENTS, NS, "router")].obj
    dep["spec"]["selector"]["matchLabels"][SERVING] = "true"  # the pod would be orphaned
    with pytest.raises(KubeActuatorError) as info:
        DeploymentPods(api_client, NS, "router", serving_label=SERVING).replicas()
    assert info.value.reason == "invalid" and "orphan" in str(info.value)
    assert DeploymentPods(api_client, NS, "router").replicas()[0] == []  # no label: fine
