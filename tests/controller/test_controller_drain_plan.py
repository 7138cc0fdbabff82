"""The drain planner, pure: which replicas a scale-down removes and when they are done. Every
expected value is worked out by hand from the rules in controller/drain_plan.py."""

from __future__ import annotations

import math

import pytest

from sla_planner.actuators.replica_pods import RemovalOrder
from sla_planner.controller.drain_plan import (
    Candidate,
    progress,
    removal_set,
    replica_in_flight,
)

READY = (1, 2, 1)  # assigned, Running, ready
NOT_READY = (1, 2, 0)
PENDING = (1, 0, 0)
UNASSIGNED = (0, 0, 0)


def pod(name, load, rank=READY, marked=None):
    return Candidate(name, None, rank, load, marked)


def group(i, load, marked=None):
    return Candidate(str(i), i, (-i,), load, marked)


ids = lambda cands: [c.id for c in cands]  # noqa: E731


@pytest.mark.parametrize(
    "cands, keep, removed",
    [
        # the highest indices go, whatever their load
        ([group(0, 9), group(1, 0), group(2, 5), group(3, 0), group(4, 7)], 3, ["4", "3"]),
        ([group(0, 0), group(1, 0), group(3, 2)], 2, ["3"]),  # a gap: index >= keep, not count
        ([group(0, 0), group(1, 0)], 5, []),
        ([group(0, 1), group(1, 2)], 0, ["1", "0"]),
    ],
)
def test_highest_index_removes_the_top_indices(cands, keep, removed):
    assert ids(removal_set(cands, keep, RemovalOrder.HIGHEST_INDEX)) == removed


@pytest.mark.parametrize("order", [RemovalOrder.DELETION_COST, RemovalOrder.DELETE_CHOSEN])
@pytest.mark.parametrize(
    "cands, keep, removed",
    [
        ([pod("a", 5), pod("b", 0), pod("c", 2)], 2, ["b"]),  # least loaded
        ([pod("a", 5), pod("b", 0), pod("c", 2)], 1, ["b", "c"]),
        # a not-ready pod goes before any ready one (the target's own class), idle or not
        ([pod("a", 0), pod("b", 0, NOT_READY), pod("c", 3)], 2, ["b"]),
        (
            [pod("r1", 1), pod("u", 0, UNASSIGNED), pod("p", 0, PENDING), pod("r2", 0)],
            2,
            ["u", "p"],
        ),
        # the cut falls in the ready class: the earlier classes, then the least loaded ready
        ([pod("r1", 1), pod("p", 0, PENDING), pod("r2", 4)], 1, ["p", "r1"]),
        # a replica already draining stays chosen (a drain is not moved once begun)
        ([pod("a", 0), pod("b", 4, marked=10.0)], 1, ["b"]),
        ([pod("a", None), pod("b", 7)], 1, ["b"]),  # unknown load last
        ([pod("b", 1), pod("a", 1)], 1, ["a"]),  # ties by name
        ([pod("a", 1), pod("b", 2)], 0, ["a", "b"]),
        ([pod("a", 1), pod("b", 2)], 2, []),
        ([pod("a", 1)], 3, []),  # pods not created yet: nothing removed
    ],
)
def test_chosen_replicas_least_loaded_within_the_targets_classes(order, cands, keep, removed):
    assert ids(removal_set(cands, keep, order)) == removed


@pytest.mark.parametrize(
    "values, ready, expected",
    [
        ([3.0, None], True, 3.0),  # an LWS group: the leader has the gauge, workers none
        ([2.0, 1.0], True, 3.0),
        ([None], True, None),  # serving, no series: unknown, never 0
        ([None, None], False, 0.0),  # never ready: it holds nothing
        ([], True, None),
        ([0.0], True, 0.0),
    ],
)
def test_replica_in_flight(values, ready, expected):
    assert replica_in_flight(values, ready) == expected


@pytest.mark.parametrize(
    "load, marked, now, state",
    [
        (0.0, 100.0, 120.0, "busy"),  # idle, but less than settle_s (30) after the mark
        (0.0, 100.0, 130.0, "idle"),
        (2.0, 100.0, 399.0, "busy"),
        (2.0, 100.0, 400.0, "timed_out"),  # timeout_s (300) after the mark
        (None, 100.0, 200.0, "busy"),
        (None, 100.0, 400.0, "timed_out"),
        (0.0, 100.0, 500.0, "idle"),  # idle beats late
    ],
)
def test_progress_of_one_replica(load, marked, now, state):
    p = progress([pod("a", load, marked=marked)], now, timeout_s=300.0, settle_s=30.0)
    got = {"idle": p.idle, "busy": p.busy, "timed_out": p.timed_out}
    assert got[state] == ("a",) and sum(map(len, got.values())) == 1
    assert p.done == (state != "busy")


def test_progress_waits_for_every_replica():
    chosen = [pod("a", 0.0, marked=0.0), pod("b", 1.0, marked=0.0), pod("c", 5.0, marked=-500.0)]
    p = progress(chosen, 60.0, timeout_s=300.0, settle_s=30.0)
    assert (p.idle, p.busy, p.timed_out, p.done) == (("a",), ("b",), ("c",), False)
    p = progress([chosen[0], chosen[2]], 60.0, timeout_s=300.0, settle_s=30.0)
    assert p.done and p.timed_out == ("c",)
    assert progress([], 0.0, timeout_s=math.inf, settle_s=0.0).done
