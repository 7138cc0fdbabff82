"""Two real `sla-planner run` processes share a real coordination.k8s.io Lease on the real API
server, each with its own ServiceAccount token. One writes, the standby never writes; the
leader is frozen (SIGSTOP) past the Lease duration, the standby takes over, the old leader is
resumed (SIGCONT): it makes no stale write. The pools are LeaderWorkerSets reconciled by the
real LWS controller (KWOK pods). Every write, and each Lease write with its holder, comes from
the API server's audit log: no scale write by anyone not holding the Lease at that moment."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import pytest
from kubernetes import client
from support import kube_objects as ko
from support.kube_env import AuditEvent, KubeEnv, wait_for
from support.kube_planner import FAST_ELECTION, KubePlanner
from support.live_demand import LiveDemand
from support.prometheus_server import INSTALL_HINT, prometheus_available

pytestmark = [
    pytest.mark.kube,
    pytest.mark.slow,
    pytest.mark.skipif(not prometheus_available(), reason=f"needs prometheus: {INSTALL_HINT}"),
]

LEASE = "sla-planner"
LEASE_S = FAST_ELECTION["lease_duration_s"]
POOLS = ("llama-prefill", "llama-decode")
TRIALS = 4


def run_config(ns: str, prometheus_url: str) -> dict:
    return {
        "planner": {"sla": {"ttft_ms": 200, "itl_ms": 25}, "interval_s": 2, "startup_s": 6,
                    "budget": {"max_gpus": 16}, "forecaster": "last", "scale_down_window_s": 0},
        "profile": "dynamo-h200-llama3.1-8b-fp8-tp1",
        "metrics": {"prometheus": {"url": prometheus_url, "preset": "dynamo", "timeout_s": 2,
                                   "retries": 0}},
        "targets": {
            "prefill": {"kind": "LeaderWorkerSet", "namespace": ns, "name": POOLS[0],
                        "request_timeout_s": 3, "conflict_retries": 2},
            "decode": {"kind": "LeaderWorkerSet", "namespace": ns, "name": POOLS[1],
                       "request_timeout_s": 3, "conflict_retries": 2},
        },
        "leader_election": {"enabled": True, "namespace": ns, "lease_name": LEASE,
                            **FAST_ELECTION},
        "loop": {"retry_interval_s": 1, "backfill_intervals": 10, "latency_correction": False},
    }  # fmt: skip


def grant(api: client.ApiClient, ns: str, sa: str) -> None:
    """What the chart's Roles grant: the two LWS (get; get/update on /scale) and the Lease."""
    rbac = client.RbacAuthorizationV1Api(api)
    client.CoreV1Api(api).create_namespaced_service_account(ns, {"metadata": {"name": sa}})
    rules = [
        {"apiGroups": ["leaderworkerset.x-k8s.io"], "resources": ["leaderworkersets"],
         "resourceNames": list(POOLS), "verbs": ["get"]},
        {"apiGroups": ["leaderworkerset.x-k8s.io"], "resources": ["leaderworkersets/scale"],
         "resourceNames": list(POOLS), "verbs": ["get", "update"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "resourceNames": [LEASE], "verbs": ["get", "update"]},
    ]  # fmt: skip
    rbac.create_namespaced_role(ns, {"metadata": {"name": sa}, "rules": rules})
    rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": sa},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
    })  # fmt: skip


@dataclass(frozen=True)
class LeaseWrite:
    at: float  # when the API server completed it
    user: str
    holder: str


def lease_writes(env: KubeEnv, ns: str) -> list[LeaseWrite]:
    out = []
    for e in env.audit(namespace=ns, resource="leases"):
        if e.name != LEASE or not 200 <= e.code < 300:
            continue
        spec = (e.raw.get("requestObject") or {}).get("spec") or {}
        done = e.raw.get("stageTimestamp", e.raw["requestReceivedTimestamp"])
        out.append(LeaseWrite(_ts(done), e.user, spec.get("holderIdentity") or ""))
    return sorted(out, key=lambda w: w.at)


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def stale_writes(env: KubeEnv, ns: str, users: dict[str, str]) -> list[tuple[AuditEvent, str]]:
    """Applied scale writes by a planner that did not hold the Lease when the write arrived:
    the last Lease write before it must be its own renewal, less than a Lease duration old."""
    leases = lease_writes(env, ns)
    bad = []
    for w in env.audit(namespace=ns, resource="leaderworkersets"):
        if w.subresource != "scale" or w.user not in users or not 200 <= w.code < 300:
            continue
        before = [lw for lw in leases if lw.at <= w.at]
        last = before[-1] if before else None
        ok = (
            last is not None
            and last.user == w.user
            and last.holder == users[w.user]
            and w.at - last.at < LEASE_S
        )
        if not ok:
            bad.append((w, f"last Lease write: {last}"))
    return bad


