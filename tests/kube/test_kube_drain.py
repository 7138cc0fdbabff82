"""Drain-aware scale-downs on the real control plane: the planner's controller (`sla-planner
run`'s wiring) with a ServiceAccount token holding the RBAC the chart grants for a drain
(get the target, get/update its /scale, list/patch pods), KWOK pods, the real ReplicaSet and
LeaderWorkerSet controllers, and the engines' in-flight gauges scraped by a real Prometheus.

- Deployment: the planner gives the idle pod (the older one, which the ReplicaSet would keep)
  the lowest `controller.kubernetes.io/pod-deletion-cost`, waits until it has read idle for
  `settle_s`, lowers replicas, and the ReplicaSet controller removes exactly that pod; the
  busy, newer one keeps running.
- LeaderWorkerSet: lowering 3 -> 1 removes groups 2 and 1 whatever their load; the planner
  waits while group 2's leader still holds requests (replicas stay 3), then lowers; group 0
  (idle all along) is the one left.

Every pod patch and scale write is in the audit log, by the planner's ServiceAccount."""

from __future__ import annotations

import time

import pytest
from kubernetes import client
from support import kube_objects as ko
from support.controller_harness import start_runtime, trace_source, write_step_trace
from support.in_flight_gauges import InFlightGauges
from support.kube_env import KubeEnv, wait_for
from support.prometheus_server import INSTALL_HINT, prometheus_available

from sla_planner.actuators.replica_pods import DELETION_COST, DRAIN_SINCE, LOWEST_COST
from sla_planner.config.load import parse_run_config
from sla_planner.controller.clock import SimulatedClock
from sla_planner.model.reasons import ReasonCode

pytestmark = [
    pytest.mark.kube,
    pytest.mark.slow,
    pytest.mark.skipif(not prometheus_available(), reason=f"needs prometheus: {INSTALL_HINT}"),
]

SA = "planner"
SETTLE_S = 3.0
SERVING = "sla-planner.io/serving"


def grant(api: client.ApiClient, ns: str, kind: str) -> None:
    group, _, plural = ko.KINDS[kind]
    rbac = client.RbacAuthorizationV1Api(api)
    client.CoreV1Api(api).create_namespaced_service_account(ns, {"metadata": {"name": SA}})
    rbac.create_namespaced_role(ns, {"metadata": {"name": SA}, "rules": [
        {"apiGroups": [group], "resources": [plural], "verbs": ["get"]},
        {"apiGroups": [group], "resources": [f"{plural}/scale"], "verbs": ["get", "update"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "patch"]},
    ]})  # fmt: skip
    rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": SA},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SA},
        "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": ns}],
    })  # fmt: skip


def planner(env: KubeEnv, ns: str, kind: str, prometheus_url: str, tmp_path):
    """The controller of one deployment at 1 request/s (it wants 1 decode replica)."""
    cfg = parse_run_config({
        "planner": {"sla": {"ttft_ms": 200, "itl_ms": 25}, "interval_s": 60, "startup_s": 120,
                    "budget": {"max_gpus": 16}, "forecaster": "last", "scale_down_window_s": 0},
        "metrics": {"prometheus": {"url": prometheus_url, "timeout_s": 5, "retries": 0},
                    "drain": {"drain_timeout_s": 120, "settle_s": SETTLE_S,
                              "serving_label": SERVING}},
        "targets": {"prefill": {"kind": "MetricsOnly"},
                    "decode": {"kind": kind, "namespace": ns, "name": "dec"}},
        "server": {"enabled": False},
        "loop": {"retry_interval_s": 1, "backfill_intervals": 10, "latency_correction": False},
    })  # fmt: skip
    now = time.time()
    trace = write_step_trace(tmp_path / "t.csv", now - 20 * 60, [(40, 1.0)])
    kc = env.service_account_kubeconfig(ns, SA, tmp_path / "planner.kubeconfig")
    clock = SimulatedClock(start=now)
    rt = start_runtime(cfg, clock, api_client=env.client_for(kc), source=trace_source(trace))
    return rt, clock


def tick(rt, clock):
    clock.set(time.time())
    return rt.controller.tick()


def pods(api: client.ApiClient, ns: str, selector: str) -> dict[str, client.V1Pod]:
    items = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector=selector).items
    return {p.metadata.name: p for p in items}


def ready(p: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])


def planner_writes(env: KubeEnv, ns: str, since: float) -> list[tuple[str, str, str]]:
    user = f"system:serviceaccount:{ns}:{SA}"
    return [(e.verb, e.resource + (f"/{e.subresource}" if e.subresource else ""), e.name)
            for e in env.audit(namespace=ns, since=since) if e.user == user and e.code < 300]  # fmt: skip


