"""Accuracy and calibration on real demand: every model against last value, walk-forward."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sla_planner.forecasters.evaluate import backtest
from sla_planner.forecasters.registry import make_forecaster

pytestmark = pytest.mark.slow  # real week of data

FAST = ["last", "moving_average", "ewma", "kalman", "seasonal_naive", "default"]


def _last_mae(series: np.ndarray, warmup: int, interval_s: float = 60.0) -> float:
    return backtest(make_forecaster("last", interval_s), series, warmup).mae


@pytest.mark.parametrize("name", FAST)
def test_fast_models_on_a_held_out_day(azure_minutes: np.ndarray, name: str) -> None:
    # Two days of history, then one held-out day: seasonal naive gets its full season.
    series = azure_minutes[: 3 * 1440]
    result = backtest(make_forecaster(name), series, warmup=2 * 1440, quantiles=(0.9, 0.99))
    base = _last_mae(series, 2 * 1440)
    assert result.steps == 1440
    assert math.isfinite(result.mae) and result.mae > 0
    assert result.mae <= 2.0 * base
    assert 0.8 <= result.coverage[0.9] <= 0.97
    assert result.coverage[0.99] >= 0.95


@pytest.mark.parametrize("name", ["ewma", "kalman", "moving_average", "default"])
def test_smoothers_beat_last_value_on_noisy_counts(azure_minutes: np.ndarray, name: str) -> None:
    # Per-minute counts carry burst noise that last value copies; smoothing must pay off.
    series = azure_minutes[:2000]
    assert backtest(make_forecaster(name), series, 1000).mae < 0.95 * _last_mae(series, 1000)


def test_multi_step_quantiles_are_calibrated(azure_minutes: np.ndarray) -> None:
    # The planner provisions for the quantile 2-3 steps ahead (startup delay): measured
    # per-step errors must keep that calibrated, not over-wide as sqrt(step) would be.
    series = azure_minutes[:2400]
    result = backtest(make_forecaster("default"), series, 1200, quantiles=(0.9,), horizon=3)
    assert 0.82 <= result.coverage[0.9] <= 0.95


def test_holt_winters_turns_seasonal_after_two_days(azure_minutes: np.ndarray) -> None:
    model = make_forecaster("holt_winters")
    series = azure_minutes[: 2 * 1440 + 240]
    result = backtest(model, series, warmup=2 * 1440)
    assert model.seasonal is True and model.fallback_reason is None
    assert result.mae <= 1.5 * _last_mae(series, 2 * 1440)
    assert result.coverage[0.9] >= 0.7


def test_holt_winters_is_damped_trend_with_one_day(azure_minutes: np.ndarray) -> None:
    model = make_forecaster("holt_winters")
    series = azure_minutes[:1440]
    result = backtest(model, series, warmup=1200)
    assert model.seasonal is False
    assert "2 seasons" in (model.fallback_reason or "")
    assert result.mae <= 1.5 * _last_mae(series, 1200)


def test_arima_small(azure_minutes: np.ndarray) -> None:
    model = make_forecaster("arima", refit_every=100, fit_window=300)
    series = azure_minutes[:600]
    result = backtest(model, series, warmup=300)
    assert model.order in {(1, 1, 1), (0, 1, 1), (2, 1, 1)}
    assert math.isfinite(result.mae) and result.mae <= 2.0 * _last_mae(series, 300)
    assert result.coverage[0.9] >= 0.7


def test_prophet_small(azure_minutes: np.ndarray) -> None:
    model = make_forecaster("prophet", refit_every=120, fit_window=480)
    series = azure_minutes[:720]
    result = backtest(model, series, warmup=480)
    assert model.fallback_reason is None
    assert math.isfinite(result.mae) and result.mae <= 2.0 * _last_mae(series, 480)
    assert result.coverage[0.9] >= 0.7


@pytest.mark.parametrize("name", ["last", "ewma", "kalman", "moving_average", "holt_winters"])
def test_bundled_trace_at_10s(bundled_10s, name: str) -> None:
    # Always-available real data: the bundled 2023 hour as 10 s counts (360 points).
    series = bundled_10s["requests"].to_numpy()
    result = backtest(make_forecaster(name, interval_s=10.0), series, warmup=180)
    assert result.mae <= 2.0 * _last_mae(series, 180, 10.0)
    assert result.coverage[0.9] >= 0.7


@pytest.mark.parametrize("column", ["requests", "isl_mean", "osl_mean"])
@pytest.mark.parametrize("name", ["ewma", "kalman", "holt_winters", "arima", "moving_average"])
def test_short_real_history_at_one_minute(bundled_10s, name: str, column: str) -> None:
    # One real hour at 1-minute bins: 30 points of history is all a model gets. Early fits on so
    # few points must not run away (a Holt-Winters fit once locked onto a falling trend).
    per_minute = bundled_10s.groupby(bundled_10s.index // 6)
    series = (
        per_minute["requests"].sum()
        if column == "requests"
        else per_minute.apply(
            lambda g: (
                np.average(g[column].fillna(0), weights=g["requests"])
                if g["requests"].sum() > 0
                else np.nan
            )
        )
    ).to_numpy(dtype=float)
    result = backtest(make_forecaster(name), series, warmup=30)
    assert result.mae <= 2.0 * _last_mae(series, 30)
