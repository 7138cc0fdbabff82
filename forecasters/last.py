"""Last value (persistence): tomorrow looks like right now. The baseline every model must beat."""

from __future__ import annotations

import numpy as np

from sla_planner.forecasters.robust import RobustForecaster


class LastValueForecaster(RobustForecaster):
    name = "last"

    def _predict(self, horizon: int) -> np.ndarray | None:
        self.fallback_reason = None
        return self._fallback_mean(horizon)