def holder(api: client.ApiClient, ns: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(api).read_namespaced_lease(LEASE, ns)
    except client.ApiException:
        return None
    return lease.spec.holder_identity or None


def test_frozen_leader_resumed_makes_no_stale_write(kube_env: KubeEnv, kube_ns, admin, tmp_path):
    rng = random.Random(16)
    for pool in POOLS:
        ko.create(admin, "LeaderWorkerSet", kube_ns, pool, replicas=1, delay_s=0.5)
    users = {}
    planners = {}
    with LiveDemand(tmp_path, rps=60) as demand:
        for ident in ("planner-a", "planner-b"):
            grant(admin, kube_ns, ident)
            users[f"system:serviceaccount:{kube_ns}:{ident}"] = ident
            kc = kube_env.service_account_kubeconfig(kube_ns, ident, tmp_path / f"{ident}.kc")
            planners[ident] = KubePlanner(
                tmp_path, ident, run_config(kube_ns, demand.prometheus_url), kc
            )
        try:
            for p in planners.values():
                p.start()
            for p in planners.values():
                p.wait_api()
            first = wait_for(lambda: holder(admin, kube_ns), 60, "a leader")
            wait_for(
                lambda: (
                    min(ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, n) for n in POOLS) > 1
                ),
                90,
                "both pools sized for the load",
            )
            # The standby never wrote while the first leader held the Lease.
            standby_user = next(u for u, i in users.items() if i != first)
            assert not [e for e in kube_env.audit(namespace=kube_ns, resource="leaderworkersets")
                        if e.user == standby_user], "the standby wrote"  # fmt: skip
            transitions = 0
            for trial in range(TRIALS):
                leader = planners[wait_for(lambda: holder(admin, kube_ns), 30, "a leader")]
                other = next(p for p in planners.values() if p is not leader)
                # Another writer moves a pool: the leader reads and writes it back; it is frozen
                # somewhere in that tick (or just before it).
                name = rng.choice(POOLS)
                cur = ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, name)
                client.CustomObjectsApi(admin).patch_namespaced_custom_object_scale(
                    *ko.LWS_GV, kube_ns, "leaderworkersets", name,
                    {"spec": {"replicas": max(1, cur - 1)}})  # fmt: skip
                time.sleep(rng.uniform(0.0, 1.5))
                leader.freeze()
                time.sleep(LEASE_S + rng.uniform(1.0, 2.5))
                wait_for(lambda o=other: holder(admin, kube_ns) == o.identity, 15,
                         f"trial {trial}: the takeover")  # fmt: skip
                transitions += 1
                leader.thaw()
                time.sleep(rng.uniform(1.5, 3.0))
                assert stale_writes(kube_env, kube_ns, users) == [], trial
            assert transitions == TRIALS
            # What README's `kubectl get lease` shows: the holder and the configured duration.
            got = kube_env.kubectl(
                "get",
                "lease",
                LEASE,
                "-n",
                kube_ns,
                "-o",
                "jsonpath={.spec.holderIdentity} {.spec.leaseDurationSeconds}",
            )
            assert got.stdout == f"{holder(admin, kube_ns)} {LEASE_S}", got.stdout
            for p in planners.values():
                assert p.alive() and "Traceback" not in p.log(), p.log()[-3000:]
        finally:
            codes = {i: p.terminate() for i, p in planners.items()}
    assert codes == {"planner-a": 0, "planner-b": 0}
    assert stale_writes(kube_env, kube_ns, users) == []
    swapped = {u: ("planner-b" if i == "planner-a" else "planner-a") for u, i in users.items()}
    assert len(stale_writes(kube_env, kube_ns, swapped)) >= 2  # the check is not vacuous
    writers = {users[e.user] for e in kube_env.audit(namespace=kube_ns, resource="leaderworkersets")
               if e.user in users and e.code == 200}  # fmt: skip
    assert writers == {"planner-a", "planner-b"}  # both led, each wrote only while it held
    lease = client.CoordinationV1Api(admin).read_namespaced_lease(LEASE, kube_ns)
    assert lease.spec.lease_transitions >= TRIALS
    assert lease.spec.holder_identity in (None, "")  # released on SIGTERM
