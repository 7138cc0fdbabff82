"""The GPU ledger: a pool's cap is its type's count minus what every other pool of that type
holds now (hand-computed)."""

from __future__ import annotations

import pytest

from sla_planner.model.allocate.ledger import GpuLedger

# holdings (key, type, GPUs), the pool asked about, its GPUs per replica -> cap (replicas)
CASES = [
    # Three pools on A (budget 8): the third may have 8 - (3 + 2) = 3 GPUs.
    ([("a1", "A", 3), ("a2", "A", 2), ("a3", "A", 0)], "a3", 1, 3),
    # Its own GPUs do not count against it: 8 - 3 = 5.
    ([("a1", "A", 3), ("a2", "A", 2)], "a2", 1, 5),
    # Whole TP groups: 5 GPUs left at TP2 is 2 replicas.
    ([("a1", "A", 3), ("a2", "A", 0)], "a2", 2, 2),
    # Other types do not count: B's 4 leave A's budget alone.
    ([("a1", "A", 6), ("b1", "B", 4), ("b2", "B", 0)], "b2", 1, 0),
    ([("a1", "A", 6), ("b1", "B", 1), ("b2", "B", 0)], "b2", 1, 3),
    # Over budget already (someone else scaled): 0, never negative.
    ([("a1", "A", 9), ("a2", "A", 0)], "a2", 1, 0),
]


@pytest.mark.parametrize("holdings, key, gpr, cap", CASES)
def test_cap_is_the_type_budget_minus_every_other_pool(holdings, key, gpr, cap):
    ledger = GpuLedger({"A": 8, "B": 4})
    for k, t, g in holdings:
        ledger.hold(k, t, g)
    assert ledger.cap(key, gpr) == cap


def test_a_write_recorded_moves_the_others_caps_at_once():
    ledger = GpuLedger({"A": 8})
    ledger.hold("a1", "A", 6)
    ledger.hold("a2", "A", 0)
    assert ledger.cap("a2", 1) == 2
    ledger.hold("a1", "A", 2)  # a1 scaled down
    assert ledger.cap("a2", 1) == 6
    assert ledger.used_by_type() == {"A": 2}


def test_a_type_without_a_budget_has_no_cap():
    ledger = GpuLedger({"A": 8})
    ledger.hold("x", "Z", 3)
    assert ledger.cap("x", 1) is None


def test_joint_cap_counts_a_deployments_pools_together():
    """A reaction raising both pools at once: their deployment's max_gpus and their shared
    type's count bind the two together, less every other pool's GPUs."""
    ledger = GpuLedger({"A": 10, "B": None})
    ledger.hold("p", "A", 2, "chat", 6)
    ledger.hold("d", "A", 1, "chat", 6)
    ledger.hold("other", "A", 3, "code", None)
    assert ledger.joint_cap(("p", "d")) == min(6, 10 - 3)
    ledger.hold("other", "A", 6, "code", None)
    assert ledger.joint_cap(("p", "d")) == 4  # the type binds now: 10 - 6
    ledger.hold("d", "B", 1, "chat", 6)  # pools on two types: only max_gpus binds both
    assert ledger.joint_cap(("p", "d")) == 6
    free = GpuLedger({"B": None})
    free.hold("p", "B", 1, "x", None)
    free.hold("d", "B", 1, "x", None)
    assert free.joint_cap(("p", "d")) is None
