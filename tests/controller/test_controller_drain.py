"""Drain-aware scale-downs in the controller: `sla-planner run`'s wiring (build_runtime) over
real HTTP against the fake API server, whose pods follow each target's controller (a
ReplicaSet removes the lowest pod-deletion-cost first, LWS the highest groups, Grove's
PodClique the newest; tests/support/fake_pods.py), in simulated time. The engines' in-flight
gauges come from a reader object (the Prometheus reader itself is tested against a real
Prometheus in tests/sources/test_sources_prometheus_in_flight.py, the whole path on a real API
server in tests/kube/test_kube_drain.py).

Demand is 1 request/s: the planner wants 1 decode replica where 4 run, so every test starts
with a scale-down 4 -> 1 of the decode pool (prefill stays at 1)."""

from __future__ import annotations

import pytest
from support.controller_harness import (
    NS,
    TRACE_T0,
    SwitchableSource,
    sample_value,
    start_runtime,
    trace_source,
    write_step_trace,
)
from support.fake_kube import DEPLOYMENTS, LWS, PCLQ, PCSG, FakeKube

from sla_planner.actuators.base import WriteRefused
from sla_planner.actuators.replica_pods import DELETION_COST, DRAIN_SINCE, LOWEST_COST
from sla_planner.config.load import parse_run_config
from sla_planner.model.reasons import ReasonCode
from sla_planner.sources.base import MetricsSourceError

STEP = 60.0
SERVING = "sla-planner.io/serving"
START = TRACE_T0 + 15 * STEP


class Gauges:
    """In-flight requests per pod name, as the Prometheus reader answers them."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.down = False
        self.reads = 0

    def read(self, namespace: str, now: float) -> dict[str, float]:
        self.reads += 1
        if self.down:
            raise MetricsSourceError("Prometheus at http://127.0.0.1:9 is unreachable")
        return dict(self.values)


def config(decode: str = "Deployment", *, drain: bool = True, timeout: float = 300, **extra):
    cfg = {
        "planner": {"sla": {"ttft_ms": 200, "itl_ms": 25}, "interval_s": 60, "startup_s": 120,
                    "budget": {"max_gpus": 16}, "forecaster": "last", "scale_down_window_s": 0},
        "metrics": {"prometheus": {"url": "http://127.0.0.1:9"}},
        "targets": {"prefill": {"kind": "PodCliqueScalingGroup", "namespace": NS, "name": "pre"},
                    "decode": {"kind": decode, "namespace": NS, "name": "dec"}},
        "server": {"enabled": False},
        "loop": {"retry_interval_s": 10, "backfill_intervals": 20, "latency_correction": False},
        **extra,
    }  # fmt: skip
    if drain:
        cfg["metrics"]["drain"] = {"drain_timeout_s": timeout, "settle_s": 30, "serving_label": SERVING}  # fmt: skip
    return parse_run_config(cfg)


PLURAL = {"Deployment": DEPLOYMENTS, "LeaderWorkerSet": LWS, "PodClique": PCLQ}


def cluster(kube: FakeKube, decode: str = "Deployment", replicas: int = 4) -> list[str]:
    """prefill at 1 and decode at `replicas`, with pods; the decode pods' names."""
    kube.add_pcsg(NS, "pre", replicas=1, ready=1)
    kube.pods.enable(PCSG, NS, "pre")
    if decode == "Deployment":
        kube.add_deployment(NS, "dec", replicas=replicas, ready=replicas)
    elif decode == "LeaderWorkerSet":
        kube.add_lws(NS, "dec", replicas=replicas, size=2, ready=replicas)
    else:
        kube.add_podclique(NS, "dec", replicas=replicas, ready=replicas)
    return kube.pods.enable(PLURAL[decode], NS, "dec")


def runtime(kube, clock, tmp_path, gauges, cfg=None, rates=((40, 1.0),), token=None):
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, list(rates))
    client = kube.api_client(token=token)
    return start_runtime(cfg or config(), clock, api_client=client, source=trace_source(trace),
                         in_flight=gauges)  # fmt: skip


def at(clock, rt, t: float):
    clock.set(t)
    return rt.controller.tick()


def spec(kube: FakeKube, plural: str = DEPLOYMENTS) -> int:
    return kube.spec_replicas(plural, NS, "dec")


def annotations(kube: FakeKube, pod: str) -> dict[str, str]:
    return kube.pods.get(NS, pod)["metadata"]["annotations"]


