"""Holt-Winters exponential smoothing (statsmodels), refit every k steps, updated in between.

With >= 2 days of history: additive damped trend + additive daily season
(season = round(86400 / interval_s) steps). With less: damped-trend, non-seasonal. statsmodels
fits the smoothing parameters on the window every `refit_every` observations; between fits the
same Holt-Winters recursions (statsmodels' additive form) carry the state forward one point at
a time, so each step costs microseconds and still sees the newest data.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from sla_planner.forecasters.blas import single_threaded_blas
from sla_planner.forecasters.robust import RobustForecaster, refit_period, season_length

MIN_ALPHA = 0.05


class HoltWintersForecaster(RobustForecaster):
    name = "holt_winters"
    min_history = 30

    def __init__(
        self,
        interval_s: float = 60.0,
        refit_every: int = 60,
        season: int | None = None,
        season_smoothing_s: float = 1800.0,
        **kw: object,
    ) -> None:
        super().__init__(interval_s, **kw)  # type: ignore[arg-type]
        self.refit_every = max(int(refit_every), 1)
        # Per-step season terms estimated from two noisy days are mostly noise; a centred
        # circular moving average over this span keeps the daily shape and drops the noise.
        self.season_smooth_steps = max(1, round(float(season_smoothing_s) / self.interval_s))
        self.season = max(int(season), 2) if season else season_length(self.interval_s)
        self.seasonal = False  # whether the current fit has the daily season
        self._reset_model()
        self._cooling = False

    def _reset_model(self) -> None:
        # Also called after a failure: wait a refit period before retrying an expensive fit.
        self._fitted = False
        self._since_fit = 0
        self._fit_size = max(self.valid_count, 1)
        self._cooling = True
        self._level = self._slope = 0.0
        self._alpha = self._beta = self._gamma = 0.0
        self._phi = 1.0
        self._seasons: np.ndarray = np.zeros(0)  # ring buffer; _seasons[_pos] is next step's
        self._pos = 0

    def _update(self, value: float) -> None:
        self._since_fit += 1
        want_seasonal = len(self._history) >= 2 * self.season
        due = (
            self._since_fit >= refit_period(self.refit_every, self._fit_size)
            or (not self._fitted and not self._cooling)
            or (self._fitted and want_seasonal != self.seasonal and not self._cooling)
        )
        if due and self.valid_count >= self.min_history:
            self._since_fit = 0
            self._cooling = False
            try:
                self._fit(want_seasonal)
                return
            except Exception:
                if not self._fitted:
                    raise
                self._cooling = True
                # Keep the previous parameters and state; the next refit period tries again.

        if self._fitted:
            self._step(value)

    def _step(self, y: float) -> None:
        """One Holt-Winters recursion (statsmodels' additive trend/season, damped)."""
        s = self._seasons[self._pos] if self.seasonal else 0.0
        damped_slope = self._phi * self._slope
        prior = self._level + damped_slope
        if math.isnan(y):
            y = prior + s  # a gap: advance on the forecast, learn nothing
        level = self._alpha * (y - s) + (1 - self._alpha) * prior
        self._slope = self._beta * (level - self._level) + (1 - self._beta) * damped_slope
        if self.seasonal:
            self._seasons[self._pos] = self._gamma * (y - prior) + (1 - self._gamma) * s
            self._pos = (self._pos + 1) % self.season
        self._level = level

    def _fit(self, seasonal: bool) -> None:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        y = _interpolate_gaps(self.history_array())
        if seasonal:
            model = ExponentialSmoothing(
                y,
                trend="add",
                damped_trend=True,
                seasonal="add",
                seasonal_periods=self.season,
                initialization_method="heuristic",
            )
        else:
            model = ExponentialSmoothing(
                y, trend="add", damped_trend=True, initialization_method="estimated"
            )
        with warnings.catch_warnings(), np.errstate(all="ignore"), single_threaded_blas():
            warnings.simplefilter("ignore")
            res = model.fit()
        p = res.params
        level = float(np.asarray(res.level)[-1])
        slope = float(np.asarray(res.trend)[-1])
        # res.season[t] is the season term updated at t; the next step reuses t+1-m.
        seasons = None
        if seasonal:
            seasons = _circular_smooth(
                np.asarray(res.season, dtype=float)[-self.season :], self.season_smooth_steps
            )
        if not (math.isfinite(level) and math.isfinite(slope)):
            raise FloatingPointError("Holt-Winters fit gave a non-finite state")
        if seasons is not None and not np.all(np.isfinite(seasons)):
            raise FloatingPointError("Holt-Winters fit gave non-finite seasons")
        # Commit only a fully valid fit, so a failure leaves the previous state intact.
        # A level that never moves (alpha = 0, seen on short noisy fits) cannot recover from a
        # bad initial state before the next refit; keep a little responsiveness.
        self._alpha = max(_unit(p.get("smoothing_level")), MIN_ALPHA)
        self._beta = _unit(p.get("smoothing_trend"))
        self._gamma = _unit(p.get("smoothing_seasonal")) if seasonal else 0.0
        self._phi = _unit(p.get("damping_trend"), default=0.98)
        self._level, self._slope = level, slope
        if seasons is not None:
            self._seasons, self._pos = seasons, 0
        self.seasonal = seasonal
        self._fitted = True
        self._since_fit = 0
        self._fit_size = self.valid_count

    def _predict(self, horizon: int) -> np.ndarray | None:
        if not self._fitted:
            self.fallback_reason = "Holt-Winters not fitted yet; last value"
            return None
        self.fallback_reason = None if self.seasonal else "under 2 seasons: damped trend only"
        steps = np.arange(1, horizon + 1)
        phi = self._phi
        reach = steps.astype(float) if phi == 1.0 else phi * (1 - phi**steps) / (1 - phi)
        mean = self._level + self._slope * reach
        if self.seasonal:
            mean = mean + self._seasons[(self._pos + steps - 1) % self.season]
        return mean


def _unit(value: object, default: float = 0.0) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return min(max(v, 0.0), 1.0) if math.isfinite(v) else default


def _circular_smooth(x: np.ndarray, span: int) -> np.ndarray:
    """Centred moving average treating x as a ring (the season wraps around midnight)."""
    if span <= 1 or x.size < 3:
        return x.copy()
    span = min(span, x.size)
    half = span // 2
    padded = (
        np.concatenate([x[-half:], x, x[: span - 1 - half]])
        if half
        else np.concatenate([x, x[: span - 1]])
    )
    kernel = np.full(span, 1.0 / span)
    return np.convolve(padded, kernel, mode="valid")


def _interpolate_gaps(y: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN gaps (edges take the nearest value): HW cannot skip."""
    ok = ~np.isnan(y)
    if ok.all():
        return y
    idx = np.arange(y.size)
    return np.interp(idx, idx[ok], y[ok])
