"""Two planner replicas with Lease leader election against the fake API: only the leader
actuates; when it stops renewing, the standby takes over, resumes from cluster state and acts."""

from __future__ import annotations

import pytest
from kubernetes import client
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    TRACE_T0,
    kube_actuators,
    make_controller,
    trace_source,
    write_step_trace,
)
from support.fake_kube import LEASES, PCSG, FakeKube

from sla_planner.controller.clock import SimulatedClock
from sla_planner.controller.leader import LeaderElector
from sla_planner.model.types import Pool

pytestmark = pytest.mark.slow  # several controllers and a Lease over real HTTP

STEP = 60.0


def test_only_the_leader_actuates_and_the_standby_takes_over(
    kube: FakeKube, api_client, clock: SimulatedClock, tmp_path
):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    # Low, then high while A leads, then higher still after A has died.
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(12, 2.0), (10, 30.0), (30, 80.0)])
    replicas = {}
    for name in ("a", "b"):
        elector = LeaderElector(
            client.CoordinationV1Api(api_client),
            namespace=NS,
            name="sla-planner",
            identity=f"planner-{name}",
            clock=clock,
            lease_duration_s=15,
            renew_deadline_s=10,
            retry_period_s=2,
        )
        acts = kube_actuators(api_client)
        ctl, metrics = make_controller(
            clock=clock, source=trace_source(trace), actuators=acts, is_leader=elector.is_leader
        )
        replicas[name] = (elector, ctl, acts, metrics)
    ea, ca, acts_a, _ = replicas["a"]
    eb, cb, acts_b, metrics_b = replicas["b"]
    clock.set(TRACE_T0 + 10 * STEP)
    ea.try_acquire_or_renew()  # A starts first

    def step(alive: tuple[str, ...], seconds: float) -> None:
        end = clock.now() + seconds
        while clock.now() < end:
            for name in alive:
                e, c, _, _ = replicas[name]
                e.try_acquire_or_renew()
                c.tick()
            assert not (ea.is_leader() and eb.is_leader()), "two leaders at once"
            clock.advance(2)

    step(("a", "b"), 12 * STEP)  # into the 30 rps phase
    a_writes = len(acts_a[Pool.PREFILL].scales) + len(acts_a[Pool.DECODE].scales)
    assert a_writes > 0
    assert acts_b[Pool.PREFILL].scales == [] and acts_b[Pool.DECODE].scales == []
    sb = cb.snapshot()
    assert sb.prefill.reason_code == "standby" and not sb.is_leader
    before = (
        kube.spec_replicas(PCSG, NS, PREFILL_NAME),
        kube.spec_replicas(PCSG, NS, DECODE_NAME),
    )

    # A dies (no more renewals, no more ticks). B must take over and follow the 80 rps phase.
    step(("b",), 10 * STEP)
    assert eb.is_leader() and not ea.is_leader()
    assert kube.get(LEASES, NS, "sla-planner")["spec"]["holderIdentity"] == "planner-b"
    assert acts_b[Pool.PREFILL].scales or acts_b[Pool.DECODE].scales
    after = (
        kube.spec_replicas(PCSG, NS, PREFILL_NAME),
        kube.spec_replicas(PCSG, NS, DECODE_NAME),
    )
    assert after[0] + after[1] > before[0] + before[1]
    assert len(acts_a[Pool.PREFILL].scales) + len(acts_a[Pool.DECODE].scales) == a_writes
    assert metrics_b.registry.get_sample_value("sla_planner_is_leader") == 1

    # A comes back: it finds B's live Lease and stays a standby that never writes.
    step(("a", "b"), 3 * STEP)
    assert not ea.is_leader() and eb.is_leader()
    assert len(acts_a[Pool.PREFILL].scales) + len(acts_a[Pool.DECODE].scales) == a_writes
    assert ca.snapshot().decode.reason_code == "standby"
