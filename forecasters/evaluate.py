"""Walk-forward evaluation of a forecaster on a series: honest, only past data per step.

Pure (no I/O, no clock), so tests, the benchmark and an online model selector can share it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sla_planner.forecasters.base import Forecaster


@dataclass(frozen=True)
class Backtest:
    """Errors of one-step-ahead forecasts over the scored stretch."""

    steps: int  # scored steps (gaps are not scored)
    mae: float
    rmse: float
    coverage: dict[float, float] = field(default_factory=dict)  # share of actuals <= quantile
    # Mean pinball (quantile) loss per quantile: what provisioning at that quantile costs.
    pinball: dict[float, float] = field(default_factory=dict)

    def __str__(self) -> str:
        cov = ", ".join(f"q{q:g}={c:.3f}" for q, c in sorted(self.coverage.items()))
        pin = ", ".join(f"pinball{q:g}={p:.2f}" for q, p in sorted(self.pinball.items()))
        return f"steps={self.steps} mae={self.mae:.2f} rmse={self.rmse:.2f} {cov} {pin}"


def backtest(
    forecaster: Forecaster,
    series: Sequence[float] | np.ndarray,
    warmup: int,
    quantiles: Sequence[float] = (0.9, 0.99),
    horizon: int = 1,
) -> Backtest:
    """Feed `series` in order; from index `warmup` on, score the forecast made `horizon`
    steps earlier against each actual."""
    y = np.asarray(series, dtype=float)
    h = max(int(horizon), 1)
    pending: dict[int, tuple[float, dict[float, float]]] = {}
    errs: list[float] = []
    hits = {q: 0 for q in quantiles}
    loss = {q: 0.0 for q in quantiles}
    for t, value in enumerate(y):
        made = pending.pop(t, None)
        if made is not None and math.isfinite(value):
            mean, upper = made
            errs.append(value - mean)
            for q in quantiles:
                hits[q] += value <= upper[q]
                d = value - upper[q]
                loss[q] += q * d if d >= 0 else (q - 1) * d
        forecaster.observe(float(value))
        target = t + h
        if target >= warmup and target < y.size:
            fc = forecaster.forecast(h, quantiles)
            pending[target] = (
                float(fc.mean[h - 1]),
                {q: float(fc.upper(q)[h - 1]) for q in quantiles},
            )
    e = np.asarray(errs)
    n = int(e.size)
    if n == 0:
        nan = {q: math.nan for q in quantiles}
        return Backtest(0, math.nan, math.nan, nan, dict(nan))
    return Backtest(
        steps=n,
        mae=float(np.mean(np.abs(e))),
        rmse=float(np.sqrt(np.mean(e * e))),
        coverage={q: hits[q] / n for q in quantiles},
        pinball={q: loss[q] / n for q in quantiles},
    )
