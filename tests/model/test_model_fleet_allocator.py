"""The fleet allocator on hand-computed cases: wants when nothing binds, value per dollar within a
class, priority classes, TP groups, plateaus, and never a lone pool."""

from __future__ import annotations

import pytest
from support.fleet import need, pool, run_allocate, settings, simple, variant

from sla_planner.model.allocate.allocator import FleetBudgetError
from sla_planner.model.allocate.state import DeploymentState, FleetState
from sla_planner.model.reasons import FleetReason


def replicas(alloc, name):
    d = alloc.by_name(name)
    return d.prefill.replicas, d.decode.replicas


# (budget of type A, [(name, want_p, want_d, rank, weight, min_p, min_d)], expected replicas)
CASES = [
    # Nothing binds: every deployment gets exactly what sizing wants.
    (10, [("a", 2, 1, 0, 1.0, 1, 1), ("b", 3, 2, 0, 1.0, 1, 1)], {"a": (2, 1), "b": (3, 2)}),
    (100, [("a", 7, 5, 1, 0.0, 0, 0)], {"a": (7, 5)}),
    # Same class, 2 GPUs for two deployments that each need (1, 1) to attain anything: the
    # one with 10 req/s of value gets them, not the one with 1.
    (2, [("a", 1, 1, 0, 1.0, 0, 0), ("b", 1, 1, 0, 10.0, 0, 0)], {"a": (0, 0), "b": (1, 1)}),
    # Priority first: the low class (rank 1) keeps its minimums only; the high class its wants.
    (7, [("hi", 3, 2, 0, 1.0, 1, 1), ("lo", 3, 2, 1, 50.0, 1, 1)], {"hi": (3, 2), "lo": (1, 1)}),
    # ... and a squeeze below the high class's wants still leaves the low class its minimums.
    (4, [("hi", 3, 2, 0, 1.0, 1, 1), ("lo", 3, 2, 1, 1.0, 1, 1)], {"hi": (1, 1), "lo": (1, 1)}),
]


@pytest.mark.parametrize("budget, deps, expected", CASES)
def test_hand_computed_allocations(budget, deps, expected):
    needs = [
        simple(n, wp, wd, rank=r, weight=w, min_p=mp, min_d=md) for n, wp, wd, r, w, mp, md in deps
    ]
    alloc, _ = run_allocate(needs, FleetState(), 0.0, settings({"A": budget}))
    assert {n: replicas(alloc, n) for n, *_ in deps} == expected
    assert alloc.used()["A"] <= budget


def test_value_per_dollar_counts_tp_size():
    # a: TP2 pools, (1, 1) = 4 GPUs for 10 req/s -> 2.5 per GPU; b: TP1, (2, 2) = 4 GPUs.
    a = need("a", variant("v", pool(sized=1, gpus_per_replica=2, min_replicas=0),
                          pool(sized=1, gpus_per_replica=2, min_replicas=0)), weight=10.0)  # fmt: skip
    for weight_b, winner in ((6.0, "a"), (12.0, "b")):  # b: 1.5 per GPU, then 3 per GPU
        b = need("b", variant("v", pool(sized=2, min_replicas=0), pool(sized=2, min_replicas=0)),
                 weight=weight_b)  # fmt: skip
        alloc, _ = run_allocate([a, b], FleetState(), 0.0, settings({"A": 4}))
        got = {n: replicas(alloc, n) for n in ("a", "b")}
        assert got[winner] != (0, 0)
        assert got[({"a", "b"} - {winner}).pop()] == (0, 0)


