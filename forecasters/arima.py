"""ARIMA (statsmodels state space), refit every k steps and extended in between.

The order is picked by AIC from a few small candidates (cheap search) on the first fit and
every `search_every` refits; other refits re-estimate the chosen order warm-started from the
previous parameters. Between refits `results.extend` runs the Kalman filter over the new point
only (NaN is a native missing value), so a step costs a couple of milliseconds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from sla_planner.forecasters.blas import single_threaded_blas
from sla_planner.forecasters.robust import RobustForecaster, refit_period

DEFAULT_ORDERS: tuple[tuple[int, int, int], ...] = ((1, 1, 1), (0, 1, 1), (2, 1, 1))


class ARIMAForecaster(RobustForecaster):
    name = "arima"
    min_history = 30

    def __init__(
        self,
        interval_s: float = 60.0,
        refit_every: int = 60,
        fit_window: int = 1440,
        orders: Sequence[tuple[int, int, int]] = DEFAULT_ORDERS,
        search_every: int = 12,
        **kw: object,
    ) -> None:
        super().__init__(interval_s, **kw)  # type: ignore[arg-type]
        self.refit_every = max(int(refit_every), 1)
        self.fit_window = max(int(fit_window), self.min_history)
        self.orders = tuple(tuple(int(x) for x in o) for o in orders) or DEFAULT_ORDERS
        self.search_every = max(int(search_every), 1)
        self.order: tuple[int, ...] | None = None
        self._refits = 0
        self._reset_model()
        self._cooling = False

    def _reset_model(self) -> None:
        # Called after a failure too: wait a full refit period before retrying, so a series
        # ARIMA cannot fit does not cost a failed fit on every step.
        self._res: Any = None
        self._since_fit = 0
        self._fit_size = max(self.valid_count, 1)
        self._cooling = True
        self._fc_cache: tuple[int, np.ndarray, np.ndarray] | None = None

    def _update(self, value: float) -> None:
        self._fc_cache = None
        self._since_fit += 1
        due = self._since_fit >= refit_period(self.refit_every, self._fit_size) or (
            self._res is None and not self._cooling
        )
        if due and self.valid_count >= self.min_history:
            self._since_fit = 0
            self._cooling = False
            self._fit()
            return
        if self._res is None:
            return
        with _quiet():
            self._res = self._res.extend(np.array([value]))

    def _fit(self) -> None:
        from statsmodels.tsa.arima.model import ARIMA

        y = self.history_array()[-self.fit_window :]
        search = self.order is None or self._refits % self.search_every == 0
        candidates = self.orders if search else (self.order,)
        best: Any = None
        for order in candidates:
            start = None
            if not search and self._res is not None:
                start = self._res.params  # same order: warm start makes the refit cheaper
            try:
                with _quiet():
                    res = ARIMA(y, order=order).fit(start_params=start)
            except Exception:
                continue
            if not math.isfinite(res.aic):
                continue
            if best is None or res.aic < best.aic:
                best, self.order = res, order
        if best is None:
            if self._res is not None:
                return  # keep the previous fit (it has been extended to now) and try next time
            raise RuntimeError(f"no ARIMA order in {candidates} could be fitted")
        self._res = best
        self._refits += 1
        self._since_fit = 0
        self._fit_size = self.valid_count

    def _forecast_with_se(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        if self._fc_cache is not None and self._fc_cache[0] >= horizon:
            _, mean, se = self._fc_cache
            return mean[:horizon], se[:horizon]
        with _quiet():
            fc = self._res.get_forecast(horizon)
            mean = np.asarray(fc.predicted_mean, dtype=float)
            se = np.asarray(fc.se_mean, dtype=float)
        self._fc_cache = (horizon, mean, se)
        return mean, se

    def _predict(self, horizon: int) -> np.ndarray | None:
        if self._res is None:
            self.fallback_reason = "ARIMA not fitted yet; last value"
            return None
        self.fallback_reason = None
        return self._forecast_with_se(horizon)[0]

    def _step_scale(self, horizon: int) -> np.ndarray:
        if self._res is None:
            return super()._step_scale(horizon)
        se = self._forecast_with_se(horizon)[1]
        if not (np.all(np.isfinite(se)) and se[0] > 0):
            return super()._step_scale(horizon)
        return se / se[0]


class _quiet:
    """Silence statsmodels' warnings and numpy float warnings; BLAS on one thread."""

    def __enter__(self) -> None:
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")
        self._np = np.seterr(all="ignore")
        self._blas = single_threaded_blas()
        self._blas.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._blas.__exit__(None, None, None)
        np.seterr(**self._np)
        self._w.__exit__(*exc)
