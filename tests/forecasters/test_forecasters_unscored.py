"""observe_unscored: a value learnt as the next observation without being scored as a forecast
error (issue 18 item 7: the caller clipped it as an outlier)."""

from __future__ import annotations

import pytest

from sla_planner.forecasters.registry import make_forecaster

MEMBERS = ["last", "ewma", "seasonal_naive", "moving_average", "holt_winters", "kalman"]
# Holt-Winters refits on its history, the outlier included (learnt as a level), and its trend
# then misses by real errors: tests/model/test_model_clipped_residuals.py bounds it with noise.
NO_SPREAD = [m for m in MEMBERS if m != "holt_winters"]


@pytest.mark.parametrize("name", [*NO_SPREAD, "ensemble"])
@pytest.mark.parametrize("scored", [True, False])
def test_an_unscored_outlier_leaves_no_residual(name: str, scored: bool) -> None:
    f = make_forecaster(name, interval_s=60.0)
    for _ in range(40):  # > MIN_RESIDUALS one-step errors, all zero
        f.observe(120.0)
    (f.observe if scored else f.observe_unscored)(12_000.0)
    for _ in range(60):  # long enough for every model's level to return to 120
        f.observe(120.0)
    fc = f.forecast(1, (0.99,))
    spread = fc.quantiles[0.99][0] - fc.mean[0]
    if scored:  # what it was: the outlier's error sets the p99 for the residual window
        assert spread > 50.0
    else:  # the errors after it are negative (forecasts high, actuals back at 120)
        assert spread == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize("name", MEMBERS)
def test_the_unscored_value_is_learnt(name: str) -> None:
    a, b = make_forecaster(name, interval_s=60.0), make_forecaster(name, interval_s=60.0)
    for v in [100.0, 110.0, 90.0] * 10:
        a.observe(v)
        b.observe(v)
    a.observe(500.0)
    b.observe_unscored(500.0)
    assert a.forecast(3, (0.9,)).mean.tolist() == b.forecast(3, (0.9,)).mean.tolist()