def test_without_gauges_a_scale_down_is_at_once_and_reads_no_pods(kube, clock, tmp_path):
    cluster(kube)
    rt = runtime(kube, clock, tmp_path, Gauges(), cfg=config(drain=False))
    snap = at(clock, rt, START)
    assert spec(kube) == 1 and snap.decode.reason_code == ReasonCode.SCALE_DOWN
    assert snap.decode.drain is None
    assert not [r for r in kube.requests if "/pods" in r.path]  # exactly as before drains
    assert "sla_planner_drain" not in rt.metrics.render().decode()  # no drain series
    from sla_planner.controller.api_models import decision_out

    body = decision_out(snap).model_dump(exclude_unset=True)
    assert "drain" not in body["prefill"] and "drain" not in body["decode"]


def test_the_least_loaded_pods_drain_and_the_replicaset_removes_exactly_them(kube, clock, tmp_path):  # fmt: skip
    pods = cluster(kube)
    g = Gauges()
    g.values = dict(zip(pods, (5.0, 0.0, 3.0, 2.0), strict=True))
    rt = runtime(kube, clock, tmp_path, g)
    snap = at(clock, rt, START)
    chosen = [pods[1], pods[3], pods[2]]  # 0, 2 and 3 in flight; pods[0] holds 5: it stays
    assert spec(kube) == 4 and snap.decode.reason_code == ReasonCode.DRAINING
    assert [r.id for r in snap.decode.drain.replicas] == chosen and snap.decode.drain.lower_to == 1
    for p in chosen:
        a = annotations(kube, p)
        assert a[DELETION_COST] == LOWEST_COST and float(a[DRAIN_SINCE]) == START
        assert kube.pods.get(NS, p)["metadata"]["labels"][SERVING] == "false"
    assert DRAIN_SINCE not in annotations(kube, pods[0])
    assert sample_value(rt.metrics, "sla_planner_draining_replicas", pool="decode") == 3
    # the router let go: no new work; what they hold finishes, but pods[2] still has one
    g.values.update({pods[1]: 0.0, pods[3]: 0.0, pods[2]: 1.0})
    snap = at(clock, rt, START + 30)
    assert spec(kube) == 4 and snap.decode.reason_code == ReasonCode.DRAINING
    assert "waiting for " + pods[2] + " (1 in flight)" in snap.decode.reason
    g.values[pods[2]] = 0.0
    snap = at(clock, rt, START + 40)
    assert spec(kube) == 1 and snap.decode.reason_code == ReasonCode.SCALE_DOWN
    assert "drained" in snap.decode.reason
    assert kube.pods.names(DEPLOYMENTS, NS, "dec") == [pods[0]]  # the busy pod was never cut
    assert sample_value(rt.metrics, "sla_planner_drains_total", pool="decode", outcome="drained") == 1  # fmt: skip
    assert sample_value(rt.metrics, "sla_planner_draining_replicas", pool="decode") == 0


def test_a_drain_out_of_time_lowers_anyway_and_says_so(kube, clock, tmp_path):
    pods = cluster(kube)
    g = Gauges()
    g.values = dict.fromkeys(pods, 2.0)  # nobody ever finishes
    rt = runtime(kube, clock, tmp_path, g, cfg=config(timeout=120))
    at(clock, rt, START)
    snap = at(clock, rt, START + 110)
    assert spec(kube) == 4 and snap.decode.reason_code == ReasonCode.DRAINING
    snap = at(clock, rt, START + 120)
    assert spec(kube) == 1 and snap.decode.reason_code == ReasonCode.SCALE_DOWN
    assert "drain timed out after 120 s" in snap.decode.reason
    assert sample_value(rt.metrics, "sla_planner_errors_total", kind="drain_timeout") == 1


def test_a_scale_up_while_draining_cancels_the_drain(kube, clock, tmp_path):
    pods = cluster(kube)
    g = Gauges()
    g.values = dict.fromkeys(pods, 1.0)
    # 1 request/s until START + 60, then 60/s: the planner wants 4 decode replicas again
    rt = runtime(kube, clock, tmp_path, g, rates=((16, 1.0), (30, 60.0)))
    assert at(clock, rt, START).decode.reason_code == ReasonCode.DRAINING
    marked = [p for p in pods if DRAIN_SINCE in annotations(kube, p)]
    assert len(marked) == 3
    snap = at(clock, rt, START + 2 * STEP)
    assert snap.decode.reason_code in (ReasonCode.STEADY, ReasonCode.SCALE_UP)
    assert spec(kube) >= 4 and set(pods) <= set(kube.pods.names(DEPLOYMENTS, NS, "dec"))
    for p in marked:  # back in the router, removed last again
        meta = kube.pods.get(NS, p)["metadata"]
        assert DRAIN_SINCE not in meta["annotations"] and DELETION_COST not in meta["annotations"]
        assert meta["labels"][SERVING] == "true"
    assert snap.decode.drain.replicas == ()
    assert sample_value(rt.metrics, "sla_planner_drains_total", outcome="cancelled") == 1


