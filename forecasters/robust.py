"""Shared machinery for every forecaster: input hygiene, bounded history, fallbacks, quantiles.

Each model only says how to update its state and how to predict its mean path; this base makes
the Forecaster contract hold for all of them: observe/forecast never raise, NaN is a gap,
outputs are finite and >= 0, and upper quantiles are >= the mean and non-decreasing in q.

Quantiles come from the model's own recent one-step errors (empirical, so bursty counts get
honest tails), widened per step by the model's variance growth (sqrt(step) unless the model
knows better).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from sla_planner.forecasters.base import MAX_HORIZON, Forecast

SECONDS_PER_DAY = 86400.0
# Demand values above this are nonsense for counts or token lengths; clipping keeps squares
# and products inside float64 so no model can overflow to inf.
MAX_VALUE = 1e12
MIN_WINDOW = 300
MIN_RESIDUALS = 30  # below this the empirical quantile is too noisy; use a Gaussian guess


def default_window(interval_s: float) -> int:
    """Two days of intervals, but never fewer than MIN_WINDOW points."""
    return max(MIN_WINDOW, round(2 * SECONDS_PER_DAY / _safe_interval(interval_s)))


def season_length(interval_s: float) -> int:
    """Steps in one day at this interval."""
    return max(1, round(SECONDS_PER_DAY / _safe_interval(interval_s)))


def _safe_interval(interval_s: float) -> float:
    try:
        value = float(interval_s)
    except (TypeError, ValueError):
        return 60.0
    return value if math.isfinite(value) and value > 0 else 60.0


def sanitize(value: object) -> float:
    """A finite value in [0, MAX_VALUE], or NaN for a gap (NaN, inf, None, garbage)."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    if not math.isfinite(v):
        return math.nan
    return min(max(v, 0.0), MAX_VALUE)


