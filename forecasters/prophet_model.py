"""Prophet (daily seasonality), refit every k steps on a bounded window, level-corrected between.

A fit costs about a second, so Prophet is refit only every `refit_every` observations on at most
`fit_window` points. Each fit predicts the whole stretch until the next fit in one call, so a step
only looks up that path. Prophet's curve misses short bursts that persist for minutes; an EWMA of
its recent errors is added to the path so the forecast follows the current level between fits.
Observations are placed on a synthetic clock (index x interval_s): daily seasonality only needs
the spacing, not the wall-clock time.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from sla_planner.forecasters.blas import single_threaded_blas
from sla_planner.forecasters.robust import RobustForecaster, refit_period

_EPOCH_S = 1_700_000_000  # arbitrary origin for the synthetic clock


def _silence_prophet() -> None:
    logging.getLogger("prophet.plot").disabled = True
    import cmdstanpy

    cmdstanpy.disable_logging()
    logging.getLogger("prophet").setLevel(logging.ERROR)
    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)


class ProphetForecaster(RobustForecaster):
    name = "prophet"
    min_history = 60

    def __init__(
        self,
        interval_s: float = 60.0,
        refit_every: int = 60,
        fit_window: int = 2880,
        correction_alpha: float = 0.3,
        **kw: object,
    ) -> None:
        super().__init__(interval_s, **kw)  # type: ignore[arg-type]
        self.refit_every = max(int(refit_every), 1)
        self.fit_window = max(int(fit_window), self.min_history)
        a = float(correction_alpha)
        self.correction_alpha = a if math.isfinite(a) and 0.0 <= a <= 1.0 else 0.3
        self._reset_model()
        self._cooling = False

    def _reset_model(self) -> None:
        # Also called after a failure: wait a refit period before the next (slow) attempt.
        self._model: Any = None
        self._path = np.zeros(0)  # yhat for absolute indices _path_start, _path_start + 1, ...
        self._path_start = 0
        self._correction = 0.0
        self._since_fit = 0
        self._fit_size = max(self.valid_count, 1)
        self._cooling = True

    def _update(self, value: float) -> None:
        index = self.n_observed - 1  # absolute index of this observation
        if self._model is not None and not math.isnan(value):
            yhat = self._yhat(index, 1)[0]
            err = value - yhat
            self._correction += self.correction_alpha * (err - self._correction)
        self._since_fit += 1
        due = self._since_fit >= refit_period(self.refit_every, self._fit_size) or (
            self._model is None and not self._cooling
        )
        if due and self.valid_count >= self.min_history:
            self._since_fit = 0
            self._cooling = False
            try:
                with single_threaded_blas():
                    self._fit()
            except Exception:
                if self._model is None:
                    raise
                self._cooling = True  # keep the previous fit until the next period

    def _fit(self) -> None:
        import pandas as pd

        _silence_prophet()  # before importing prophet: its import logs about plotly
        from prophet import Prophet

        y = self.history_array()[-self.fit_window :]
        first = self.n_observed - y.size
        ok = ~np.isnan(y)
        idx = np.arange(first, self.n_observed)[ok]
        df = pd.DataFrame({"ds": self._times(idx), "y": y[ok]})
        model = Prophet(
            daily_seasonality=True,
            weekly_seasonality=False,
            yearly_seasonality=False,
            uncertainty_samples=0,
        )
        model.fit(df)
        self._model = model
        self._fit_size = self.valid_count
        # In-sample fit at the end of the window seeds the level correction.
        tail = min(30, idx.size)
        in_sample = self._predict_at(idx[-tail:])
        resid = y[ok][-tail:] - in_sample
        self._correction = float(_ewma_last(resid, self.correction_alpha))
        self._extend_path(self.n_observed, self.refit_every + 16)

    def _times(self, idx: np.ndarray) -> Any:
        import pandas as pd

        return pd.to_datetime(_EPOCH_S + idx * self.interval_s, unit="s")

    def _predict_at(self, idx: np.ndarray) -> np.ndarray:
        import pandas as pd

        out = self._model.predict(pd.DataFrame({"ds": self._times(idx)}))
        return np.asarray(out["yhat"], dtype=float)

    def _extend_path(self, start: int, count: int) -> None:
        self._path_start = start
        self._path = self._predict_at(np.arange(start, start + count))

    def _yhat(self, start: int, count: int) -> np.ndarray:
        lo = start - self._path_start
        if lo < 0 or lo + count > self._path.size:
            self._extend_path(start, max(count, self.refit_every + 16))
            lo = 0
        return self._path[lo : lo + count]

    def _predict(self, horizon: int) -> np.ndarray | None:
        if self._model is None:
            self.fallback_reason = "Prophet not fitted yet; last value"
            return None
        self.fallback_reason = None
        return self._yhat(self.n_observed, horizon) + self._correction


def _ewma_last(x: np.ndarray, alpha: float) -> float:
    level = 0.0
    for v in x:
        if math.isfinite(v):
            level += alpha * (v - level)
    return level