def test_lws_waits_for_the_highest_groups_whatever_their_load(kube, clock, tmp_path):
    cluster(kube, "LeaderWorkerSet", replicas=3)
    g = Gauges()
    g.values = {"dec-0": 0.0, "dec-1": 0.0, "dec-2": 4.0}  # leaders: group 0 is idle, yet stays
    rt = runtime(kube, clock, tmp_path, g, cfg=config("LeaderWorkerSet"))
    snap = at(clock, rt, START)
    assert [r.id for r in snap.decode.drain.replicas] == ["2", "1"]
    for pod in ("dec-1", "dec-1-1", "dec-2", "dec-2-1"):  # every pod of a removed group
        assert DRAIN_SINCE in annotations(kube, pod)
    assert DELETION_COST not in annotations(kube, "dec-2")  # LWS does not read it
    snap = at(clock, rt, START + 40)
    assert spec(kube, LWS) == 3 and snap.decode.reason_code == ReasonCode.DRAINING
    g.values["dec-2"] = 0.0
    at(clock, rt, START + 50)
    assert spec(kube, LWS) == 1 and kube.pods.names(LWS, NS, "dec") == ["dec-0", "dec-0-1"]


def test_podclique_pods_drained_are_deleted_then_replicas_lowered(kube, clock, tmp_path):
    pods = cluster(kube, "PodClique")
    g = Gauges()
    g.values = dict(zip(pods, (0.0, 0.0, 0.0, 7.0), strict=True))  # Grove would cut the newest
    rt = runtime(kube, clock, tmp_path, g, cfg=config("PodClique"))
    at(clock, rt, START)
    assert spec(kube, PCLQ) == 4
    at(clock, rt, START + 30)
    assert spec(kube, PCLQ) == 1 and kube.pods.names(PCLQ, NS, "dec") == [pods[3]]


def test_unreadable_gauges_wait_bounded_by_the_timeout(kube, clock, tmp_path):
    cluster(kube)
    g = Gauges()
    g.down = True
    rt = runtime(kube, clock, tmp_path, g, cfg=config(timeout=60))
    snap = at(clock, rt, START + 30)
    assert snap.decode.reason_code == ReasonCode.DRAINING and "unknown" in snap.decode.reason
    assert sample_value(rt.metrics, "sla_planner_errors_total", kind="in_flight") >= 1
    at(clock, rt, START + 90)
    assert spec(kube) == 1


def test_a_restarted_planner_resumes_the_drain_with_its_deadline(kube, clock, tmp_path):
    pods = cluster(kube)
    g = Gauges()
    g.values = dict.fromkeys(pods, 2.0)
    first = runtime(kube, clock, tmp_path, g, cfg=config(timeout=120))
    at(clock, first, START)
    marked = sorted(p for p in pods if DRAIN_SINCE in annotations(kube, p))
    # the planner restarts 100 s later: the same replicas, the deadline from the first mark
    second = runtime(kube, clock, tmp_path, g, cfg=config(timeout=120))
    snap = at(clock, second, START + 100)
    assert snap.decode.reason_code == ReasonCode.DRAINING
    assert sorted(r.id for r in snap.decode.drain.replicas) == marked
    assert {r.since for r in snap.decode.drain.replicas} == {START}
    assert at(clock, second, START + 120).decode.reason_code == ReasonCode.SCALE_DOWN


def test_a_new_planner_that_no_longer_lowers_undoes_the_marks(kube, clock, tmp_path):
    pods = cluster(kube)
    g = Gauges()
    g.values = dict.fromkeys(pods, 2.0)
    at(clock, runtime(kube, clock, tmp_path, g), START)
    marked = [p for p in pods if DRAIN_SINCE in annotations(kube, p)]
    assert len(marked) == 3
    busy = runtime(kube, clock, tmp_path, g, rates=((40, 60.0),))  # wants 4 decode: no drain
    at(clock, busy, START + STEP)
    assert spec(kube) >= 4
    assert not any(DRAIN_SINCE in annotations(kube, p) for p in pods)
    assert all(kube.pods.get(NS, p)["metadata"]["labels"][SERVING] == "true" for p in marked)


