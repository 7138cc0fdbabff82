"""The GPU ledger: a pool's cap is its type's count minus what every other pool of that type
holds now (hand-computed)."""

from __future__ import annotations

import pytest

from sla_planner.controller.gpu_ledger import GpuLedger

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
