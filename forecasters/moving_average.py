"""Moving average of the last `span` intervals (gaps ignored): smooths Poisson-like noise."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from sla_planner.forecasters.robust import RobustForecaster


class MovingAverageForecaster(RobustForecaster):
    name = "moving_average"

    def __init__(self, interval_s: float = 60.0, span: int = 5, **kw: object) -> None:
        super().__init__(interval_s, **kw)  # type: ignore[arg-type]
        self.span = max(int(span), 1)
        self._recent: deque[float] = deque(maxlen=self.span)

    def _update(self, value: float) -> None:
        # Gaps occupy a slot so the average covers the last `span` intervals, not older data.
        self._recent.append(value)

    def _predict(self, horizon: int) -> np.ndarray | None:
        valid = [v for v in self._recent if not math.isnan(v)]
        if not valid:
            self.fallback_reason = f"no valid value in the last {self.span} intervals; last value"
            return None
        self.fallback_reason = None
        return np.full(horizon, sum(valid) / len(valid))