def test_a_lapsed_lease_before_marking_writes_nothing(kube, clock, tmp_path):
    cluster(kube)
    rt = runtime(kube, clock, tmp_path, Gauges())

    def refuse() -> float:
        raise WriteRefused("write refused: the Lease is held by planner-b")

    rt.controller.inner.act.guard = refuse
    kube.clear_log()
    snap = at(clock, rt, START)
    assert snap.decode.reason_code == ReasonCode.HOLD_NOT_LEADER and spec(kube) == 4
    assert not [w for w in kube.writes() if "/pods" in w.path or "/scale" in w.path]


@pytest.mark.parametrize("decode", ["Deployment", "LeaderWorkerSet"])
def test_a_standby_never_marks(kube, clock, tmp_path, decode):
    pods = cluster(kube, decode)
    kube.add_lease(NS, "sla-planner", holder="planner-a", renew_time="2099-01-01T00:00:00.000000Z")  # fmt: skip
    g = Gauges()
    g.values = dict.fromkeys(pods, 1.0)
    election = {"enabled": True, "namespace": NS, "identity": "planner-b"}
    rt = runtime(kube, clock, tmp_path, g, cfg=config(decode, leader_election=election))
    kube.clear_log()
    snap = at(clock, rt, START)
    assert snap.decode.reason_code == ReasonCode.STANDBY
    assert not [w for w in kube.writes() if "/leases" not in w.path]


def test_bad_demand_data_undoes_a_drain(kube, clock, tmp_path):
    pods = cluster(kube)
    g = Gauges()
    g.values = dict.fromkeys(pods, 1.0)
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(40, 1.0)])
    source = SwitchableSource(trace_source(trace))
    rt = start_runtime(config(), clock, api_client=kube.api_client(), source=source, in_flight=g)
    assert at(clock, rt, START).decode.reason_code == ReasonCode.DRAINING
    source.down = True  # Prometheus gone: no scale-down on missing data, a drain included
    snap = at(clock, rt, START + STEP)
    assert snap.decode.reason_code == ReasonCode.HOLD_METRICS and spec(kube) == 4
    assert not any(DRAIN_SINCE in annotations(kube, p) for p in pods)


def test_the_decision_json_shows_a_drain_only_while_one_runs(kube, clock, tmp_path):
    from fastapi.testclient import TestClient

    from sla_planner.controller.api import create_app

    pods = cluster(kube)
    g = Gauges()
    g.values = dict(zip(pods, (5.0, 0.0, 3.0, 2.0), strict=True))
    rt = runtime(kube, clock, tmp_path, g)
    app = create_app(snapshot=rt.controller.inner.snapshot, metrics=rt.metrics, clock=clock,
                     is_leader=lambda: True, stale_after_s=1e9)  # fmt: skip
    with TestClient(app) as c:
        at(clock, rt, START)
        body = c.get("/api/v1/decision").json()
        assert body["decode"]["reasonCode"] == "draining" and body["decode"]["desiredReplicas"] == 4  # fmt: skip
        drain = body["decode"]["drain"]
        assert [(r["id"], r["inFlight"], r["since"]) for r in drain["replicas"]] == [
            (pods[1], 0.0, START), (pods[3], 2.0, START), (pods[2], 3.0, START)]  # fmt: skip
        assert (drain["lowerTo"], drain["timeoutS"], drain["blocked"]) == (1, 300.0, None)
        assert "drain" not in body["prefill"]  # nothing drains there: the key is left out
        text = c.get("/metrics").text
        assert 'sla_planner_draining_replicas{deployment="default",pool="decode",variant="default"} 3.0' in text  # fmt: skip
        g.values = dict.fromkeys(pods, 0.0)
        at(clock, rt, START + 30)
        assert "drain" not in c.get("/api/v1/decision").json()["decode"]


def test_pods_that_cannot_be_read_hold_the_pool(kube, clock, tmp_path):
    cluster(kube)
    kube.forbid("pods", {"list"})
    rt = runtime(kube, clock, tmp_path, Gauges())
    snap = at(clock, rt, START)
    assert snap.decode.reason_code == ReasonCode.HOLD_FORBIDDEN and spec(kube) == 4
    assert 'cannot list resource "pods"' in snap.decode.reason
    assert 'a drain needs list, patch on "pods"' in snap.decode.reason  # the fix, not /scale
    kube.clear_faults()
    assert at(clock, rt, START + 10).decode.reason_code == ReasonCode.DRAINING  # retried
