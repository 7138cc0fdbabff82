"""Behaviour of each model: what it predicts, how it treats gaps, when it falls back."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from sla_planner.forecasters.evaluate import backtest
from sla_planner.forecasters.registry import make_forecaster
from sla_planner.forecasters.robust import default_window


def _feed(model, values) -> None:
    for v in values:
        model.observe(v)


def test_last_value_and_gaps() -> None:
    m = make_forecaster("last")
    _feed(m, [5.0, 7.0, math.nan, math.nan])
    np.testing.assert_array_equal(m.forecast(3).mean, [7.0, 7.0, 7.0])


def test_negative_values_are_clipped_to_zero() -> None:
    m = make_forecaster("last")
    _feed(m, [5.0, -3.0])
    assert m.forecast(1).mean[0] == 0.0


def test_moving_average_covers_the_last_span_intervals() -> None:
    m = make_forecaster("moving_average", span=3)
    _feed(m, [100.0, 1.0, 2.0, math.nan])
    assert m.forecast(1).mean[0] == pytest.approx(1.5)  # 100 is older than 3 intervals
    _feed(m, [math.nan, math.nan])  # nothing valid in the span -> last value
    assert m.forecast(1).mean[0] == 2.0
    assert "last value" in m.fallback_reason


def test_ewma_ignores_gaps() -> None:
    a, b = make_forecaster("ewma", alpha=0.5), make_forecaster("ewma", alpha=0.5)
    _feed(a, [10.0, 20.0, 30.0])
    _feed(b, [10.0, math.nan, 20.0, math.nan, math.nan, 30.0])
    assert a.forecast(1).mean[0] == pytest.approx(22.5)
    assert b.forecast(1).mean[0] == pytest.approx(22.5)


def test_seasonal_naive_repeats_one_season_back() -> None:
    m = make_forecaster("seasonal_naive", season=4)
    _feed(m, [1.0, 2.0])
    assert m.forecast(2).mean.tolist() == [2.0, 2.0]  # under a season: last value
    assert "season" in m.fallback_reason
    _feed(m, [3.0, 4.0, 10.0, math.nan])
    # history 1,2,3,4,10,nan: next steps map to 3,4,10,(nan -> last valid 10),3,4
    assert m.forecast(6).mean.tolist() == [3.0, 4.0, 10.0, 10.0, 3.0, 4.0]


def test_seasonal_naive_daily_season_follows_interval() -> None:
    assert make_forecaster("seasonal_naive", interval_s=60).season == 1440
    assert make_forecaster("seasonal_naive", interval_s=10).season == 8640


def test_kalman_tracks_a_ramp_and_survives_gaps() -> None:
    m = make_forecaster("kalman", slope_damping=1.0)
    rng = np.random.default_rng(0)
    ramp = 100.0 + 5.0 * np.arange(300) + rng.normal(0, 2, 300)
    ramp[100:110] = np.nan
    _feed(m, ramp)
    mean = m.forecast(3).mean
    np.testing.assert_allclose(mean, 100 + 5.0 * np.arange(300, 303), rtol=0.01)
    assert m.fallback_reason is None


def test_kalman_damped_slope_flattens() -> None:
    m = make_forecaster("kalman")  # default slope damping < 1
    _feed(m, 10.0 * np.arange(200))
    mean = m.forecast(50).mean
    assert mean[0] > 1900 and np.all(np.diff(mean) > 0)  # within 5% of the ramp
    assert mean[-1] - mean[-2] < 0.1 * (mean[1] - mean[0])


def test_too_short_history_falls_back_with_a_reason() -> None:
    for name in ("holt_winters", "arima", "prophet"):
        m = make_forecaster(name)
        _feed(m, [3.0, 4.0, 5.0])
        assert m.forecast(2).mean.tolist() == [5.0, 5.0]
        assert "valid observations" in m.fallback_reason


def test_window_bounds_memory() -> None:
    m = make_forecaster("ewma", window=400)
    _feed(m, np.arange(1000.0))
    assert len(m.history_array()) == 400 and m.history_array()[0] == 600.0
    assert default_window(60.0) == 2880 and default_window(3600.0) == 300


def test_holt_winters_update_matches_statsmodels_recursion() -> None:
    """Between refits our one-step update must equal statsmodels' own filter."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    rng = np.random.default_rng(1)
    t = np.arange(24 * 6)
    y = 100 + 10 * np.sin(2 * np.pi * t / 24) + 0.1 * t + rng.normal(0, 1, t.size)
    m = make_forecaster(
        "holt_winters", interval_s=3600, refit_every=10**6, window=400, season_smoothing_s=0
    )
    _feed(m, y[:100])
    m._fit(True)  # fit at t=100, then step through the rest with our recursion
    _feed(m, y[100:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ExponentialSmoothing(
            y[:100],
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=24,
            initialization_method="heuristic",
        ).fit()
        p = res.params
        full = ExponentialSmoothing(
            y,
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=24,
            initialization_method="known",
            initial_level=p["initial_level"],
            initial_trend=p["initial_trend"],
            initial_seasonal=p["initial_seasons"],
        ).fit(
            smoothing_level=p["smoothing_level"],
            smoothing_trend=p["smoothing_trend"],
            smoothing_seasonal=p["smoothing_seasonal"],
            damping_trend=p["damping_trend"],
            optimized=False,
        )
    np.testing.assert_allclose(m.forecast(30).mean, full.forecast(30), rtol=1e-9)


def test_holt_winters_smooths_the_daily_season() -> None:
    m = make_forecaster("holt_winters", interval_s=3600, season=24, season_smoothing_s=3 * 3600)
    assert m.season_smooth_steps == 3


def test_arima_follows_new_data_between_refits() -> None:
    rng = np.random.default_rng(2)
    m = make_forecaster("arima", refit_every=1000, fit_window=200, orders=[(0, 1, 1)])
    walk = 1000 + np.cumsum(rng.normal(0, 10, 110))
    walk[90:] += 1000  # a level shift after the fit
    _feed(m, walk[:90])  # fits at 30 and 60 valid points (history doubled), next at 120
    fitted_at = m._refits
    _feed(m, walk[90:])
    assert m._refits == fitted_at  # no refit happened...
    assert m.forecast(1).mean[0] > 1800  # ...yet the filter moved to the new level


def test_arima_refits_every_k_steps() -> None:
    rng = np.random.default_rng(3)
    m = make_forecaster("arima", refit_every=25, fit_window=100)
    _feed(m, 500 + rng.normal(0, 5, 30))  # first fit at 30 valid points
    assert m._refits == 1
    _feed(m, 500 + rng.normal(0, 5, 50))
    assert m._refits == 3


def test_prophet_learns_a_daily_cycle() -> None:
    # Two days of a clean daily sine at 30-minute steps: Prophet's daily seasonality must
    # forecast the next hours' shape, not a flat line.
    t = np.arange(96 + 8)
    y = 1000 + 300 * np.sin(2 * np.pi * t / 48)
    m = make_forecaster("prophet", interval_s=1800, refit_every=500, fit_window=200)
    _feed(m, y[:96])
    mean = m.forecast(8).mean
    assert m.fallback_reason is None
    np.testing.assert_allclose(mean, y[96:], atol=60)


def test_residual_quantiles_are_measured_per_step() -> None:
    # A random walk: h-step errors grow like sqrt(h); the measured 3-step band must be wider.
    rng = np.random.default_rng(4)
    walk = 10_000 + np.cumsum(rng.normal(0, 10, 800))
    m = make_forecaster("last")
    _feed(m, walk)
    fc = m.forecast(3, (0.9,))
    width = fc.upper(0.9) - fc.mean
    assert width[0] == pytest.approx(10 * 1.2816, rel=0.25)
    assert width[2] / width[0] == pytest.approx(math.sqrt(3), rel=0.3)


def test_backtest_scores_exactly() -> None:
    r = backtest(make_forecaster("last"), [0.0, 1.0, 2.0, math.nan, 4.0], warmup=1)
    # forecasts 0,1,2,(2 for the gap: not scored), 2 -> errors 1,1,2
    assert r.steps == 3 and r.mae == pytest.approx(4 / 3)
    r3 = backtest(make_forecaster("last"), [0.0, 1.0, 2.0, 3.0, 4.0], warmup=2, horizon=2)
    assert r3.steps == 3 and r3.mae == pytest.approx(2.0)


def test_backtest_pinball_loss() -> None:
    # last value on 0,1,2,3 with no spread yet measured: upper == mean for the first steps,
    # each actual is 1 above -> pinball at q=0.9 is 0.9 per step.
    r = backtest(make_forecaster("last"), [0.0, 1.0, 2.0, 3.0], warmup=1, quantiles=(0.9,))
    assert r.steps == 3
    assert r.coverage[0.9] <= 1.0 and r.pinball[0.9] >= 0.0
