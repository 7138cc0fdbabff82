"""The controller's replica calculator per pool (`plan_pool_action`, pure), as a table of
hand-computed cases like HPA's: the decision's replicas, the cluster's, the budget cap, the
Lease, a data gap, a scale-up still starting."""

from __future__ import annotations

import math

import pytest

from sla_planner.actuators.base import ReplicaStatus
from sla_planner.controller.pool_action import (
    ActionKind,
    absurd_limit,
    budget_cap,
    plan_pool_action,
    starting_since,
)
from sla_planner.model.types import Pool, PoolDecision

A = ActionKind
NOW = 1000.0
GRACE = 300.0


def decision(replicas: int) -> PoolDecision:
    return PoolDecision(Pool.PREFILL, replicas, replicas, replicas, math.nan, 200.0, "sized")


# (case, wanted, (spec, ready), since, cap, leader, data_gap, kind, replicas applied/kept)
CASES = [
    ("steady", 3, (3, 3), None, None, True, None, A.STEADY, 3),
    ("scale up", 5, (3, 3), None, None, True, None, A.SCALE, 5),
    ("scale down", 2, (3, 3), None, None, True, None, A.SCALE, 2),
    # The other pool holds the rest of the budget now: grow only to the cap ...
    ("capped by the budget", 6, (3, 3), None, 4, True, None, A.SCALE, 4),
    # ... never below what runs (the cap does not scale a pool down).
    ("cap below what runs", 6, (3, 3), None, 1, True, None, A.STEADY, 3),
    ("a cap that does not bind", 2, (3, 3), None, 1, True, None, A.SCALE, 2),
    # A standby publishes what it would do and writes nothing.
    ("standby", 5, (3, 3), None, None, False, None, A.STANDBY, 5),
    # Incomplete data is a lower bound on demand: never a scale-down, a scale-up still goes.
    ("gap: no scale-down", 2, (3, 3), None, None, True, "gap", A.HOLD_INCOMPLETE, 3),
    ("gap: steady holds", 3, (3, 3), None, None, True, "gap", A.HOLD_INCOMPLETE, 3),
    ("gap: scale-up goes", 5, (3, 3), None, None, True, "gap", A.SCALE, 5),
    # A scale-up still starting (100 s of 300 s grace): hold at the last applied target (4).
    ("starting: hold", 6, (4, 3), NOW - 100, None, True, None, A.HOLD_STARTING, 4),
    # Past the grace it scales anyway, flagged as a startup timeout.
    ("starting: timed out", 6, (4, 3), NOW - 400, None, True, None, A.SCALE, 6),
    # Scaling down while a scale-up starts is not held (it frees GPUs).
    ("starting: scale-down", 2, (4, 3), NOW - 100, None, True, None, A.SCALE, 2),
    # 3 running: beyond max(100 x 3, 3 + 8) = 300 is absurd input, refused; 300 passes.
    ("absurd growth", 301, (3, 3), None, None, True, None, A.HOLD_ABSURD, 4),
    ("the largest sane step", 300, (3, 3), None, None, True, None, A.SCALE, 300),
    # From 0, growth by up to 8 replicas always passes.
    ("from zero: +8", 8, (0, 0), None, None, True, None, A.SCALE, 8),
    ("from zero: +101", 101, (0, 0), None, None, True, None, A.HOLD_ABSURD, 4),
]


@pytest.mark.parametrize(
    ("case", "want", "cluster", "since", "cap", "leader", "gap", "kind", "replicas"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_pool_action(case, want, cluster, since, cap, leader, gap, kind, replicas) -> None:
    a = plan_pool_action(
        decision(want),
        ReplicaStatus(*cluster),
        target=4,
        since=since,
        cap=cap,
        budget_gpus=8 if cap is not None else None,
        leader=leader,
        grace_s=GRACE,
        now=NOW,
        data_gap=gap,
        max_step_factor=100.0,
    )
    assert (a.kind, a.replicas) == (kind, replicas), a.reason
    assert a.startup_timeout == (case == "starting: timed out")


def test_reasons_say_why() -> None:
    held = plan_pool_action(
        decision(2), ReplicaStatus(3, 3), target=3, since=None, cap=None, budget_gpus=None,
        leader=True, grace_s=GRACE, now=NOW, data_gap="scrape gap at 12:00",
    )  # fmt: skip
    assert "no scale-down" in held.reason and "scrape gap at 12:00" in held.reason
    capped = plan_pool_action(
        decision(6), ReplicaStatus(3, 3), target=3, since=None, cap=4, budget_gpus=8,
        leader=True, grace_s=GRACE, now=NOW,
    )  # fmt: skip
    assert "capped at 4 (budget 8 GPUs)" in capped.reason
    absurd = plan_pool_action(
        decision(10_000), ReplicaStatus(3, 3), target=3, since=None, cap=None, budget_gpus=None,
        leader=True, grace_s=GRACE, now=NOW, max_step_factor=100.0,
    )  # fmt: skip
    assert "refusing 10000 replicas" in absurd.reason and "100x step limit" in absurd.reason


# (wanted, running, max_replicas) -> (kind, replicas written or kept)
CEILING = [
    (8, 4, 6, A.SCALE, 6),  # grown only up to the ceiling
    (8, 6, 6, A.STEADY, 6),  # at it: nothing to write
    (5, 4, 6, A.SCALE, 5),  # a ceiling that does not bind
    (9, 7, 6, A.STEADY, 7),  # above it already (lowered by hand): never cut for it
    (3, 7, 6, A.SCALE, 3),  # a scale-down goes as decided
]


@pytest.mark.parametrize(("want", "running", "top", "kind", "replicas"), CEILING)
def test_max_replicas_binds_whatever_asked(want, running, top, kind, replicas) -> None:
    """Issue 18 item 4: every write (a tick's, a retry's, a reaction's) goes through
    plan_pool_action, so a decision past the pool's max_replicas -- a reaction's, or a planner
    seeded with one -- is capped there, whatever path asked."""
    a = plan_pool_action(
        decision(want), ReplicaStatus(running, running), target=running, since=None, cap=None,
        budget_gpus=None, leader=True, grace_s=GRACE, now=NOW, max_replicas=top,
    )  # fmt: skip
    assert (a.kind, a.replicas) == (kind, replicas), a.reason
    if want > max(top, running):
        assert f"max_replicas {top}" in a.reason


@pytest.mark.parametrize(
    ("budget", "other", "gpr", "cap"),
    [(None, 4, 1, None), (8, 3, 1, 5), (8, 3, 2, 2), (8, 9, 1, 0), (16, 4, 4, 3)],
)
def test_budget_cap(budget, other, gpr, cap) -> None:
    assert budget_cap(budget, other, gpr) == cap


@pytest.mark.parametrize(
    ("current", "factor", "limit"), [(0, 100.0, 100), (3, 100.0, 300), (1, 2.0, 9), (50, 2.0, 100)]
)
def test_absurd_limit(current, factor, limit) -> None:
    assert absurd_limit(current, factor) == limit


def test_starting_since() -> None:
    assert starting_since(ReplicaStatus(3, 3), 500.0, NOW) is None  # all ready: done
    assert starting_since(ReplicaStatus(4, 3), None, NOW) == NOW  # a new scale-up starts now
    assert starting_since(ReplicaStatus(4, 3), 500.0, NOW) == 500.0  # still the same one
    assert starting_since(ReplicaStatus(3, 3, observed_generation_current=False), None, NOW) == NOW
