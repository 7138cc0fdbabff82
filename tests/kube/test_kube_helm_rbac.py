"""The Helm chart rendered by a real Helm (v4, built from Go) and applied to the real API server;
the planner (`sla-planner run` subprocess, real Prometheus demand) runs the run config the
chart's ConfigMap carries, with a TokenRequest token of the chart's ServiceAccount: it reads and
scales its targets and takes its Lease; a target outside the chart's Role is refused with a
clear error, not a crash. The audit log shows what the ServiceAccount wrote."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from support import kube_objects as ko
from support.kube_env import KubeEnv, wait_for
from support.kube_planner import FAST_ELECTION, KubePlanner, run_config_from_chart
from support.live_demand import LiveDemand
from support.paths import REPO
from support.prometheus_server import INSTALL_HINT, prometheus_available

pytestmark = [
    pytest.mark.kube,
    pytest.mark.slow,
    pytest.mark.skipif(not prometheus_available(), reason=f"needs prometheus: {INSTALL_HINT}"),
]

CHART = REPO / "deploy" / "helm" / "sla-planner"
RELEASE = "sla-planner"


def values(ns: str, prometheus_url: str, decode_name: str = "llama-decode") -> dict:
    return {
        "config": {
            "planner": {"sla": {"ttft_ms": 200, "itl_ms": 25}, "interval_s": 2, "startup_s": 4,
                        "budget": {"max_gpus": 16}, "forecaster": "last",
                        "scale_down_window_s": 0},
            "profile": "dynamo-h200-llama3.1-8b-fp8-tp1",
            "metrics": {"prometheus": {"url": prometheus_url, "preset": "dynamo",
                                       "timeout_s": 2, "retries": 0}},
            "targets": {
                "prefill": {"kind": "PodCliqueScalingGroup", "namespace": ns,
                            "podCliqueSet": "llama", "replicaIndex": 0, "group": "prefill"},
                "decode": {"kind": "LeaderWorkerSet", "namespace": ns, "name": decode_name},
            },
            "loop": {"retry_interval_s": 1, "backfill_intervals": 10,
                     "latency_correction": False},
        },
    }  # fmt: skip


def install_chart(env: KubeEnv, ns: str, vals: dict, tmp_path: Path) -> str:
    vf = tmp_path / "values.yaml"
    vf.write_text(yaml.safe_dump(vals))
    rendered = env.helm("template", RELEASE, str(CHART), "-n", ns, "-f", str(vf))
    env.kubectl("apply", "-n", ns, "-f", "-", stdin=rendered)
    return rendered


def planner_config(rendered: str) -> dict:
    cfg = run_config_from_chart(rendered)
    cfg["leader_election"].update(FAST_ELECTION)
    return cfg


def test_chart_applies_and_the_planner_scales_with_its_service_account(
    kube_env: KubeEnv, kube_ns, admin, tmp_path
):
    ko.create(admin, "PodCliqueScalingGroup", kube_ns, "llama-0-prefill", replicas=1)
    ko.write_grove_status(admin, "PodCliqueScalingGroup", kube_ns, "llama-0-prefill", ready=1)
    ko.create(admin, "LeaderWorkerSet", kube_ns, "llama-decode", replicas=1)
    with LiveDemand(tmp_path, rps=60) as demand:
        rendered = install_chart(
            kube_env, kube_ns, values(kube_ns, demand.prometheus_url), tmp_path
        )
        kinds = sorted({d["kind"] for d in yaml.safe_load_all(rendered) if d})
        assert {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment"} <= set(kinds)
        kc = kube_env.service_account_kubeconfig(kube_ns, RELEASE, tmp_path / "sa.kubeconfig")
        planner = KubePlanner(tmp_path, "planner-0", planner_config(rendered), kc)
        t0 = time.time() - 1
        planner.start()
        try:
            planner.wait_api()
            lease = client.CoordinationV1Api(admin)
            wait_for(lambda: _holder(lease, kube_ns) == "planner-0", 60, "the Lease taken")
            wait_for(
                lambda: (
                    ko.spec_replicas(admin, "PodCliqueScalingGroup", kube_ns, "llama-0-prefill") > 1
                ),
                90,
                "prefill scaled up",
            )
            wait_for(lambda: ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns,
                                              "llama-decode") > 1, 90, "decode scaled up")  # fmt: skip
        finally:
            code = planner.terminate()
        assert code == 0, planner.log()[-3000:]
        assert "Traceback" not in planner.log()
    sa = f"system:serviceaccount:{kube_ns}:{RELEASE}"
    writes = {(e.resource, e.subresource, e.name) for e in kube_env.audit(namespace=kube_ns, since=t0)
              if e.user == sa and e.code < 300}  # fmt: skip
    assert writes == {
        ("podcliquescalinggroups", "scale", "llama-0-prefill"),
        ("leaderworkersets", "scale", "llama-decode"),
        ("leases", "", RELEASE),
    }, writes
    assert _holder(client.CoordinationV1Api(admin), kube_ns) in (None, "")  # released on SIGTERM


def _holder(api: client.CoordinationV1Api, ns: str) -> str | None:
    try:
        return api.read_namespaced_lease(RELEASE, ns).spec.holder_identity
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_a_target_outside_the_role_is_refused_with_a_clear_error(
    kube_env: KubeEnv, kube_ns, admin, tmp_path
):
    """The chart grants the Role for `llama-decode`; the planner is pointed at another LWS it
    was never granted: it holds, names the missing verb, resource and ServiceAccount, and keeps
    running (`--once` exits 1 with that one line)."""
    ko.create(admin, "PodCliqueScalingGroup", kube_ns, "llama-0-prefill", replicas=1)
    ko.write_grove_status(admin, "PodCliqueScalingGroup", kube_ns, "llama-0-prefill", ready=1)
    ko.create(admin, "LeaderWorkerSet", kube_ns, "llama-decode", replicas=1)
    ko.create(admin, "LeaderWorkerSet", kube_ns, "other-model", replicas=1)
    with LiveDemand(tmp_path, rps=60) as demand:
        rendered = install_chart(
            kube_env, kube_ns, values(kube_ns, demand.prometheus_url), tmp_path
        )
        cfg = planner_config(rendered)
        cfg["targets"]["decode"]["name"] = "other-model"  # not in the Role's resourceNames
        kc = kube_env.service_account_kubeconfig(kube_ns, RELEASE, tmp_path / "sa.kubeconfig")
        time.sleep(3)  # a few intervals of demand in Prometheus
        out = KubePlanner(tmp_path, "planner-once", cfg, kc).once()
        # The long-running planner holds, says why on its API, and keeps running.
        planner = KubePlanner(tmp_path, "planner-loop", cfg, kc).start()
        try:
            planner.wait_api()

            def held() -> str | None:
                lines = [
                    ln
                    for ln in planner.log().splitlines()
                    if "msg=decision " in ln
                    and " pool=decode " in ln
                    and "code=hold_forbidden" in ln
                ]
                return lines[-1] if len(lines) >= 3 else None  # held tick after tick

            line = wait_for(held, 60, "decode held as forbidden")
            assert planner.alive()
            r = planner.get("/api/v1/decision")  # no decision without the cluster state
            assert r is not None and r.status_code in (200, 503), r
        finally:
            code = planner.terminate()
    assert code == 0 and "Traceback" not in planner.log(), planner.log()[-3000:]
    msg = line
    assert 'grant verb "get" on resource "leaderworkersets"' in msg, msg
    assert f"system:serviceaccount:{kube_ns}:{RELEASE}" in msg, msg
    # --once: no decision without the cluster state; one line naming the fix, no traceback.
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("sla-planner: error: no decision could be made"), last
    assert "forbidden" in last and 'grant verb "get" on resource "leaderworkersets"' in last
    assert ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, "other-model") == 1
