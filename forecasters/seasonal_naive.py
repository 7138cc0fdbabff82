"""Seasonal naive: the value one day earlier at the same time of day.

Falls back to the last value until a full day of history exists, and per step where the
value a day earlier was a gap.
"""

from __future__ import annotations

import math

import numpy as np

from sla_planner.forecasters.robust import RobustForecaster, season_length


class SeasonalNaiveForecaster(RobustForecaster):
    name = "seasonal_naive"

    def __init__(self, interval_s: float = 60.0, season: int | None = None, **kw: object) -> None:
        super().__init__(interval_s, **kw)  # type: ignore[arg-type]
        self.season = max(int(season), 1) if season else season_length(self.interval_s)

    def _predict(self, horizon: int) -> np.ndarray | None:
        n, m = len(self._history), self.season
        if n < m:
            self.fallback_reason = f"{n} intervals of history < one season ({m}); last value"
            return None
        if m > self.window:
            self.fallback_reason = f"window {self.window} shorter than the season {m}; last value"
            return None
        last = self.last_value
        out = np.empty(horizon)
        gaps = 0
        for i in range(horizon):
            # Step i+1 ahead is index n + i; one season back is n + i - m (repeat beyond a season).
            back = n + i - m * (1 + i // m)
            v = self._history[back]
            if math.isnan(v):
                gaps += 1
                v = last
            out[i] = v
        self.fallback_reason = (
            f"{gaps} of {horizon} steps had a gap one season back; last value there"
            if gaps
            else None
        )
        return out
