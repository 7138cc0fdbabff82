"""The online-backtest ensemble picks the better forecaster when one is clearly better."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sla_planner.forecasters.ensemble import EnsembleForecaster, pinball
from sla_planner.forecasters.last import LastValueForecaster
from sla_planner.forecasters.registry import make_forecaster
from sla_planner.forecasters.seasonal_naive import SeasonalNaiveForecaster


def test_pinball_loss_by_hand():
    assert pinball(10.0, 8.0, 0.9) == pytest.approx(1.8)  # under-forecast: q x 2
    assert pinball(10.0, 12.0, 0.9) == pytest.approx(0.2)  # over-forecast: (1 - q) x 2
    assert pinball(5.0, 5.0, 0.5) == 0.0


def _periodic(n: int, period: int = 24) -> np.ndarray:
    t = np.arange(n)
    return 100.0 + 60.0 * np.sin(2 * math.pi * t / period) + 20.0 * (t % period == 5)


def test_ensemble_picks_the_clearly_better_model():
    y = _periodic(400)
    ens = EnsembleForecaster(
        factories=[
            lambda: LastValueForecaster(interval_s=60.0),
            lambda: SeasonalNaiveForecaster(interval_s=60.0, season=24),
        ],
        quantile=0.9,
        half_life=30,
        min_scored=20,
    )
    for v in y:
        ens.observe(float(v))
    w = ens.weights()
    assert ens.best() == "seasonal_naive"
    assert w[1] > 0.95
    fc = ens.forecast(3, (0.9,))
    truth = _periodic(403)[400:403]
    seasonal = SeasonalNaiveForecaster(interval_s=60.0, season=24)
    for v in y:
        seasonal.observe(float(v))
    assert np.allclose(fc.mean, seasonal.forecast(3, (0.9,)).mean, rtol=0.05)
    assert np.abs(fc.mean - truth).max() < 5.0  # the seasonal model is exact here


def test_ensemble_equal_weights_before_enough_evidence_and_robust_to_gaps():
    ens = EnsembleForecaster(
        factories=[
            lambda: LastValueForecaster(interval_s=60.0),
            lambda: SeasonalNaiveForecaster(interval_s=60.0, season=24),
        ],
        min_scored=50,
    )
    for v in [1.0, math.nan, 2.0, float("inf"), 3.0]:
        ens.observe(v)
    assert np.allclose(ens.weights(), [0.5, 0.5])
    fc = ens.forecast(4, (0.9, 0.99))
    assert fc.mean.shape == (4,) and np.all(np.isfinite(fc.mean))
    assert np.all(fc.quantiles[0.99] >= fc.quantiles[0.9]) and np.all(fc.quantiles[0.9] >= fc.mean)


def test_ensemble_learns_the_planning_quantile_from_the_caller():
    ens = make_forecaster("ensemble", members=("last", "ewma"))
    ens.observe(10.0)
    ens.forecast(3, (0.99,))
    assert ens.quantile == 0.99


def test_default_members_build_from_the_registry():
    ens = make_forecaster("ensemble", interval_s=60.0)
    for v in _periodic(50):
        ens.observe(float(v))
    fc = ens.forecast(3, (0.9,))
    assert fc.mean.shape == (3,) and np.all(fc.quantiles[0.9] >= fc.mean)
