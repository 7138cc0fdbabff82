"""Demand forecasting for the planner: request count, mean ISL and mean OSL per interval.

Three independent forecasters from one factory. An interval without requests is a real zero
for the count but says nothing about sequence lengths, so ISL/OSL get a gap there instead of
a fake 0 that would drag their forecasts down.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sla_planner.forecasters.base import Forecaster
from sla_planner.forecasters.robust import MAX_VALUE, sanitize
from sla_planner.model.types import DemandForecast, DemandSample


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
        self.requests.observe(requests)
        has_traffic = requests > 0
        self.isl.observe(sample.isl_mean if has_traffic else math.nan)
        self.osl.observe(sample.osl_mean if has_traffic else math.nan)

    def forecast(self, horizon: int, quantile: float = 0.9) -> list[DemandForecast]:
        """One DemandForecast per future interval 1..horizon: means plus the `quantile` path."""
        h = max(int(horizon), 0)
        if h == 0:
            return []
        req = _paths(self.requests, h, quantile)
        isl = _paths(self.isl, h, quantile)
        osl = _paths(self.osl, h, quantile)
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


def _paths(model: Forecaster, h: int, q: float) -> tuple[list[float], list[float]]:
    """(mean, upper) as finite, non-negative floats with upper >= mean, whatever the model does."""
    try:
        fc = model.forecast(h, (q,))
        mean = np.asarray(fc.mean, dtype=float).reshape(-1)
        upper = np.asarray(fc.upper(q), dtype=float).reshape(-1)
        if mean.size != h or upper.size != h:
            raise ValueError("forecast has the wrong length")
    except Exception:  # a third-party Forecaster may not be as careful as ours
        mean = np.zeros(h)
        upper = np.zeros(h)
    mean = np.clip(np.nan_to_num(mean, nan=0.0, posinf=MAX_VALUE, neginf=0.0), 0.0, MAX_VALUE)
    upper = np.clip(np.nan_to_num(upper, nan=0.0, posinf=MAX_VALUE, neginf=0.0), mean, MAX_VALUE)
    return [float(x) for x in mean], [float(x) for x in upper]
