"""The error-budget controller pricing misses (sizing: price): hand-computed cases."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from sla_planner.model.config import PlannerConfig
from sla_planner.model.size.error_budget import (
    AttainmentSample,
    ErrorBudgetController,
    ErrorBudgetSettings,
)

A = 0.99  # target; budget B = 0.01, aim 0.9: planned misses 0.009
PRICED = ErrorBudgetSettings(sizing="price", price_window_s=3600.0)


def test_the_goal_sizing_has_no_price():
    c = ErrorBudgetController(A)
    c.calibrate(2e-3, 100.0, 0.0)
    assert not c.priced and c.price_ref == pytest.approx(2e-3)
    st = c.status()
    assert math.isnan(st.price) and math.isnan(st.price_ref)
    assert c.planned_miss == pytest.approx(0.009)


def test_before_any_calibration_there_is_no_price_and_the_goal_stands():
    c = ErrorBudgetController(A, PRICED)
    assert c.priced and c.price is None and c.price_ref is None
    assert c.goal == pytest.approx(0.991) and c.aimed_goal == pytest.approx(0.991)
    c.record_plan(0.002)  # no price yet: the plan was the goal's
    assert c.planned_miss == pytest.approx(0.009)


@pytest.mark.parametrize(
    ("points", "ref"),
    [
        # one point: itself
        ([(1e-3, 10.0, 0.0)], 1e-3),
        # same time: request-weighted geometric mean, exp((10 ln 1e-3 + 30 ln 1e-2) / 40)
        ([(1e-3, 10.0, 0.0), (1e-2, 30.0, 0.0)], 10 ** (-2.25)),
        # one time constant apart: the first weighs 10 / e, (3.6788 x -6.9078 + 10 x -4.6052)
        # / 13.6788 = -5.2245 -> 5.3834e-3
        ([(1e-3, 10.0, 0.0), (1e-2, 10.0, 3600.0)], 5.3834e-3),
        # not finite, not positive, no requests: ignored
        ([(1e-3, 10.0, 0.0), (math.nan, 5.0, 1.0), (0.0, 5.0, 1.0), (1.0, 0.0, 1.0)], 1e-3),
    ],
)
def test_the_reference_price_is_a_forgetting_request_weighted_geometric_mean(points, ref):
    c = ErrorBudgetController(A, PRICED)
    for shadow, requests, t in points:
        c.calibrate(shadow, requests, t)
    assert c.price_ref == pytest.approx(ref, rel=1e-4)
    assert c.price == pytest.approx(ref, rel=1e-4)  # u = p = 0: the reference itself


@pytest.mark.parametrize(
    ("met", "factor"),
    [
        # 100 misses of 10,000 (the error-budget table's first case): u + p = 0.021505 +
        # 0.102444: the price rises by exp(0.123949) = 1.131951
        (9900, 1.131951),
        # none missed: u = -0.193548, p = 0: x exp(-0.193548) = 0.824027
        (10000, 0.824027),
    ],
)
def test_misses_raise_the_price_as_they_tighten_the_goal(met, factor):
    c = ErrorBudgetController(A, PRICED)
    c.calibrate(1e-3, 100.0, 0.0)
    c.observe(AttainmentSample(0.0, 60.0, 10_000.0, float(met)))
    assert c.price == pytest.approx(1e-3 * factor, rel=1e-5)
    assert c.goal_miss * factor == pytest.approx(0.009, rel=1e-5)  # the goal moves alike
    st = c.status()
    assert st.price == pytest.approx(c.price) and st.price_ref == pytest.approx(1e-3)


def test_the_price_is_bounded_like_the_goal():
    c = ErrorBudgetController(A, PRICED)
    c.calibrate(1e-3, 100.0, 0.0)
    for k in range(200):  # every window misses everything: u and p at their bound, x100
        c.observe(AttainmentSample(60.0 * k, 60.0 * (k + 1), 1000.0, 0.0))
    assert c.price == pytest.approx(0.1)


def test_priced_planned_miss_is_the_last_plans_expectation():
    c = ErrorBudgetController(A, PRICED)
    c.calibrate(1e-3, 100.0, 0.0)
    c.record_plan(0.004)
    assert c.planned_miss == pytest.approx(0.004)
    c.record_plan(math.nan)  # ignored
    assert c.planned_miss == pytest.approx(0.004)
    c.record_plan(-1.0)  # clipped to [0, 1], reported at least 1e-12
    assert c.planned_miss == pytest.approx(1e-12)


def test_unknown_sizing_is_refused():
    with pytest.raises(ValidationError):
        PlannerConfig.model_validate({"error_budget": {"sizing": "lagrange"}})


@pytest.mark.parametrize(
    ("target", "max_miss", "floor"),
    [(0.99, 5.0, 0.95), (0.999, 5.0, 0.995), (0.99, 10.0, 0.9), (0.9, 10.0, 0.5)],
)
def test_the_price_floor_is_the_budget_times_price_max_miss(target, max_miss, floor):
    s = ErrorBudgetSettings(sizing="price", price_max_miss=max_miss)
    assert ErrorBudgetController(target, s).price_floor == pytest.approx(floor)