def test_deployment_the_pod_with_the_lowest_deletion_cost_is_the_one_removed(
    kube_env, kube_ns, admin, tmp_path
):
    # Two pods 20 s apart: left to itself the ReplicaSet removes the newer one (ready for a
    # shorter time, ActivePodsWithRanks criterion 6; checked on this server without a cost).
    # The idle one is the older: only the cost makes the ReplicaSet remove it instead.
    ko.create(admin, "Deployment", kube_ns, "dec", replicas=1)
    grant(admin, kube_ns, "Deployment")
    (idle,) = wait_for(lambda: (p := pods(admin, kube_ns, "app=dec")) and len(p) == 1
                       and all(map(ready, p.values())) and p, 60, "the first pod ready")  # fmt: skip
    time.sleep(20)
    client.AppsV1Api(admin).patch_namespaced_deployment_scale("dec", kube_ns, {"spec": {"replicas": 2}})  # fmt: skip
    live = wait_for(lambda: (p := pods(admin, kube_ns, "app=dec")) and len(p) == 2
                    and all(map(ready, p.values())) and p, 60, "2 ready pods")  # fmt: skip
    (busy,) = set(live) - {idle}
    with InFlightGauges(tmp_path) as g:
        g.set(kube_ns, busy, running=3, waiting=1)
        g.set(kube_ns, idle, running=0)
        g.wait_scraped(kube_ns, {busy: 4.0, idle: 0.0})
        rt, clock = planner(kube_env, kube_ns, "Deployment", g.prometheus_url, tmp_path)
        t0 = time.time() - 1
        snap = tick(rt, clock)
        assert snap.decode.reason_code == ReasonCode.DRAINING, snap.decode.reason
        assert [r.id for r in snap.decode.drain.replicas] == [idle]
        meta = client.CoreV1Api(admin).read_namespaced_pod(idle, kube_ns).metadata
        assert meta.annotations[DELETION_COST] == LOWEST_COST and DRAIN_SINCE in meta.annotations
        assert meta.labels[SERVING] == "false"
        assert ko.spec_replicas(admin, "Deployment", kube_ns, "dec") == 2
        time.sleep(SETTLE_S + 0.5)
        snap = tick(rt, clock)
        assert snap.decode.reason_code == ReasonCode.SCALE_DOWN, snap.decode.reason
        assert ko.spec_replicas(admin, "Deployment", kube_ns, "dec") == 1

        def removed():
            now = pods(admin, kube_ns, "app=dec")
            gone = idle not in now or now[idle].metadata.deletion_timestamp is not None
            return gone and busy in now and now[busy].metadata.deletion_timestamp is None

        wait_for(removed, 30, "the ReplicaSet removing the drained pod, and only it")
    assert planner_writes(kube_env, kube_ns, t0) == [
        ("patch", "pods", idle), ("update", "deployments/scale", "dec")]  # fmt: skip


def test_lws_the_highest_groups_go_and_the_planner_waits_until_they_are_idle(
    kube_env, kube_ns, admin, tmp_path
):
    ko.create(admin, "LeaderWorkerSet", kube_ns, "dec", replicas=3)
    grant(admin, kube_ns, "LeaderWorkerSet")
    sel = "leaderworkerset.sigs.k8s.io/name=dec"
    wait_for(lambda: len(p := pods(admin, kube_ns, sel)) == 6 and all(map(ready, p.values())),
             90, "3 groups of 2 ready pods")  # fmt: skip
    live = pods(admin, kube_ns, sel)
    index = {n: p.metadata.labels["leaderworkerset.sigs.k8s.io/group-index"] for n, p in live.items()}  # fmt: skip
    assert sorted(index.values()) == ["0", "0", "1", "1", "2", "2"]
    with InFlightGauges(tmp_path) as g:
        for leader, load in (("dec-0", 0.0), ("dec-1", 0.0), ("dec-2", 5.0)):
            g.set(kube_ns, leader, running=load)
        g.wait_scraped(kube_ns, {"dec-0": 0.0, "dec-1": 0.0, "dec-2": 5.0})
        rt, clock = planner(kube_env, kube_ns, "LeaderWorkerSet", g.prometheus_url, tmp_path)
        t0 = time.time() - 1
        snap = tick(rt, clock)
        assert [r.id for r in snap.decode.drain.replicas] == ["2", "1"]
        marked = {n for n, p in pods(admin, kube_ns, sel).items()
                  if DRAIN_SINCE in (p.metadata.annotations or {})}  # fmt: skip
        assert marked == {n for n, i in index.items() if i in ("1", "2")}
        deadline = time.time() + SETTLE_S + 3
        while time.time() < deadline:  # group 2 holds work: replicas stay at 3
            snap = tick(rt, clock)
            assert snap.decode.reason_code == ReasonCode.DRAINING, snap.decode.reason
            assert ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, "dec") == 3
            time.sleep(1)
        assert "waiting for 2 (5 in flight)" in snap.decode.reason
        g.set(kube_ns, "dec-2", running=0)
        g.wait_scraped(kube_ns, {"dec-2": 0.0})
        snap = tick(rt, clock)
        assert snap.decode.reason_code == ReasonCode.SCALE_DOWN, snap.decode.reason
        assert ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, "dec") == 1
        wait_for(lambda: set(pods(admin, kube_ns, sel)) == {n for n, i in index.items() if i == "0"},
                 60, "only group 0 left")  # fmt: skip
    writes = planner_writes(kube_env, kube_ns, t0)
    assert writes[-1] == ("update", "leaderworkersets/scale", "dec")
    assert {n for v, r, n in writes[:-1] if (v, r) == ("patch", "pods")} == marked