class RobustForecaster:
    """Base class: subclasses implement `_update` and `_predict` (and optionally more hooks)."""

    name = "robust"
    # Valid observations a model needs before it is used; fewer -> last-value fallback.
    min_history = 1

    def __init__(
        self,
        interval_s: float = 60.0,
        window: int | None = None,
        residual_window: int = 720,
        track_horizon: int = 8,
    ) -> None:
        self.interval_s = _safe_interval(interval_s)
        self.window = max(int(window), 8) if window else default_window(self.interval_s)
        self._history: deque[float] = deque(maxlen=self.window)
        self._valid_in_window = 0
        self._last_valid = math.nan
        # Errors of the forecasts made k steps before each observation, k = 1..track_horizon:
        # the h-step quantiles are read from these directly (measured, not assumed).
        self.track_horizon = max(int(track_horizon), 1)
        keep = max(int(residual_window), MIN_RESIDUALS)
        # Ring buffers, one row per step k (filled from slot 0 until full): a numpy array so a
        # forecast reads all quantiles in one call (this runs 3x per planner decision).
        self._res_buf = np.zeros((self.track_horizon, keep))
        self._res_n = [0] * self.track_horizon
        self._res_pos = [0] * self.track_horizon
        self._paths: deque[np.ndarray] = deque(maxlen=self.track_horizon)
        self._cached_path: np.ndarray | None = None  # mean path since the last observation
        self.n_observed = 0
        # Why the last forecast did not come from the model itself (None when it did).
        self.fallback_reason: str | None = None

    # ----- public protocol -------------------------------------------------------------
    def observe(self, value: float) -> None:
        self._observe(value, scored=True)

    def observe_unscored(self, value: float) -> None:
        """Learn `value` as the next observation but record no forecast error for it: an
        outlier the caller clipped says nothing of how wrong the model usually is, and one
        huge residual would set the upper quantiles for the whole residual window."""
        self._observe(value, scored=False)

    def _observe(self, value: float, scored: bool) -> None:
        v = sanitize(value)
        path = self._cached_path
        if math.isnan(self._last_valid):
            # Before any data there is no forecast to miss by: a placeholder 0 scored against
            # the first value would set the spread for the next hundred intervals.
            path = np.full(self.track_horizon, math.nan)
        elif path is None:
            path = self._safe_mean(self.track_horizon)
        self._paths.append(path)
        self._cached_path = None
        if scored and not math.isnan(v):
            # _paths[-k] was made k steps before this observation; its step k targets it.
            keep = self._res_buf.shape[1]
            for k in range(len(self._paths)):
                if math.isnan(self._paths[-k - 1][k]):
                    continue
                pos = self._res_pos[k]
                self._res_buf[k, pos] = v - float(self._paths[-k - 1][k])
                self._res_pos[k] = (pos + 1) % keep
                self._res_n[k] = min(self._res_n[k] + 1, keep)
        self._push(v)
        try:
            self._update(v)
        except Exception as exc:  # a broken fit must not take the planner down
            self.fallback_reason = f"update failed ({type(exc).__name__}: {exc})"
            self._reset_model()

    def forecast(self, horizon: int, quantiles: Sequence[float] = (0.9, 0.99)) -> Forecast:
        try:
            h = min(max(int(horizon), 0), MAX_HORIZON)
        except (TypeError, ValueError, OverflowError):
            h = 0
        qs = sorted(_valid_quantiles(quantiles))
        if h == 0:
            return Forecast(mean=np.zeros(0), quantiles={q: np.zeros(0) for q in qs})
        full = self._safe_mean(max(h, self.track_horizon))
        self._cached_path = full[: self.track_horizon]
        mean = full[:h]
        if not qs:
            return Forecast(mean=mean, quantiles={})
        offsets = self._offsets(h, qs)  # shape (len(qs), h), each >= 0
        paths: dict[float, np.ndarray] = {}
        below = mean
        for i, q in enumerate(qs):
            path = np.maximum(mean + offsets[i], below)
            path = np.clip(np.nan_to_num(path, nan=MAX_VALUE, posinf=MAX_VALUE), 0.0, MAX_VALUE)
            paths[q] = path
            below = path
        return Forecast(mean=mean, quantiles=paths)

    # ----- hooks for subclasses -----------------------------------------------------------
    def _update(self, value: float) -> None:
        """Fold one sanitised observation (NaN = gap) into the model state."""

    def _predict(self, horizon: int) -> np.ndarray | None:
        """Mean path of length `horizon`, or None (and set fallback_reason) when not ready."""
        return None

    def _step_scale(self, horizon: int) -> np.ndarray:
        """Spread of the h-step error relative to the one-step error."""
        return np.sqrt(np.arange(1, horizon + 1, dtype=float))

    def _reset_model(self) -> None:
        """Drop fitted state after a failure so the model rebuilds from history."""

    # ----- helpers ------------------------------------------------------------------------
    @property
    def valid_count(self) -> int:
        """Valid (non-gap) observations in the window."""
        return self._valid_in_window

    @property
    def last_value(self) -> float:
        """Most recent valid observation (NaN if none yet)."""
        return self._last_valid

    def history_array(self) -> np.ndarray:
        """The bounded window of sanitised observations, NaN marking gaps."""
        return np.fromiter(self._history, dtype=float, count=len(self._history))

    def _push(self, v: float) -> None:
        if len(self._history) == self._history.maxlen and not math.isnan(self._history[0]):
            self._valid_in_window -= 1
        self._history.append(v)
        self.n_observed += 1
        if not math.isnan(v):
            self._valid_in_window += 1
            self._last_valid = v

    def _fallback_mean(self, horizon: int) -> np.ndarray:
        last = self._last_valid
        return np.full(horizon, 0.0 if math.isnan(last) else last)

    def _safe_mean(self, horizon: int) -> np.ndarray:
        mean: np.ndarray | None = None
        if self._valid_in_window < self.min_history:
            self.fallback_reason = (
                f"{self._valid_in_window} valid observations < {self.min_history} needed; "
                "using last value"
            )
        else:
            try:
                mean = self._predict(horizon)
            except Exception as exc:
                self.fallback_reason = f"predict failed ({type(exc).__name__}: {exc})"
                self._reset_model()
                mean = None
        if mean is None:
            mean = self._fallback_mean(horizon)
        mean = np.asarray(mean, dtype=float).reshape(-1)[:horizon]
        if mean.shape != (horizon,):
            mean = self._fallback_mean(horizon)
        fill = 0.0 if math.isnan(self._last_valid) else self._last_valid
        mean = np.nan_to_num(mean, nan=fill, posinf=MAX_VALUE, neginf=0.0)
        return np.clip(mean, 0.0, MAX_VALUE)

    def _offsets(self, horizon: int, qs: list[float]) -> np.ndarray:
        """Upper offsets above the mean, per quantile and step (>= 0).

        Steps with enough measured errors use their empirical quantiles; later steps (or all,
        early on) scale the last measured step by the model's error growth.
        """
        out = np.zeros((len(qs), horizon))
        keep = self._res_buf.shape[1]
        measured = 0
        for k in range(min(horizon, self.track_horizon)):
            if self._res_n[k] < MIN_RESIDUALS:
                break
            measured = k + 1
        if measured:
            full = sum(1 for k in range(measured) if self._res_n[k] == keep)
            if full:  # steady state: every full row in one call
                out[:, :full] = np.quantile(self._res_buf[:full], qs, axis=1)
            for k in range(full, measured):
                out[:, k] = np.quantile(self._res_buf[k, : self._res_n[k]], qs)
        if measured < horizon:
            try:
                scale = np.asarray(self._step_scale(horizon), dtype=float)
                if scale.shape != (horizon,) or not np.all(np.isfinite(scale)):
                    raise ValueError("bad step scale")
            except Exception:
                scale = np.sqrt(np.arange(1, horizon + 1, dtype=float))
            scale = np.maximum(scale, 1e-12)
            if measured:
                base = out[:, measured - 1] / scale[measured - 1]
            else:
                z = np.array([NormalDist().inv_cdf(q) for q in qs])
                base = z * self._prior_sigma()
            out[:, measured:] = base[:, None] * scale[None, measured:]
        out = np.nan_to_num(out, nan=0.0, posinf=MAX_VALUE, neginf=0.0)
        return np.maximum(out, 0.0)

    def _prior_sigma(self) -> float:
        """A rough one-step error scale before enough residuals exist (first differences)."""
        y = self.history_array()
        y = y[~np.isnan(y)]
        if y.size >= 3:
            return float(np.std(np.diff(y)))
        return 0.5 * abs(y[-1]) if y.size else 0.0


def refit_period(refit_every: int, fitted_on: int) -> int:
    """Steps until the next refit: every `refit_every`, but sooner while history is short
    (refit once the history has doubled), so a shaky first fit on a few points is replaced
    quickly instead of steering forecasts for a whole period."""
    return max(1, min(refit_every, fitted_on))


def _valid_quantiles(quantiles: Sequence[float] | float | None) -> list[float]:
    if quantiles is None:
        return []
    if isinstance(quantiles, int | float):
        quantiles = [quantiles]
    out: list[float] = []
    try:
        items = list(quantiles)
    except TypeError:
        return []
    for q in items:
        try:
            qf = float(q)
        except (TypeError, ValueError):
            continue
        if 0.0 < qf < 1.0 and qf not in out:
            out.append(qf)
    return out
