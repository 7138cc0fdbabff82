"""Two fleet planners with Lease leader election against the fake API (each with its own
bearer token, so the server records who wrote): only the Lease holder writes, at every write;
when it stops, the standby takes over from the cluster and follows the demand."""

from __future__ import annotations

import pytest
from support.controller_harness import (
    NS,
    TRACE_T0,
    SwitchableSource,
    trace_source,
    write_step_trace,
)
from support.fake_kube import LEASES, FakeKube
from support.fleet_cluster import budget_of, cluster_use
from support.fleet_run import fleet_dict, pool_objects, write_fleet
from support.invariants import scale_writes, writes_without_the_lease

from sla_planner.controller.clock import SimulatedClock

pytestmark = pytest.mark.slow  # two fleet controllers and a Lease over real HTTP

STEP = 60.0


def _planner(kube: FakeKube, clock: SimulatedClock, tmp_path, identity: str, traffic):
    from sla_planner.config.resolve import load_fleet
    from sla_planner.controller.wiring import build_runtime

    data = fleet_dict()
    data["leader_election"] = {"enabled": True, "namespace": NS, "lease_name": "sla-planner",
                               "identity": identity, "lease_duration_s": 15,
                               "renew_deadline_s": 10, "retry_period_s": 2}  # fmt: skip
    d = tmp_path / identity
    d.mkdir()
    loaded = load_fleet(write_fleet(d / "fleet.yaml", data), for_run=True)
    sources = {
        name: SwitchableSource(trace_source(write_step_trace(d / f"{name}.csv", TRACE_T0, steps)))
        for name, steps in traffic.items()
    }
    api = kube.api_client(token=identity)
    return build_runtime(loaded, clock=clock, api_client=api, sources=sources), data


def test_only_the_lease_holder_writes_and_the_standby_takes_over(
    kube: FakeKube, clock: SimulatedClock, tmp_path
):
    traffic = {"chat": [(16, 2.0), (40, 30.0)], "code": [(56, 8.0)], "batch": [(56, 0.0)]}
    a, data = _planner(kube, clock, tmp_path, "planner-a", traffic)
    b, _ = _planner(kube, clock, tmp_path, "planner-b", traffic)
    for _, _, _, obj in pool_objects(data):
        kube.add_pcsg(NS, obj, replicas=1 if obj.startswith("chat") else 0)
    clock.set(TRACE_T0 + 10 * STEP)
    a.elector.try_acquire_or_renew()  # A starts first
    violations: list[str] = []

    def step(alive, seconds):
        end = clock.now() + seconds
        while clock.now() < end:
            for rt in alive:
                rt.elector.try_acquire_or_renew()
                rt.controller.tick()
            assert not (a.is_leader() and b.is_leader()), "two leaders at once"
            use, budget = cluster_use(kube, data), budget_of(data)
            violations.extend(f"{t}: {n}" for t, n in use.items() if n > budget[t])
            clock.advance(2)

    step((a, b), 5 * STEP)
    a_writes = [w for w in scale_writes(kube) if w.user == "planner-a"]
    assert a_writes and not [w for w in scale_writes(kube) if w.user == "planner-b"]
    assert b.controller.snapshot().deployments["chat"].pools["h200"]["prefill"].pool.reason_code == "standby"  # fmt: skip

    # A dies (no more renewals, no ticks): B takes over and follows chat's 30 req/s step.
    chat_before = sum(kube.spec_replicas("podcliquescalinggroups", NS, f"chat-h200-{p}")
                      for p in ("prefill", "decode"))  # fmt: skip
    step((b,), 12 * STEP)
    assert b.is_leader() and kube.get(LEASES, NS, "sla-planner")["spec"]["holderIdentity"] == "planner-b"  # fmt: skip
    chat_after = sum(kube.spec_replicas("podcliquescalinggroups", NS, f"chat-h200-{p}")
                     for p in ("prefill", "decode"))  # fmt: skip
    assert chat_after > chat_before
    assert [w for w in scale_writes(kube) if w.user == "planner-b"]
    bad = writes_without_the_lease(kube, f"{NS}/sla-planner", {"planner-a": "planner-a",
                                                                "planner-b": "planner-b"})  # fmt: skip
    assert bad == []
    assert violations == []
