"""The chart's RBAC is exactly what the planner uses: the actuators and the leader elector run
against the fake API server (real HTTP, official client), every request they make must be
allowed by the rendered Roles, and every verb the Roles grant must have been used."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from support.deploy_manifests import NAMESPACE, RELEASE, by_kind, render_chart
from support.fake_kube import FakeKube

pytest.importorskip("helm_python", reason="test dependency helm-python-sdk is not installed")

from sla_planner.actuators.config import TargetConfig  # noqa: E402
from sla_planner.actuators.factory import build_actuator  # noqa: E402

_PATH = re.compile(
    r"^/apis?/(?:(?P<group>[^/]+)/)?(?P<version>v[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<res>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)
_VERBS = {"PUT": "update", "PATCH": "patch", "POST": "create", "DELETE": "delete"}


@dataclass(frozen=True)
class Access:
    namespace: str
    group: str
    resource: str  # plural, or plural/subresource
    verb: str
    name: str | None


def _access(method: str, path: str) -> Access:
    m = _PATH.match(path.split("?")[0])
    assert m, f"unexpected API path {path}"
    group = "" if path.startswith("/api/") else m["group"]
    resource = f"{m['res']}/{m['sub']}" if m["sub"] else m["res"]
    verb = _VERBS.get(method) or ("get" if m["name"] else "list")
    return Access(m["ns"], group, resource, verb, m["name"])


def _allowed(roles: list[dict], a: Access) -> bool:
    """Kubernetes RBAC: some rule of a Role in the request's namespace matches."""
    for role in roles:
        if role["metadata"]["namespace"] != a.namespace:
            continue
        for r in role["rules"]:
            names = r.get("resourceNames")
            if (
                a.group in r["apiGroups"]
                and a.resource in r["resources"]
                and a.verb in r["verbs"]
                and (not names or a.name in names)
            ):
                return True
    return False


def _granted(roles: list[dict]) -> set[tuple[str, str, str, str]]:
    return {
        (role["metadata"]["namespace"], g, res, v)
        for role in roles
        for r in role["rules"]
        for g in r["apiGroups"]
        for res in r["resources"]
        for v in r["verbs"]
    }