def test_jumps_across_a_plateau_of_zero_attainment():
    # d's prefill attains nothing below 3 replicas (2 cannot carry its load): one-replica
    # steps see no gain there, so a greedy without look-ahead would give the GPUs to e
    # (1 req/s for 2 GPUs) and leave d at zero attainment. With the jump, d's 10 req/s for
    # 5 GPUs (2 per GPU) beats e's 0.5 per GPU.
    d = need(
        "d",
        variant(
            "v",
            pool(sized=4, attainment=[0, 0, 0, 0.5, 1.0], min_replicas=0),
            pool(sized=1, attainment=[0, 1.0], min_replicas=0),
        ),
        weight=10.0,
    )
    e = simple("e", 1, 1, min_p=0, min_d=0)
    alloc, _ = run_allocate([d, e], FleetState(), 0.0, settings({"A": 5}))
    assert (replicas(alloc, "d"), replicas(alloc, "e")) == ((4, 1), (0, 0))
    alloc, _ = run_allocate([d], FleetState(), 0.0, settings({"A": 4}))
    assert replicas(alloc, "d") == (3, 1)


def test_whole_tp_groups_never_exceed_the_type_budget():
    d = simple("d", 3, 3, gpr=2, min_p=0, min_d=0)
    alloc, _ = run_allocate([d], FleetState(), 0.0, settings({"A": 5}))
    p, dd = replicas(alloc, "d")
    assert (p + dd) * 2 <= 5 and (p, dd) in {(1, 1)}
    assert alloc.used()["A"] == 4


def test_a_deployment_serving_nothing_gets_no_lone_pool():
    # One GPU left: a replica of one pool alone serves nothing, so it stays free.
    d = simple("d", 2, 2, min_p=0, min_d=0)
    alloc, _ = run_allocate([d], FleetState(), 0.0, settings({"A": 1}))
    assert replicas(alloc, "d") == (0, 0)
    alloc, _ = run_allocate([d], FleetState(), 0.0, settings({"A": 2}))
    assert replicas(alloc, "d") == (1, 1)


def test_served_share_spends_a_budget_where_nothing_attains():
    # Attainment is 0 below (4, 2); with 3 GPUs the served share decides: (1, 1) first,
    # then +1 prefill or +1 decode both add 0.125 served; prefill is shorter of its want.
    d = simple("d", 4, 2, min_p=0, min_d=0)
    alloc, _ = run_allocate([d], FleetState(), 0.0, settings({"A": 3}))
    assert replicas(alloc, "d") == (2, 1)


def test_two_gpu_types_are_budgeted_separately():
    a = simple("a", 3, 3, gpu_type="A")
    b = simple("b", 3, 3, gpu_type="B")
    alloc, _ = run_allocate([a, b], FleetState(), 0.0, settings({"A": 6, "B": 4}))
    assert replicas(alloc, "a") == (3, 3)
    assert sum(replicas(alloc, "b")) == 4
    assert alloc.used() == {"A": 6, "B": 4}


def test_preemption_is_recorded_with_the_higher_class_that_took_the_gpus():
    hi, lo = simple("hi", 3, 2, rank=0), simple("lo", 3, 2, rank=1)
    before = FleetState({"hi": DeploymentState("v", 1, 1), "lo": DeploymentState("v", 3, 2)})
    alloc, state = run_allocate([hi, lo], before, 60.0, settings({"A": 7}))
    assert replicas(alloc, "hi") == (3, 2) and replicas(alloc, "lo") == (1, 1)
    lo_alloc = alloc.by_name("lo")
    assert lo_alloc.prefill.reasons[0] is FleetReason.PREEMPTED
    assert lo_alloc.decode.reasons[0] is FleetReason.PREEMPTED
    assert "preempted" in lo_alloc.prefill.text and "hi" in lo_alloc.prefill.text
    assert {(p.victim, p.beneficiaries, p.gpus) for p in alloc.preemptions} == {
        ("lo", ("hi",), 2),
        ("lo", ("hi",), 1),
    }
    assert alloc.by_name("hi").expected_attainment == pytest.approx(1.0)
    assert (state.get("lo").prefill, state.get("lo").decode) == (1, 1)
    # The next tick it is no longer giving anything up: limited by priority, not preempted.
    alloc2, _ = run_allocate([hi, lo], state, 120.0, settings({"A": 7}))
    assert alloc2.by_name("lo").prefill.reasons[0] is FleetReason.PRIORITY_LIMITED
    assert alloc2.preemptions == ()


