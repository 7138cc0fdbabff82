"""DemandForecaster: three series from DemandSamples, zero traffic handled."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sla_planner.forecasters.registry import make_forecaster
from sla_planner.model.forecast.demand_forecaster import DemandForecaster
from sla_planner.model.types import DemandForecast, DemandSample


def _sample(i: int, requests: float, isl: float, osl: float) -> DemandSample:
    return DemandSample(
        start=1_700_000_000 + 60.0 * i,
        duration_s=60.0,
        requests=requests,
        isl_mean=isl,
        osl_mean=osl,
    )


def test_zero_traffic_is_zero_requests_but_a_gap_for_lengths() -> None:
    d = DemandForecaster(lambda: make_forecaster("ewma", alpha=0.5))
    for i in range(50):
        d.observe(_sample(i, 100.0, 1000.0, 200.0))
    for i in range(50, 60):
        d.observe(_sample(i, 0.0, math.nan, math.nan))
    out = d.forecast(3, 0.9)
    assert len(out) == 3 and all(isinstance(f, DemandForecast) for f in out)
    assert out[0].requests < 1.0  # requests went to zero
    assert out[0].isl == 1000.0 and out[0].osl == 200.0  # lengths kept, not dragged to 0
    for f in out:
        assert f.requests_upper >= f.requests and f.isl_upper >= f.isl and f.osl_upper >= f.osl


def test_unknown_request_count_is_a_gap_everywhere() -> None:
    d = DemandForecaster(lambda: make_forecaster("last"))
    d.observe(_sample(0, 10.0, 500.0, 50.0))
    d.observe(_sample(1, math.nan, math.nan, math.nan))
    f = d.forecast(1)[0]
    assert (f.requests, f.isl, f.osl) == (10.0, 500.0, 50.0)


def test_no_history_gives_zeros_not_errors() -> None:
    out = DemandForecaster(lambda: make_forecaster("default")).forecast(5, 0.99)
    assert len(out) == 5
    assert all(f.requests == 0.0 and f.requests_upper == 0.0 for f in out)
    assert DemandForecaster(lambda: make_forecaster("last")).forecast(0) == []


def test_separate_factories_for_lengths() -> None:
    d = DemandForecaster(
        lambda: make_forecaster("last"), isl_factory=lambda: make_forecaster("ewma")
    )
    assert d.requests.name == "last" and d.isl.name == "ewma" and d.osl.name == "last"


def test_on_the_bundled_real_trace(bundled_10s: pd.DataFrame) -> None:
    """Real 10 s bins of the bundled Azure 2023 hour: upper quantile covers most actuals."""
    d = DemandForecaster(lambda: make_forecaster("default", interval_s=10.0))
    rows = bundled_10s.to_dict("records")
    hits = {"requests": 0, "isl": 0, "osl": 0}
    scored = 0
    for i, row in enumerate(rows):
        if i >= 180:
            f = d.forecast(1, 0.9)[0]
            scored += 1
            hits["requests"] += row["requests"] <= f.requests_upper
            hits["isl"] += row["isl_mean"] <= f.isl_upper
            hits["osl"] += row["osl_mean"] <= f.osl_upper
            assert np.isfinite([f.requests, f.isl, f.osl]).all()
        d.observe(_sample(i, row["requests"], row["isl_mean"], row["osl_mean"]))
    for key, n in hits.items():
        assert n / scored >= 0.75, key
    last = d.forecast(1)[0]
    assert 500 < last.isl < 2500 and 50 < last.osl < 500  # real conv means: ~1155 / ~211


class _Broken:
    """A third-party forecaster that raises, answers NaN or the wrong length."""

    name = "broken"

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def observe(self, value: float) -> None:
        pass

    def forecast(self, horizon, quantiles=(0.9,)):
        from sla_planner.forecasters.base import Forecast

        if self.mode == "raise":
            raise RuntimeError("diverged")
        n = horizon + 1 if self.mode == "length" else horizon
        mean = np.full(n, math.nan if self.mode == "nan" else 5.0)
        return Forecast(mean, {q: mean for q in quantiles})


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("raise", "failed on the request count series (RuntimeError: diverged)"),
        ("nan", "answered NaN"),
        ("length", "answered 4 steps"),
    ],
)
def test_a_broken_forecaster_is_an_error_never_zero_demand(mode, words) -> None:
    from sla_planner.model.forecast.demand_forecaster import ForecastError

    d = DemandForecaster(lambda: _Broken(mode))
    d.observe(_sample(0, 3000.0, 1500.0, 250.0))
    with pytest.raises(ForecastError, match="broken") as err:
        d.forecast(3, 0.9)
    assert words in str(err.value)
