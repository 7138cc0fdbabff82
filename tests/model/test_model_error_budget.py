"""The error-budget controller: tables of hand-computed cases (steady state, bursts of misses,
anti-windup, bounds). Figures are worked out from the module docstring's formulas with the
default settings: aim 0.9, gain 0.2, prior 3 misses, short window 900 s, bounds /100 .. x2."""

from __future__ import annotations

import math

import pytest

from sla_planner.model.size.error_budget import (
    AttainmentSample,
    ErrorBudgetController,
    ErrorBudgetSettings,
)

A = 0.99  # target; budget B = 0.01


def window(k: int, n: float, met: float, length: float = 60.0) -> AttainmentSample:
    return AttainmentSample(k * length, (k + 1) * length, n, met)


def test_before_any_data_it_plans_for_aim_times_the_budget():
    c = ErrorBudgetController(A)
    assert c.planned_miss == pytest.approx(0.009)  # B x aim
    assert c.goal == pytest.approx(0.991)
    assert c.margin == pytest.approx(1 / 0.9)
    st = c.status()
    assert math.isnan(st.cumulative_attainment) and st.windows == 0


@pytest.mark.parametrize(
    ("met", "u", "p", "planned"),
    [
        # 100 misses of 10,000; the aim allows 90: u = 0.2 x (100 - 90) / (90 + 3) = 0.021505;
        # short burn = (100 + 2.7) / (100 + 3) = 0.997087, p = ln(0.997087 / 0.9) = 0.102444;
        # planned = 0.009 x exp(-(0.021505 + 0.102444)).
        (9900, 0.0215054, 0.102444, 0.00795082),
        # None missed: excess (0 - 90) / 93 = -0.967742 (the clip is -1): u = -0.193548;
        # short burn 2.7/103 < aim: p = 0; planned = 0.009 x exp(0.193548).
        (10000, -0.193548, 0.0, 0.0109219),
        # 10% missed: excess (1000 - 90) / 93 = 9.784946 (under the clip of 10): u = 1.956989;
        # short burn 1002.7 / 103 = 9.734951, p = ln(9.734951 / 0.9) = 2.381083.
        (9000, 1.956989, 2.381083, 0.000117555),
    ],
)
def test_one_window_of_ten_thousand_requests(met, u, p, planned):
    c = ErrorBudgetController(A)
    assert c.observe(window(0, 10000, met))
    assert c.u == pytest.approx(u, rel=1e-5)
    assert c.proportional == pytest.approx(p, rel=1e-5, abs=1e-12)
    assert c.planned_miss == pytest.approx(planned, rel=1e-5)
    assert c.margin == pytest.approx(0.01 / planned, rel=1e-5)


def test_steady_state_the_integral_settles_where_the_burn_is_the_aim():
    """A plant missing 3x what it is planned to miss: after a day of 1-minute windows of
    5,000 requests the plan is for B x aim / 3 and the measured burn is the aim (the
    proportional term vanishes there: (0.9 nB + 2.7) / (nB + 3) = 0.9)."""
    c = ErrorBudgetController(A)
    for k in range(1440):
        c.observe(window(k, 5000, 5000 * (1 - 3 * c.planned_miss)))
    assert c.u == pytest.approx(math.log(3), rel=0.01)
    assert c.proportional == pytest.approx(0.0, abs=0.01)
    assert c.planned_miss == pytest.approx(0.003, rel=0.01)
    assert c.status().burn_short == pytest.approx(0.9, rel=0.01)


def test_a_burst_of_misses_tightens_at_once_and_the_integral_keeps_part_of_it():
    c = ErrorBudgetController(A)
    for k in range(600):  # ten calm hours with the plant exactly as planned
        c.observe(window(k, 5000, 5000 * (1 - c.planned_miss)))
    calm = c.planned_miss
    assert calm == pytest.approx(0.009, rel=0.05)
    for k in range(600, 603):  # three minutes at 10x the planned misses
        c.observe(window(k, 5000, 5000 * (1 - 10 * c.planned_miss)))
    burst = c.planned_miss
    assert burst < calm / 5  # fast attack: the proportional term
    for k in range(603, 663):  # an hour back to the plant as planned
        c.observe(window(k, 5000, 5000 * (1 - c.planned_miss)))
    assert burst < c.planned_miss <= calm * 1.01  # released as the short window forgets


