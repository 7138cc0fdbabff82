"""Local linear trend Kalman filter (level + slope), with noise adapted from the innovations.

State x = [level, slope]; x' = F x + w, y = level + v. Process noise Q (diagonal) and
measurement noise R are re-estimated online (innovation-based adaptive estimation:
R from E[v^2] - H P- H', Q from E[(K v)(K v)']), so the filter tracks how noisy and how
trending the series is without a fit. A slope damping factor < 1 keeps multi-step forecasts
from running away on a burst.
"""

from __future__ import annotations

import math

import numpy as np

from sla_planner.forecasters.robust import RobustForecaster


class KalmanForecaster(RobustForecaster):
    name = "kalman"
    min_history = 2

    def __init__(
        self,
        interval_s: float = 60.0,
        adapt_rate: float = 0.02,
        slope_damping: float = 0.9,
        **kw: object,
    ) -> None:
        super().__init__(interval_s, **kw)  # type: ignore[arg-type]
        a = float(adapt_rate)
        self.adapt_rate = a if math.isfinite(a) and 0.0 < a < 1.0 else 0.02
        phi = float(slope_damping)
        self.slope_damping = phi if math.isfinite(phi) and 0.0 <= phi <= 1.0 else 0.9
        self._F = np.array([[1.0, 1.0], [0.0, self.slope_damping]])
        self._reset_model()

    def _reset_model(self) -> None:
        self._x: np.ndarray | None = None
        self._P = np.zeros((2, 2))
        self._R = math.nan
        self._Q = np.zeros(2)
        self._first = math.nan

    def _floor(self) -> float:
        # Keeps the filter responsive on constant series (zero variance) without dividing by 0.
        level = 0.0 if self._x is None else float(self._x[0])
        return 1e-6 * (1.0 + level * level) + 1e-9

    def _update(self, value: float) -> None:
        if self._x is None:
            if math.isnan(value):
                return
            if math.isnan(self._first):
                self._first = value
                return
            # Initialise from the first two valid points: level, zero slope, variance from the jump.
            d2 = (value - self._first) ** 2
            self._R = max(d2 / 2.0, 1e-6 * (1.0 + value * value))
            self._Q = np.array([self._R * 0.1, self._R * 1e-3])
            self._x = np.array([value, 0.0])
            self._P = np.diag([self._R, self._R * 0.01])
            return
        F = self._F
        x = F @ self._x
        P = F @ self._P @ F.T + np.diag(self._Q)
        if math.isnan(value):
            self._x, self._P = x, P  # a gap: predict only, uncertainty grows
            return
        v = value - x[0]
        S = P[0, 0] + self._R
        K = P[:, 0] / S
        self._x = x + K * v
        self._P = P - np.outer(K, P[0, :])
        self._P = 0.5 * (self._P + self._P.T)  # keep symmetric against rounding
        a, floor = self.adapt_rate, self._floor()
        self._R = max((1 - a) * self._R + a * (v * v - P[0, 0]), floor)
        kv = K * v
        self._Q = np.maximum((1 - a) * self._Q + a * kv * kv, [floor, floor * 1e-3])
        if not (np.all(np.isfinite(self._x)) and np.all(np.isfinite(self._P))):
            raise FloatingPointError("filter state became non-finite")

    def _predict(self, horizon: int) -> np.ndarray | None:
        if self._x is None:
            self.fallback_reason = "filter not initialised (needs 2 valid points); last value"
            return None
        self.fallback_reason = None
        phi = self.slope_damping
        level, slope = float(self._x[0]), float(self._x[1])
        steps = np.arange(1, horizon + 1, dtype=float)
        # sum_{i=1..h} phi^i: how much of the current slope each step still carries.
        reach = steps if phi == 1.0 else phi * (1 - phi**steps) / (1 - phi)
        return level + slope * reach

    def _step_scale(self, horizon: int) -> np.ndarray:
        if self._x is None:
            return super()._step_scale(horizon)
        F, Q = self._F, np.diag(self._Q)
        P = self._P.copy()
        var = np.empty(horizon)
        for i in range(horizon):
            P = F @ P @ F.T + Q
            var[i] = P[0, 0] + self._R
        return np.sqrt(var / var[0])
