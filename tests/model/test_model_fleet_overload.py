"""Priority under overload (issue 18 item 8): a higher class that cannot reach its SLO within the
budget still comes before every lower class. It keeps what it runs and takes the lower classes'
GPUs above their minimums first; only what it cannot use at all goes down the classes."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from support.curves import h200_curves
from support.fleet import need, pool, run_allocate, settings, simple, variant

from sla_planner.model.allocate.plan import FleetSettings
from sla_planner.model.allocate.state import DeploymentState, FleetState
from sla_planner.model.config import SLO, PlannerConfig, PoolLimits
from sla_planner.model.deployment import DeploymentPlanner
from sla_planner.model.planner import Planner
from sla_planner.model.reasons import FleetReason
from sla_planner.model.size.variant import Engine, VariantEngines
from sla_planner.model.types import DemandSample


def replicas(alloc, name):
    d = alloc.by_name(name)
    return d.prefill.replicas, d.decode.replicas


def overloaded(name: str, rank: int, min_p: int = 1, min_d: int = 1):
    """Sized at (6, 5): attains nothing below it (the plateau of an overload); the served
    share min(p/6, d/5) is all the GPUs it can be given still buy."""
    return need(
        name,
        variant(
            "v",
            pool(sized=6, min_replicas=min_p),
            pool(sized=5, min_replicas=min_d),
        ),
        rank=rank,
        weight=90.0,
    )


# (budget of type A, running entering the tick, expected replicas), every case by hand.
# The served share steps from (1, 1) (the minimums): +1 of each beats +1 of one pool per
# dollar ((2, 2): +1/6 served for 2 GPUs; (2, 1): +1/30 for 1), then again ((3, 3)).
CASES = [
    # The issue: 6 GPUs, crit (critical) ran 3 + 2 at 40 req/s and now wants (6, 5); batch
    # (min 0) wants (2, 2). Before: crit (1, 1), batch (2, 2): "budget spent within its
    # priority class". crit keeps its GPUs and takes the rest.
    (
        6,
        [overloaded("crit", 0), simple("batch", 2, 2, rank=1, min_p=0, min_d=0)],
        {"crit": (3, 2), "batch": (0, 0)},
        {"crit": (3, 3), "batch": (0, 0)},
    ),
    # batch's minimums (1, 1) are kept: crit gets the other four (entering as the inversion
    # left it: crit at its minimums, batch at its wants).
    (
        6,
        [overloaded("crit", 0), simple("batch", 2, 2, rank=1)],
        {"crit": (1, 1), "batch": (2, 2)},
        {"crit": (2, 2), "batch": (1, 1)},
    ),
    # Three classes: crit reaches its target at (2, 1); std, overloaded, takes the two GPUs
    # left beyond the minimums (to (2, 2)) before batch (min 0) gets any.
    (
        7,
        [simple("crit", 2, 1), overloaded("std", 1), simple("batch", 1, 1, rank=2, min_p=0, min_d=0)],
        {},
        {"crit": (2, 1), "std": (2, 2), "batch": (0, 0)},
    ),
]  # fmt: skip


@pytest.mark.parametrize("budget, needs, running, expected", CASES)
def test_an_overloaded_class_comes_before_lower_classes(budget, needs, running, expected):
    state = FleetState({n: DeploymentState("v", p, d) for n, (p, d) in running.items()})
    alloc, _ = run_allocate(needs, state, 60.0, settings({"A": budget}))
    assert {n: replicas(alloc, n) for n in expected} == expected
    assert alloc.used()["A"] <= budget


def test_the_overloaded_class_is_not_told_its_own_class_spent_the_budget():
    crit, batch = overloaded("crit", 0), simple("batch", 2, 2, rank=1)
    state = FleetState({"crit": DeploymentState("v", 1, 1), "batch": DeploymentState("v", 2, 2)})
    alloc, _ = run_allocate([crit, batch], state, 60.0, settings({"A": 6}))
    assert (replicas(alloc, "crit"), replicas(alloc, "batch")) == ((2, 2), (1, 1))
    # batch gave its GPUs above its minimums to crit: a preemption, recorded as such.
    assert alloc.by_name("batch").prefill.reasons[0] is FleetReason.PREEMPTED
    assert {(p.victim, p.beneficiaries) for p in alloc.preemptions} == {("batch", ("crit",))}


# -- the same through the real Planner and the measured H200 profile ------------------------
T0 = 1_700_000_000.0


def _planner() -> Planner:
    curves = h200_curves()
    e = VariantEngines("h200", Engine(curves, "H200", 1, "h200"), Engine(curves, "H200", 1, "h200"))
    slo = SLO(ttft_ms=200, itl_ms=25, attainment=0.99)
    crit = PlannerConfig(slo=slo, forecaster="last")
    batch = PlannerConfig(
        slo=SLO(ttft_ms=3000, itl_ms=50, attainment=0.95),
        forecaster="last",
        prefill=PoolLimits(min_replicas=0),
        decode=PoolLimits(min_replicas=0),
    )
    deps = [
        DeploymentPlanner("crit", crit, [e], rank=0),
        DeploymentPlanner("batch", batch, [e], rank=1, idle_window_s=600.0),
    ]
    return Planner(deps, FleetSettings(gpus={"H200": 6}, prices={"H200": 3.5}, startup_s=120.0))


def test_a_critical_deployment_rising_past_the_budget_keeps_the_gpus():
    pl = _planner()
    gpus = []
    for k, rate in enumerate([40.0] * 3 + [200.0] * 3):
        t = T0 + 60 * k
        pl.observe(DemandSample(t - 60, 60, rate * 60, 1000, 200), "crit")
        pl.observe(DemandSample(t - 60, 60, 120, 1000, 200), "batch")  # 2 req/s
        fd = pl.decide(t)
        gpus.append({d.name: d.total_gpus for d in fd.deployments})
    before = gpus[2]["crit"]
    assert before >= 2 and not math.isnan(before)
    for tick in gpus[3:]:
        # crit wants far more than 6 GPUs: it holds at least what it ran and batch has none.
        assert tick["crit"] >= before and tick["batch"] == 0, gpus
        assert tick["crit"] == 6, gpus


def test_a_higher_class_at_its_target_keeps_its_margins_from_an_overloaded_lower_class():
    # chat attains 99.5 % at (2, 1) and wants (3, 1); batch (min 0) is overloaded: the spare
    # GPU buys chat 0.5 % and batch nothing it can serve with (a lone pool): chat's margin.
    chat = need("chat", variant("v", pool(sized=3, attainment=[0, 0.5, 0.995, 1.0]),
                                pool(sized=1)), rank=0, weight=10.0)  # fmt: skip
    batch = overloaded("batch", 1, min_p=0, min_d=0)
    alloc, _ = run_allocate([chat, batch], FleetState(), 0.0, settings({"A": 5}))
    assert (replicas(alloc, "chat"), replicas(alloc, "batch")) == ((3, 1), (0, 0))
    # With two GPUs spare, batch's first pair serves a share: chat's margin still comes first.
    alloc, _ = run_allocate([chat, batch], FleetState(), 0.0, settings({"A": 6}))
    assert (replicas(alloc, "chat"), replicas(alloc, "batch")) == ((3, 1), (1, 1))


# -- the property: lower classes never take what a short higher class can use -----------------
@st.composite
def squeezed_fleets(draw):
    """One GPU type; a few deployments of classes 0..2, the lowest at minimums 0 (so that
    leaving it out takes nothing off the budget)."""
    gpus = draw(st.integers(2, 14))
    out = []
    for i in range(draw(st.integers(2, 4))):
        rank = draw(st.integers(0, 2))
        lo = 0 if rank == 2 else 1
        sized = [draw(st.integers(1, 8)) for _ in range(2)]
        pools = []
        for s in sized:
            head = draw(st.lists(st.floats(0, 1), min_size=0, max_size=s))
            att = (head + [0.0] * s)[:s] + [1.0]  # reaches 1.0 at `sized`, drawn below it
            pools.append(pool(sized=s, attainment=att, min_replicas=lo, cap=gpus))
        out.append(need(f"d{i}", variant("v", *pools), rank=rank,
                        weight=draw(st.floats(0.1, 50))))  # fmt: skip
    assume(sum(2 for n in out if n.rank < 2) <= gpus)  # the minimums fit
    return gpus, out


@hyp_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=squeezed_fleets())
def test_the_lowest_class_takes_nothing_a_short_higher_class_can_use(fleet):
    gpus, needs = fleet
    with_low, _ = run_allocate(needs, FleetState(), 0.0, settings({"A": gpus}))
    upper = [n for n in needs if n.rank < 2]
    alone, _ = run_allocate(upper, FleetState(), 0.0, settings({"A": gpus}))
    for n in upper:
        d = alone.by_name(n.name)
        if d.expected_attainment < n.target:
            # Short of its target without the batch class: with it, not a GPU less.
            got = with_low.by_name(n.name)
            assert got.prefill.gpus + got.decode.gpus >= d.prefill.gpus + d.decode.gpus, (
                n.name,
                replicas(with_low, n.name),
                replicas(alone, n.name),
            )