def test_same_class_shortfall_is_budget_limited():
    a, b = simple("a", 3, 3), simple("b", 3, 3)
    alloc, _ = run_allocate([a, b], FleetState(), 0.0, settings({"A": 8}))
    reasons = {r for n in ("a", "b") for r in alloc.by_name(n).prefill.reasons[:1]}
    reasons |= {r for n in ("a", "b") for r in alloc.by_name(n).decode.reasons[:1]}
    assert FleetReason.BUDGET_LIMITED in reasons
    assert FleetReason.PREEMPTED not in reasons


def test_minimums_beyond_the_budget_are_an_error():
    with pytest.raises(FleetBudgetError, match="minimums"):
        run_allocate([simple("a", 3, 3, min_p=3, min_d=3)], FleetState(), 0.0, settings({"A": 5}))


def test_a_pool_whose_sibling_wants_nothing_still_gets_its_wants():
    # Decode (min 0) is released as idle, prefill (min 1) is still sized at 3: with room, the
    # prefill pool gets its 3 (found by the random-fleet property; it stayed at 1 before).
    d = need(
        "d",
        variant("v", pool(sized=3, min_replicas=1), pool(sized=2, min_replicas=0)),
        last_request_at=None,
    )
    alloc, _ = run_allocate([d], FleetState(), 60.0, settings({"A": 20}))
    assert replicas(alloc, "d") == (3, 0)


def test_a_controller_seeds_the_state_from_what_the_cluster_runs():
    # After a restart with no demand history, the fleet holds what the cluster runs (as the
    # single planner's seed does), within the budget.
    cold = need("d", variant("v", pool(sized=1), pool(sized=1)), has_history=False)
    state = FleetState().with_cluster("d", "v", 3, 2)
    alloc, state = run_allocate([cold], state, 0.0, settings({"A": 8}))
    assert replicas(alloc, "d") == (3, 2)
    assert alloc.by_name("d").prefill.reasons == (FleetReason.COLD,)
    # The cluster changed outside the planner: the next tick starts from what it reports.
    state = state.with_cluster("d", "v", 1, 1)
    alloc, _ = run_allocate([cold], state, 60.0, settings({"A": 8}))
    assert replicas(alloc, "d") == (1, 1)


def _margins_squeeze():
    """chat (critical, 10 req/s) attains its 99% at (2, 1) but sizing wants (3, 1) (margins);
    batch (1 req/s, target 95%, min 0) attains only at (1, 2): three GPUs."""
    chat = need("chat", variant("v", pool(sized=3, attainment=[0, 0.5, 0.995, 1.0]),
                                pool(sized=1)), rank=0, weight=10.0)  # fmt: skip
    batch = need("batch", variant("v", pool(sized=1, min_replicas=0),
                                  pool(sized=2, min_replicas=0)), rank=1, weight=1.0,
                 target=0.95)  # fmt: skip
    return chat, batch


@pytest.mark.parametrize(
    "budget, expected",
    [
        # Room for chat's target and batch's: batch reaches its SLO before chat's margins.
        (6, {"chat": (2, 1), "batch": (1, 2)}),
        # One more GPU: now chat's margin too (nothing else left to buy with it).
        (7, {"chat": (3, 1), "batch": (1, 2)}),
        # Not enough for both targets: chat's target first, batch keeps its minimums ...
        (3, {"chat": (2, 1), "batch": (0, 0)}),
        # ... and chat's target comes first even when batch's would be cheaper per request.
        (4, {"chat": (3, 1), "batch": (0, 0)}),
    ],
)
def test_beyond_its_target_a_class_yields_to_a_lower_class_short_of_its_own(budget, expected):
    alloc, _ = run_allocate(list(_margins_squeeze()), FleetState(), 0.0, settings({"A": budget}))
    assert {n: replicas(alloc, n) for n in expected} == expected
    assert alloc.used()["A"] <= budget