def test_anti_windup_windows_held_away_from_the_goal_are_not_integrated():
    """A GPU budget holds the plan at 90% for six hours: the burn is reported as it is, but
    neither the integral nor the fast-attack window takes it in, so once the cap lifts the
    controller plans exactly as before."""
    c = ErrorBudgetController(A)
    for k in range(360):
        assert c.observe(window(k, 5000, 4500), limited=True)
    assert c.u == 0.0 and c.proportional == 0.0
    assert c.planned_miss == pytest.approx(0.009)
    st = c.status()
    assert st.burn_long == pytest.approx(10.0) and st.cumulative_attainment == 0.9


@pytest.mark.parametrize(
    ("met", "planned"),
    [
        (0.0, 0.009 / 100),  # every request missing: u stops at ln(max_tighten)
        (10000.0, 0.009 * 2),  # none missing for hours: u stops at -ln(max_loosen)
    ],
)
def test_the_integral_is_clamped_at_its_bounds(met, planned):
    c = ErrorBudgetController(A)
    for k in range(400):
        c.observe(window(k, 10000, met))
    assert c.planned_miss == pytest.approx(planned)
    assert c.u in (pytest.approx(math.log(100)), pytest.approx(-math.log(2)))


def test_recovery_from_the_bound_is_immediate_not_wound_up():
    """After hours of no misses (u at its lower bound), one bad window moves the plan at
    once by the full clipped step: u never went past -ln 10 (no windup to unwind)."""
    c = ErrorBudgetController(A)
    for k in range(300):
        c.observe(window(k, 10000, 10000))
    assert c.u == pytest.approx(-math.log(2))
    assert c.planned_miss == pytest.approx(0.018)
    c.observe(window(300, 10000, 9000))  # 10% missed: u += 0.2 x 910 / 93
    assert c.u == pytest.approx(-math.log(2) + 0.2 * 910 / 93)
    assert c.planned_miss == pytest.approx(0.018 * math.exp(-0.2 * 910 / 93))


def test_a_quiet_window_at_a_strict_target_barely_moves_the_goal():
    """99.9% with 200 requests a minute: the aim allows 0.18 misses; one miss moves u by
    0.2 x (1 - 0.18) / 3.18 = 0.0516."""
    c = ErrorBudgetController(0.999)
    c.observe(window(0, 200, 199))
    assert c.u == pytest.approx(0.2 * 0.82 / 3.18, rel=1e-6)


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
    assert not c.observe(sample)
    assert c.status().windows == 0 and c.planned_miss == pytest.approx(0.009)


def test_overlapping_windows_are_counted_once():
    c = ErrorBudgetController(A)
    assert c.observe(window(0, 1000, 990))
    assert not c.observe(window(0, 1000, 0))  # the same window again (overlapping fetch)
    st = c.status()
    assert (st.windows, st.finished, st.met) == (1, 1000, 990)


def test_gain_zero_turns_the_integral_off():
    c = ErrorBudgetController(A, ErrorBudgetSettings(gain=0.0))
    c.observe(window(0, 10000, 9000))
    assert c.u == 0.0


@pytest.mark.parametrize("target", [1.0, 0.3, math.nan])
def test_target_outside_range_is_refused(target):
    with pytest.raises(ValueError, match="attainment target"):
        ErrorBudgetController(target)


def test_the_ledger_is_request_weighted_not_window_weighted():
    """Busy windows 20% over their allowance alternate with quiet ones without misses: by
    requests the budget is overspent (108 misses per pair against 99 allowed), so the plan
    must tighten. Weighting each window alike (a quiet window's clean minute outvoting a busy
    window's misses) loosened it instead: the planner missed 99% on the Azure week."""
    c = ErrorBudgetController(A)
    for k in range(0, 200, 2):
        c.observe(window(k, 10000, 10000 - 108))  # the aim allows 90
        c.observe(window(k + 1, 1000, 1000))  # allows 9
    assert c.u > 0.0
    assert c.planned_miss < 0.009


def test_calm_under_a_plan_well_above_its_goal_does_not_loosen():
    """Windows served by a plan the scale-down window held well above the goal say nothing
    about the goal: calm ones are not integrated (loosening on them let the Azure week's
    plan fall off a cliff when the hold expired), but misses beyond the allowance are."""
    c = ErrorBudgetController(A)
    for k in range(30):
        c.observe(window(k, 10000, 10000), above=True)
    assert c.u == 0.0 and c.planned_miss == pytest.approx(0.009)
    c.observe(window(30, 10000, 9800), above=True)  # 200 missed, 90 allowed: integrated
    assert c.u == pytest.approx(0.2 * 110 / 93)