def _bound_roles(docs: list[dict]) -> list[dict]:
    """Roles bound to the planner's ServiceAccount (a Role nobody binds grants nothing)."""
    sa = next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]["name"]
    bound = {
        (b["metadata"]["namespace"], b["roleRef"]["name"])
        for b in by_kind(docs, "RoleBinding")
        if {"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE} in b["subjects"]
    }
    roles = by_kind(docs, "Role")
    assert {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in roles} == bound
    return roles


def _add(kube: FakeKube, kind: str, ns: str, name: str) -> None:
    {
        "PodCliqueScalingGroup": kube.add_pcsg,
        "PodClique": kube.add_podclique,
        "LeaderWorkerSet": kube.add_lws,
        "Deployment": kube.add_deployment,
    }[kind](ns, name, replicas=1)


def _exercise(targets: dict[str, dict], leader: bool) -> list[Access]:
    """Run what the planner does against the cluster; return the requests it made."""
    from kubernetes import client

    from sla_planner.controller.leader import LeaderElector

    with FakeKube(ready_delay_s=0) as kube:
        api = kube.api_client()
        for pool, raw in targets.items():
            t = TargetConfig.model_validate(raw)
            obj = t.observe if t.kind == "MetricsOnly" else t
            if obj is not None:
                _add(kube, obj.kind, obj.namespace, obj.resolved_name())
            act = build_actuator(t, api, pool=pool, sleep=lambda s: None)
            act.status()
            act.scale(3)  # scale up
            act.status()
            act.scale(2)  # and down
        if leader:
            elector = LeaderElector(
                client.CoordinationV1Api(api),
                namespace=NAMESPACE,
                name=RELEASE,
                identity="sla-planner-0",
                clock=kube.clock,
            )
            assert elector.try_acquire_or_renew()  # creates the Lease
            kube.clock.advance(2)
            assert elector.try_acquire_or_renew()  # renews it
            elector.release()
        api.close()
        return [_access(r.method, r.path) for r in kube.requests]


CASES = {
    "grove-pcsg": {
        "prefill": {
            "kind": "PodCliqueScalingGroup",
            "namespace": "llm",
            "podCliqueSet": "llama",
            "replicaIndex": 0,
            "group": "prefill",
        },
        "decode": {"kind": "PodCliqueScalingGroup", "namespace": "llm", "name": "llama-0-decode"},
    },
    "grove-podclique-in-group": {
        "prefill": {
            "kind": "PodClique",
            "namespace": "llm",
            "podCliqueSet": "llama",
            "replicaIndex": 1,
            "group": "prefill",
            "scalingGroupReplicaIndex": 0,
            "clique": "leader",
        },
        "decode": {
            "kind": "PodClique",
            "namespace": "llm",
            "podCliqueSet": "llama",
            "clique": "decode",
        },
    },
    "lws-and-deployment-other-namespaces": {
        "prefill": {"kind": "LeaderWorkerSet", "namespace": "serving", "name": "llama-prefill"},
        "decode": {"kind": "Deployment", "namespace": "serving-b", "name": "decode"},
    },
    "metrics-only": {
        "prefill": {
            "kind": "MetricsOnly",
            "observe": {"kind": "LeaderWorkerSet", "namespace": "llm", "name": "llama-prefill"},
        },
        "decode": {"kind": "MetricsOnly"},
    },
}


@pytest.mark.parametrize("leader", [True, False], ids=["leader-election", "single"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_rbac_is_exactly_what_the_planner_uses(case, leader):
    targets = CASES[case]
    values = {
        "config": {"targets": targets},
        "leaderElection": {"enabled": leader},
        "replicaCount": 2 if leader else 1,
    }
    roles = _bound_roles(render_chart(values))
    used = _exercise(targets, leader)
    assert used, "the planner made no API request"
    denied = [a for a in used if not _allowed(roles, a)]
    assert not denied, f"requests the Roles would forbid (403): {denied}"
    unused = _granted(roles) - {(a.namespace, a.group, a.resource, a.verb) for a in used}
    assert not unused, f"granted but never used (not least privilege): {sorted(unused)}"


def test_roles_name_exactly_the_target_objects_grove_resolves():
    targets = CASES["grove-podclique-in-group"]
    roles = {
        r["metadata"]["name"]: r
        for r in _bound_roles(render_chart({"config": {"targets": targets}}))
    }
    for pool, raw in targets.items():
        want = TargetConfig.model_validate(raw).resolved_name()
        for rule in roles[f"{RELEASE}-{pool}"]["rules"]:
            assert rule["resourceNames"] == [want]
    assert roles[f"{RELEASE}-prefill"]["rules"][0]["resourceNames"] == ["llama-1-prefill-0-leader"]
    lease_rules = roles[f"{RELEASE}-leader-election"]["rules"]
    assert lease_rules == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [RELEASE],
            "verbs": ["get", "update"],
        },
    ]


def test_rbac_check_catches_a_missing_grant():
    # Guard the checker itself: without the /scale rule the planner's PUT must be reported.
    targets = CASES["grove-pcsg"]
    roles = _bound_roles(render_chart({"config": {"targets": targets}}))
    for role in roles:
        role["rules"] = [r for r in role["rules"] if not r["resources"][0].endswith("/scale")]
    used = _exercise(targets, leader=True)
    denied = {(a.resource, a.verb) for a in used if not _allowed(roles, a)}
    assert denied == {
        ("podcliquescalinggroups/scale", "get"),
        ("podcliquescalinggroups/scale", "update"),
    }


def test_a_target_in_another_namespace_gets_its_role_there():
    roles = _bound_roles(
        render_chart({"config": {"targets": CASES["lws-and-deployment-other-namespaces"]}})
    )
    where = {r["metadata"]["name"]: r["metadata"]["namespace"] for r in roles}
    assert where == {
        f"{RELEASE}-prefill": "serving",
        f"{RELEASE}-decode": "serving-b",
        f"{RELEASE}-leader-election": NAMESPACE,
    }


def _fleet_values() -> dict:
    import yaml
    from support.deploy_manifests import EXAMPLES

    return yaml.safe_load((EXAMPLES / "fleet" / "values-fleet.yaml").read_text())


def _fleet_targets(values: dict) -> dict[str, dict]:
    return {
        f"{d['name']}-{v['name']}-{pool}": t
        for d in values["fleetConfig"]["deployments"]
        for v in d["variants"]
        for pool, t in v["targets"].items()
    }


def test_fleet_rbac_is_exactly_what_the_fleet_controller_uses():
    """A fleet: one Role per pool of every variant of every deployment, each naming its object;
    every request the planner makes is allowed and every grant is used."""
    values = _fleet_values()
    targets = _fleet_targets(values)
    assert len(targets) == 6
    roles = _bound_roles(render_chart(values))
    used = _exercise(targets, leader=True)
    denied = [a for a in used if not _allowed(roles, a)]
    assert not denied, f"requests the Roles would forbid (403): {denied}"
    unused = _granted(roles) - {(a.namespace, a.group, a.resource, a.verb) for a in used}
    assert not unused, f"granted but never used (not least privilege): {sorted(unused)}"
    names = {r["metadata"]["name"]: r for r in roles}
    for key, raw in targets.items():
        role = names[f"{RELEASE}-{key}"]
        want = TargetConfig.model_validate(raw).resolved_name()
        assert all(rule["resourceNames"] == [want] for rule in role["rules"])
        labels = role["metadata"]["labels"]
        assert key == "-".join(
            labels[f"sla-planner.io/{k}"] for k in ("deployment", "variant", "pool")
        )
    assert f"{RELEASE}-leader-election" in names


def test_a_fleet_variant_without_targets_is_refused_naming_it():
    import helm_python as helm

    values = _fleet_values()
    del values["fleetConfig"]["deployments"][1]["variants"][1]["targets"]
    with pytest.raises(helm.HelmError, match=r"fleetConfig.deployments.code.variants.h100.targets.prefill is required"):  # fmt: skip
        render_chart(values)


def _exercise_drain(targets: dict[str, dict]) -> list[Access]:
    """A drain's requests on each pool's pods: read them, mark one, unmark it, and what the
    kind does right before lowering (a PodClique's drained pods are deleted)."""
    from sla_planner.actuators.factory import build_replica_pods

    with FakeKube(ready_delay_s=0) as kube:
        api = kube.api_client()
        for raw in targets.values():
            t = TargetConfig.model_validate(raw)
            pods = build_replica_pods(t, api, serving_label="sla-planner.io/serving")
            if pods is None:
                continue
            _add(kube, t.kind, t.namespace, t.resolved_name())
            plural = {"PodCliqueScalingGroup": "podcliquescalinggroups", "PodClique": "podcliques",
                      "LeaderWorkerSet": "leaderworkersets", "Deployment": "deployments"}[t.kind]  # fmt: skip
            kube.pods.enable(plural, t.namespace, t.resolved_name())
            (replica,) = pods.replicas()[0]
            pods.mark(replica, 1.0, None)
            pods.unmark(replica, None)
            pods.remove([replica], None)
        api.close()
        return [_access(r.method, r.path) for r in kube.requests]


@pytest.mark.parametrize("kind", ["PodCliqueScalingGroup", "PodClique", "LeaderWorkerSet", "Deployment"])  # fmt: skip
def test_drain_rbac_is_exactly_what_a_drain_uses(kind):
    targets = {"prefill": {"kind": kind, "namespace": "llm", "name": "pre"},
               "decode": {"kind": "MetricsOnly"}}  # fmt: skip
    single = {"leaderElection": {"enabled": False}, "replicaCount": 1}
    plain = _bound_roles(render_chart({"config": {"targets": targets}, **single}))
    assert not [r for role in plain for r in role["rules"] if "pods" in r["resources"]]
    values = {"config": {"targets": targets, "metrics": {"drain": {}}}, **single}  # {}: still on
    roles = _bound_roles(render_chart(values))
    used = _exercise(targets, leader=False) + _exercise_drain(targets)
    denied = [a for a in used if not _allowed(roles, a)]
    assert not denied, f"requests the Roles would forbid (403): {denied}"
    unused = _granted(roles) - {(a.namespace, a.group, a.resource, a.verb) for a in used}
    assert not unused, f"granted but never used (not least privilege): {sorted(unused)}"
    pod_verbs = {a.verb for a in used if a.resource == "pods"}
    assert pod_verbs == ({"list", "patch", "delete"} if kind == "PodClique" else {"list", "patch"})


def test_fleet_drain_rbac_follows_each_deployments_drain():
    values = _fleet_values()
    chat = next(d for d in values["fleetConfig"]["deployments"] if d["name"] == "chat")
    chat["demand"]["prometheus"]["drain"] = {"drain_timeout_s": 120}
    with_pods = {
        r["metadata"]["name"]
        for r in _bound_roles(render_chart(values))
        if any("pods" in rule["resources"] for rule in r["rules"])
    }
    assert with_pods and all(name.startswith(f"{RELEASE}-chat-") for name in with_pods)
