"""Property tests: whatever the series (NaN, inf, negatives, zeros, constants, short), every
model keeps the Forecaster contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_planner.forecasters.base import Forecaster
from sla_planner.forecasters.registry import available_forecasters, make_forecaster

# Small refit periods and windows so the statsmodels/Prophet paths really run on short series.
FAST_KW: dict[str, dict] = {
    "holt_winters": {"refit_every": 7, "season": 12, "window": 64},
    "arima": {"refit_every": 9, "fit_window": 60},
    "prophet": {"refit_every": 40, "fit_window": 120},
    "seasonal_naive": {"season": 5},
}

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-10, max_value=1e4),
    st.just(0.0),
    st.just(math.nan),
)


def _series(max_size: int) -> st.SearchStrategy[list[float]]:
    # Mix free-form noise with the shapes that break models: constants, all zeros, all gaps,
    # and a real-looking count series with NaN holes.
    constant = st.tuples(st.floats(0, 1e6), st.integers(0, max_size)).map(lambda t: [t[0]] * t[1])
    counts = st.lists(st.integers(0, 5000), max_size=max_size).map(
        lambda xs: [float(x) for x in xs]
    )
    holes = st.lists(st.one_of(st.floats(0, 3000), st.just(math.nan)), max_size=max_size)
    return st.one_of(st.lists(values, max_size=max_size), constant, counts, holes)


quantile_sets = st.lists(st.floats(0.01, 0.999), min_size=0, max_size=4)


def _check(model: Forecaster, horizon: int, qs: list[float]) -> None:
    fc = model.forecast(horizon, qs)
    assert fc.mean.shape == (horizon,)
    assert np.all(np.isfinite(fc.mean)) and np.all(fc.mean >= 0)
    assert set(fc.quantiles) == set(qs)
    below = fc.mean
    for q in sorted(qs):
        path = fc.quantiles[q]
        assert path.shape == (horizon,)
        assert np.all(np.isfinite(path))
        assert np.all(path >= fc.mean)
        assert np.all(path >= below)  # non-decreasing in q
        below = path


def _run(name: str, series: list[float], horizon: int, qs: list[float]) -> None:
    model = make_forecaster(name, interval_s=60.0, **FAST_KW.get(name, {}))
    assert isinstance(model, Forecaster)
    for i, v in enumerate(series):
        model.observe(v)
        if i % 5 == 4:
            _check(model, horizon, qs)
    _check(model, horizon, qs)


CHEAP = ["last", "moving_average", "ewma", "kalman", "seasonal_naive", "holt_winters"]


@pytest.mark.parametrize("name", CHEAP)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series=_series(80), horizon=st.integers(1, 7), qs=quantile_sets)
def test_contract_holds_on_any_series(name: str, series, horizon, qs) -> None:
    _run(name, series, horizon, qs)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series=_series(70), horizon=st.integers(1, 5), qs=quantile_sets)
def test_contract_holds_for_arima(series, horizon, qs) -> None:
    _run("arima", series, horizon, qs)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    series=st.one_of(_series(90), st.lists(st.floats(0, 100), min_size=70, max_size=90)),
    horizon=st.integers(1, 5),
    qs=quantile_sets,
)
def test_contract_holds_for_prophet(series, horizon, qs) -> None:
    _run("prophet", series, horizon, qs)


@pytest.mark.parametrize("name", available_forecasters())
def test_odd_arguments_never_raise(name: str) -> None:
    model = make_forecaster(name, **FAST_KW.get(name, {}))
    for v in [None, "x", -5.0, math.inf, -math.inf, math.nan, 1e300, 3.0]:
        model.observe(v)  # type: ignore[arg-type]
    empty = model.forecast(0)
    assert empty.mean.shape == (0,)
    fc = model.forecast(3, (0.9, 1.5, -0.1, math.nan, 0.9))  # invalid q dropped, dup once
    assert list(fc.quantiles) == [0.9]
    assert fc.upper(0.5) is fc.mean  # not computed -> the mean, per Forecast.upper
    assert np.all(fc.mean <= 1e12)  # huge inputs are clipped, not propagated


@pytest.mark.parametrize("name", available_forecasters())
def test_constant_series_forecasts_the_constant(name: str) -> None:
    model = make_forecaster(name, **FAST_KW.get(name, {}))
    for _ in range(150):
        model.observe(42.0)
    fc = model.forecast(4, (0.9, 0.99))
    np.testing.assert_allclose(fc.mean, 42.0, rtol=1e-3)
    np.testing.assert_allclose(fc.upper(0.99), 42.0, rtol=1e-2)  # no error seen, no spread


@pytest.mark.parametrize("name", available_forecasters())
def test_all_zero_series(name: str) -> None:
    model = make_forecaster(name, **FAST_KW.get(name, {}))
    for _ in range(100):
        model.observe(0.0)
    fc = model.forecast(5)
    assert np.all(fc.mean == 0.0) or np.allclose(fc.mean, 0.0, atol=1e-6)
    assert np.all(fc.upper(0.9) >= 0.0)
