"""Demand forecasting for the planner: request count, mean ISL and mean OSL per interval.

Three independent forecasters from one factory. An interval without requests is a real zero
for the count but says nothing about sequence lengths, so ISL/OSL get a gap there instead of
a fake 0 that would drag their forecasts down.

A value the demand guard clipped (`DemandSample.clipped`) trains the model's level but not its
error model: `observe_unscored` where the forecaster has it.

A forecaster that raises, or answers NaN, raises ForecastError: a broken forecast is never
zero demand (the controller holds the pools and says why).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sla_planner.errors import SlaPlannerError
from sla_planner.forecasters.base import Forecaster
from sla_planner.forecasters.robust import MAX_VALUE, sanitize
from sla_planner.model.types import DemandForecast, DemandSample


class ForecastError(SlaPlannerError, RuntimeError):
    """A forecaster failed or gave no usable numbers; the message names it and the series."""


class DemandForecaster:
    def __init__(
        self,
        factory: Callable[[], Forecaster],
        isl_factory: Callable[[], Forecaster] | None = None,
        osl_factory: Callable[[], Forecaster] | None = None,
    ) -> None:
        self.requests = factory()
        self.isl = (isl_factory or factory)()
        self.osl = (osl_factory or factory)()

    def observe(self, sample: DemandSample) -> None:
        requests = sanitize(sample.requests)
        if math.isnan(requests):
            # Unknown traffic (source gap): a gap for all three, not a zero.
            self.requests.observe(math.nan)
            self.isl.observe(math.nan)
            self.osl.observe(math.nan)
            return
        clipped = sample.clipped
        _observe(self.requests, requests, "requests" in clipped)
        has_traffic = requests > 0
        _observe(self.isl, sample.isl_mean if has_traffic else math.nan, "isl_mean" in clipped)
        _observe(self.osl, sample.osl_mean if has_traffic else math.nan, "osl_mean" in clipped)

    def forecast(self, horizon: int, quantile: float = 0.9) -> list[DemandForecast]:
        """One DemandForecast per future interval 1..horizon: means plus the `quantile` path."""
        h = max(int(horizon), 0)
        if h == 0:
            return []
        req = _paths(self.requests, h, quantile, "request count")
        isl = _paths(self.isl, h, quantile, "ISL")
        osl = _paths(self.osl, h, quantile, "OSL")
        return [
            DemandForecast(
                requests=req[0][i],
                isl=isl[0][i],
                osl=osl[0][i],
                requests_upper=req[1][i],
                isl_upper=isl[1][i],
                osl_upper=osl[1][i],
            )
            for i in range(h)
        ]


def _observe(model: Forecaster, value: float, clipped: bool) -> None:
    """A value the demand guard clipped is learnt as a level, not scored as a forecast error
    (a model without `observe_unscored`, e.g. a third party's, learns it as any value)."""
    unscored = getattr(model, "observe_unscored", None) if clipped else None
    if unscored is not None:
        unscored(value)
    else:
        model.observe(value)


def _paths(model: Forecaster, h: int, q: float, series: str) -> tuple[list[float], list[float]]:
    """(mean, upper) as finite, non-negative floats with upper >= mean. Raises ForecastError
    when the model raises, answers the wrong length or a NaN mean: never zeros in their place."""
    name = getattr(model, "name", type(model).__name__)
    try:
        fc = model.forecast(h, (q,))
        mean = np.asarray(fc.mean, dtype=float).reshape(-1)
        upper = np.asarray(fc.upper(q), dtype=float).reshape(-1)
    except Exception as exc:  # a third-party Forecaster may not be as careful as ours
        raise ForecastError(
            f"forecaster {name!r} failed on the {series} series ({type(exc).__name__}: {exc})"
        ) from exc
    if mean.size != h or upper.size != h:
        raise ForecastError(
            f"forecaster {name!r} answered {mean.size} steps for the {series} series, not {h}"
        )
    if np.isnan(mean).any():
        raise ForecastError(f"forecaster {name!r} answered NaN for the {series} series")
    mean = np.clip(np.nan_to_num(mean, posinf=MAX_VALUE, neginf=0.0), 0.0, MAX_VALUE)
    # An unknown upper quantile falls back to the mean (never below it).
    upper = np.where(np.isnan(upper), mean, upper)
    upper = np.clip(np.nan_to_num(upper, posinf=MAX_VALUE, neginf=0.0), mean, MAX_VALUE)
    return [float(x) for x in mean], [float(x) for x in upper]
