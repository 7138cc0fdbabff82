"""The first observation is not a forecast error: before any data there was no forecast to
miss by (regression: a model's 'forecast' of 0 before data recorded the whole first value as
a residual, which set the planner's p99 spread for the next ~100 intervals of every start)."""

from __future__ import annotations

import math

import pytest

from sla_planner.forecasters.registry import make_forecaster

MEMBERS = ["last", "ewma", "seasonal_naive", "moving_average"]


@pytest.mark.parametrize("name", MEMBERS)
def test_constant_demand_has_no_spread_once_errors_are_measured(name: str) -> None:
    f = make_forecaster(name, interval_s=60.0)
    for _ in range(40):  # > MIN_RESIDUALS measured one-step errors, all zero
        f.observe(120.0)
    fc = f.forecast(1, (0.99,))
    assert fc.mean[0] == pytest.approx(120.0)
    assert fc.quantiles[0.99][0] == pytest.approx(120.0, abs=1e-9)


@pytest.mark.parametrize("name", MEMBERS)
def test_leading_gaps_are_not_forecasts_either(name: str) -> None:
    f = make_forecaster(name, interval_s=60.0)
    for v in [math.nan] * 3 + [120.0] * 40:
        f.observe(v)
    assert f.forecast(1, (0.99,)).quantiles[0.99][0] == pytest.approx(120.0, abs=1e-9)


def test_the_default_ensemble_plans_no_spread_on_constant_demand() -> None:
    f = make_forecaster("default", interval_s=60.0)
    for _ in range(40):
        f.observe(120.0)
    assert f.forecast(1, (0.99,)).quantiles[0.99][0] == pytest.approx(120.0, abs=1e-9)
