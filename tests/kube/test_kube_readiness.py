"""The planner's readiness handling on real objects: LWS groups whose KWOK pods turn Ready 12 s
after they start (the engines' startup delay). After a scale-up, demand jumps again: the
planner makes no new scale-up of that pool while the groups it added are still starting
(`hold_starting`), and scales again once the LWS controller reports them ready."""

from __future__ import annotations

import time

import pytest
from support import kube_objects as ko
from support.kube_env import KubeEnv, wait_for
from support.kube_planner import FAST_ELECTION, KubePlanner
from support.live_demand import LiveDemand
from support.prometheus_server import INSTALL_HINT, prometheus_available

pytestmark = [
    pytest.mark.kube,
    pytest.mark.slow,
    pytest.mark.skipif(not prometheus_available(), reason=f"needs prometheus: {INSTALL_HINT}"),
]

DELAY_S = 12.0
POOL = "llama-decode"


def config(ns: str, prometheus_url: str) -> dict:
    lws = {"kind": "LeaderWorkerSet", "namespace": ns}
    return {
        "planner": {"sla": {"ttft_ms": 200, "itl_ms": 25}, "interval_s": 2, "startup_s": 60,
                    "budget": {"max_gpus": 64}, "forecaster": "last", "scale_down_window_s": 0},
        "profile": "dynamo-h200-llama3.1-8b-fp8-tp1",
        "metrics": {"prometheus": {"url": prometheus_url, "preset": "dynamo", "timeout_s": 2,
                                   "retries": 0}},
        "targets": {"prefill": {**lws, "name": "llama-prefill"}, "decode": {**lws, "name": POOL}},
        "leader_election": {"enabled": True, "namespace": ns, "lease_name": "sla-planner",
                            **FAST_ELECTION},
        "loop": {"retry_interval_s": 1, "backfill_intervals": 10, "latency_correction": False},
    }  # fmt: skip


def test_no_new_scale_up_while_the_last_one_is_starting(
    kube_env: KubeEnv, kube_ns, admin, tmp_path
):
    for name in ("llama-prefill", POOL):
        ko.create(admin, "LeaderWorkerSet", kube_ns, name, replicas=1, delay_s=DELAY_S)
    wait_for(lambda: ko.get(admin, "LeaderWorkerSet", kube_ns, POOL).get("status", {})
             .get("readyReplicas") == 1, 60, "the first group ready")  # fmt: skip
    with LiveDemand(tmp_path, rps=30) as demand:
        planner = KubePlanner(tmp_path, "planner", config(kube_ns, demand.prometheus_url),
                              kube_env.kubeconfig).start()  # fmt: skip
        try:
            planner.wait_api()
            first = wait_for(lambda: ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, POOL) > 1
                             and ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, POOL),
                             90, "the first scale-up")  # fmt: skip
            t_first = time.time()
            demand.rps = 300  # needs far more decode right away
            codes, cap = set(), first
            # KWOK turns the new pods Ready DELAY_S after they start: for the first
            # DELAY_S - 4 s none of the added groups can be ready. No new scale-up then
            # (a scale-down is allowed), whatever demand does.
            while time.time() - t_first < DELAY_S - 4:
                spec = ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, POOL)
                assert spec <= cap, (spec, cap, time.time() - t_first)
                cap = spec
                r = planner.get("/api/v1/decision")
                if r is not None and r.status_code == 200:
                    codes.add(r.json()["decode"]["reasonCode"])
                time.sleep(0.5)
            ready = ko.get(admin, "LeaderWorkerSet", kube_ns, POOL)["status"].get(
                "readyReplicas", 0
            )
            assert ready < cap, "the added groups were ready before KWOK's delay"
            # Once the LWS controller reports them ready, the pool grows again.
            wait_for(lambda: ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, POOL) > cap,
                     45, "the next scale-up after the groups turned ready")  # fmt: skip
            second = ko.spec_replicas(admin, "LeaderWorkerSet", kube_ns, POOL)
        finally:
            code = planner.terminate()
    assert "hold_starting" in codes, codes
    assert second > cap, (first, cap, second)  # once ready, the pool grows again
    assert code == 0 and "Traceback" not in planner.log()
