"""Lease leader election over real HTTP (official client) against the stateful fake API server."""

from __future__ import annotations

import pytest
from kubernetes import client
from support.controller_harness import NS
from support.fake_kube import LEASES, FakeKube

from sla_planner.controller.clock import SimulatedClock
from sla_planner.controller.leader import LeaderElector

LEASE = "sla-planner"


def elector(api_client, clock, identity: str, errors: list[str] | None = None) -> LeaderElector:
    return LeaderElector(
        client.CoordinationV1Api(api_client),
        namespace=NS,
        name=LEASE,
        identity=identity,
        clock=clock,
        lease_duration_s=15,
        renew_deadline_s=10,
        retry_period_s=2,
        on_error=None if errors is None else errors.append,
    )


def test_first_candidate_creates_the_lease_and_leads(kube: FakeKube, api_client, clock):
    a = elector(api_client, clock, "planner-a")
    assert not a.is_leader()
    assert a.try_acquire_or_renew() is True
    assert a.is_leader()
    spec = kube.get(LEASES, NS, LEASE)["spec"]
    assert spec["holderIdentity"] == "planner-a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0


def test_two_candidates_never_lead_together_and_failover_after_expiry(
    kube: FakeKube, api_client, clock: SimulatedClock
):
    a = elector(api_client, clock, "planner-a")
    b = elector(api_client, clock, "planner-b")
    assert a.try_acquire_or_renew()
    # Both run their election loop every 2 s; A renews, B must stay standby.
    for _ in range(20):
        clock.advance(2)
        a.try_acquire_or_renew()
        b.try_acquire_or_renew()
        assert a.is_leader() and not b.is_leader()
    # A hangs (stops renewing). Step time second by second: never two leaders at once.
    took_over_at = None
    for i in range(40):
        clock.advance(1)
        if i % 2 == 0:
            b.try_acquire_or_renew()
        assert not (a.is_leader() and b.is_leader())
        if b.is_leader() and took_over_at is None:
            took_over_at = i + 1
    assert took_over_at is not None, "B never took over an expired lease"
    # Not before the lease expired as B observed it (15 s after the last renewal it saw).
    assert took_over_at >= 15
    assert not a.is_leader()  # A stepped down by itself at the renew deadline
    spec = kube.get(LEASES, NS, LEASE)["spec"]
    assert spec["holderIdentity"] == "planner-b"
    assert spec["leaseTransitions"] == 1
    # A comes back: sees B's live lease and stays standby.
    assert a.try_acquire_or_renew() is False


def test_stale_resource_version_loses_the_race(kube: FakeKube, api_client, clock):
    kube.add_lease(NS, LEASE)  # exists with no holder
    a = elector(api_client, clock, "planner-a")
    kube.concurrent_writes(1, plural=LEASES)  # someone else writes between A's read and write
    assert a.try_acquire_or_renew() is False
    assert not a.is_leader()
    puts = [w for w in kube.writes() if w.method == "PUT" and LEASES in w.path]
    assert puts and puts[-1].status == 409
    clock.advance(2)
    assert a.try_acquire_or_renew() is True  # retried later with a fresh read


def test_release_on_shutdown_hands_over_at_once(kube: FakeKube, api_client, clock):
    a = elector(api_client, clock, "planner-a")
    b = elector(api_client, clock, "planner-b")
    assert a.try_acquire_or_renew()
    clock.advance(2)
    assert not b.try_acquire_or_renew()
    a.release()
    assert not a.is_leader()
    assert not kube.get(LEASES, NS, LEASE)["spec"].get("holderIdentity")
    clock.advance(2)
    assert b.try_acquire_or_renew()  # no 15 s wait


def test_leader_steps_down_when_api_is_down_past_the_deadline(
    kube: FakeKube, api_client, clock: SimulatedClock
):
    errors: list[str] = []
    a = elector(api_client, clock, "planner-a", errors)
    assert a.try_acquire_or_renew()
    kube.stop()
    try:
        clock.advance(2)
        assert a.try_acquire_or_renew() is True  # within the renew deadline: still leader
        clock.advance(8)  # 10 s since the last successful renewal
        assert a.try_acquire_or_renew() is False
        assert not a.is_leader()
        assert errors and "Lease" in errors[-1]
    finally:
        kube.start()
    clock.advance(2)
    assert a.try_acquire_or_renew()  # API back and lease still ours: leads again


@pytest.mark.parametrize("verb", ["update", "create"])
def test_forbidden_lease_never_leads_and_says_what_rbac_is_missing(
    kube: FakeKube, api_client, clock, verb: str
):
    if verb == "update":
        kube.add_lease(NS, LEASE)
    kube.forbid(LEASES, {verb})
    errors: list[str] = []
    a = elector(api_client, clock, "planner-a", errors)
    assert a.try_acquire_or_renew() is False
    assert not a.is_leader()
    assert "403" in errors[-1] and "leases" in errors[-1]


def test_timings_are_validated(api_client, clock):
    with pytest.raises(ValueError, match="renew_deadline_s"):
        LeaderElector(
            client.CoordinationV1Api(api_client),
            namespace=NS,
            name=LEASE,
            identity="x",
            clock=clock,
            lease_duration_s=10,
            renew_deadline_s=10,
        )


def test_confirm_for_write_reads_the_lease_fresh(kube: FakeKube, api_client, clock):
    from sla_planner.controller.leader import NotLeaderError

    a = elector(api_client, clock, "planner-a")
    assert a.try_acquire_or_renew()
    clock.advance(3)
    assert a.confirm_for_write() == pytest.approx(7)  # renew deadline 10 s, renewed 3 s ago
    # Someone else now holds the Lease (its write, not ours): A may not write, whatever its
    # own clock says about its last renewal.
    lease = kube.get(LEASES, NS, LEASE)
    kube.add_object(LEASES, NS, LEASE, {**lease["spec"], "holderIdentity": "planner-b"})
    with pytest.raises(NotLeaderError, match="planner-b"):
        a.confirm_for_write()
    # Past the renew deadline nothing is read: not the leader any more.
    b = elector(api_client, clock, "planner-c")
    kube.delete(LEASES, NS, LEASE)
    assert b.try_acquire_or_renew()
    clock.advance(10)
    with pytest.raises(NotLeaderError, match="renew deadline"):
        b.confirm_for_write()


def test_a_standby_cannot_confirm(kube: FakeKube, api_client, clock):
    from sla_planner.controller.leader import NotLeaderError

    a, b = elector(api_client, clock, "planner-a"), elector(api_client, clock, "planner-b")
    assert a.try_acquire_or_renew() and not b.try_acquire_or_renew()
    with pytest.raises(NotLeaderError):
        b.confirm_for_write()
