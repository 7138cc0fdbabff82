"""The error-budget controller: tables of hand-computed cases (steady state, bursts of misses,
anti-windup, bounds). Figures are worked out from the module docstring's formulas."""

from __future__ import annotations

import math

import pytest

from sla_planner.model.error_budget import (
    AttainmentSample,
    ErrorBudgetController,
    ErrorBudgetSettings,
)

A = 0.99  # target; budget B = 0.01
S = ErrorBudgetSettings()  # short 900 s, long 21600 s, aim 0.9, prior 3, bounds /100 .. x10


def window(k: int, n: float, met: float, length: float = 60.0) -> AttainmentSample:
    return AttainmentSample(k * length, (k + 1) * length, n, met)


def test_before_any_data_it_plans_for_aim_times_the_budget():
    c = ErrorBudgetController(A)
    assert c.kappa == 1.0
    assert c.planned_miss == pytest.approx(0.009)  # B x aim
    assert c.goal == pytest.approx(0.991)
    assert c.margin == pytest.approx(1 / 0.9)
    st = c.status()
    assert math.isnan(st.cumulative_attainment) and st.windows == 0


@pytest.mark.parametrize(
    ("met", "expected", "kappa", "aim_now", "planned"),
    [
        # Misses as the model expected (100 of 10,000 at 99%): kappa = 103/103 = 1. The window
        # burned its whole budget, above aim: burn = (100 + 3 x 0.9) / (10000 x 0.01 + 3)
        # = 0.99709, aim_now = 0.9 x 0.9 / 0.99709 = 0.81237.
        (9900, 0.99, 1.0, 0.812368, 0.00812368),
        # Twice the expected misses: kappa_long = 203/103 = 1.970874, kappa_short =
        # (200 + 3 x 1.970874) / 103 = 1.999150; burn = 202.7 / 103 = 1.967961,
        # aim_now = 0.81 / 1.967961 = 0.411593, planned = 0.01 x 0.411593 / 1.999150.
        (9800, 0.99, 1.999150, 0.411593, 0.00205885),
        # Half the expected misses (the model is pessimistic): kappa = (50 + 3)/(100 + 3);
        # burn = 52.7/103 = 0.51165 < aim: no recovery. planned = 0.009 / 0.514563.
        (9950, 0.99, 0.514563, 0.9, 0.0174906),
        # The plan expected 99.5% and got 99.5%: kappa = (50 + 3) / (50 + 3) = 1; burn 0.51165.
        (9950, 0.995, 1.0, 0.9, 0.009),
    ],
)
def test_one_window_of_ten_thousand_requests(met, expected, kappa, aim_now, planned):
    c = ErrorBudgetController(A)
    c.observe(window(0, 10000, met), expected)
    assert c.kappa == pytest.approx(kappa, rel=1e-5)
    assert c.aim_now == pytest.approx(aim_now, rel=1e-5)
    assert c.planned_miss == pytest.approx(planned, rel=1e-5)
    assert c.margin == pytest.approx(0.01 / planned, rel=1e-5)


def test_steady_state_settles_where_the_measured_burn_is_the_aim():
    """A plant whose misses are kappa = 3 x the model's, answering the planned miss: after a
    day of 1-minute windows the controller plans B x aim / 3 and measures burn = aim."""
    c = ErrorBudgetController(A)
    for k in range(1440):
        planned = c.planned_miss
        n = 5000.0
        c.observe(window(k, n, n * (1 - 3 * planned)), 1 - planned)
    assert c.kappa == pytest.approx(3.0, rel=0.01)
    assert c.aim_now == pytest.approx(0.9, rel=0.01)
    assert c.planned_miss == pytest.approx(0.003, rel=0.01)
    assert c.status().burn_short == pytest.approx(0.9, rel=0.01)


def test_a_burst_of_misses_tightens_within_minutes_and_relaxes_slowly():
    c = ErrorBudgetController(A)
    for k in range(600):  # ten calm hours exactly on the model's word
        c.observe(window(k, 5000, 5000 * (1 - c.planned_miss)), 1 - c.planned_miss)
    calm = c.margin
    assert calm == pytest.approx(1 / 0.9, rel=0.02)
    for k in range(600, 605):  # five minutes at 10x the expected misses
        c.observe(window(k, 5000, 5000 * (1 - 10 * c.planned_miss)), 1 - c.planned_miss)
    burst = c.margin
    assert burst > 2.5 * calm  # fast attack: the short window dominates (kappa_short ~3.2)
    for k in range(605, 665):  # an hour back on the model's word
        c.observe(window(k, 5000, 5000 * (1 - c.planned_miss)), 1 - c.planned_miss)
    assert calm < c.margin < burst  # released, but not all the way within the long window


def test_anti_windup_a_capped_plan_does_not_wind_the_margin_up():
    """A GPU budget holds the plan at 90% for 6 hours: misses equal the plan's own
    expectation, so kappa stays 1, and the windows are left out of recovery (limited): once
    the cap lifts the controller plans exactly as before."""
    c = ErrorBudgetController(A)
    for k in range(360):
        c.observe(window(k, 5000, 4500), 0.90, limited=True)
    assert c.kappa == pytest.approx(1.0)
    assert c.aim_now == 0.9
    assert c.planned_miss == pytest.approx(0.009)
    assert c.status().burn_long == pytest.approx(10.0)  # reported as it is


def test_without_conditional_integration_recovery_is_bounded():
    c = ErrorBudgetController(A)
    for k in range(360):
        c.observe(window(k, 5000, 4500), 0.90)  # not flagged: recovery takes it in, bounded
    assert c.aim_now == pytest.approx(0.9 / 4)  # MAX_RECOVERY


@pytest.mark.parametrize(
    ("met", "expected", "bound"),
    [
        (0.0, 0.9999, 0.01 / 100),  # every request missed, model said ~none: max_tighten
        (10000.0, 0.5, min(0.01 * 10, 0.5)),  # none missed, model said half: max_loosen
    ],
)
def test_margin_bounds(met, expected, bound):
    c = ErrorBudgetController(A, ErrorBudgetSettings(recovery=False))
    for k in range(100):
        c.observe(window(k, 10000, met), expected)
    assert c.planned_miss == pytest.approx(bound)


@pytest.mark.parametrize(
    "sample",
    [
        AttainmentSample(0, 60, 100, 101),  # met > finished
        AttainmentSample(0, 60, -1, 0),
        AttainmentSample(60, 60, 10, 10),  # empty window
        AttainmentSample(0, 60, math.nan, 0),
        AttainmentSample(0, math.inf, 10, 10),
    ],
)
def test_malformed_windows_are_ignored(sample):
    c = ErrorBudgetController(A)
    c.observe(sample, 0.99)
    assert c.status().windows == 0 and c.planned_miss == pytest.approx(0.009)


def test_overlapping_windows_are_counted_once():
    c = ErrorBudgetController(A)
    c.observe(window(0, 1000, 990), 0.99)
    c.observe(window(0, 1000, 0), 0.99)  # the same window again, from an overlapping fetch
    st = c.status()
    assert (st.windows, st.finished, st.met) == (1, 1000, 990)


def test_windows_without_an_expectation_count_for_burn_only():
    c = ErrorBudgetController(A)
    c.observe(window(0, 1000, 900), None)
    st = c.status()
    assert c.kappa == 1.0  # nothing learnt about the model
    assert st.burn_window == pytest.approx(10.0) and st.cumulative_attainment == 0.9


def test_target_outside_range_is_refused():
    with pytest.raises(ValueError, match="attainment target"):
        ErrorBudgetController(1.0)
