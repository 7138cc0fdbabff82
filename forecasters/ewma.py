"""Exponentially weighted moving average (simple exponential smoothing, flat forecast)."""

from __future__ import annotations

import math

import numpy as np

from sla_planner.forecasters.robust import RobustForecaster


class EWMAForecaster(RobustForecaster):
    name = "ewma"

    def __init__(self, interval_s: float = 60.0, alpha: float = 0.3, **kw: object) -> None:
        super().__init__(interval_s, **kw)  # type: ignore[arg-type]
        a = float(alpha)
        self.alpha = a if math.isfinite(a) and 0.0 < a <= 1.0 else 0.3
        self._level = math.nan

    def _update(self, value: float) -> None:
        if math.isnan(value):
            return  # a gap carries the level forward unchanged
        if math.isnan(self._level):
            self._level = value
        else:
            self._level += self.alpha * (value - self._level)

    def _predict(self, horizon: int) -> np.ndarray | None:
        if math.isnan(self._level):
            self.fallback_reason = "no observation yet"
            return None
        self.fallback_reason = None
        return np.full(horizon, self._level)
