"""The Forecaster protocol shared by every model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

# The longest forecast any model makes: a caller asking for more gets this many steps. Planning
# needs startup_s / interval_s + 1 steps (at most 1440 by PlannerConfig), so this only stops an
# absurd horizon (interval_s 1e-6 -> 1.2e8 steps) from allocating or looping without bound.
MAX_HORIZON = 10_000


@dataclass(frozen=True)
class Forecast:
    """h-step-ahead forecast: mean and upper quantiles, each an array of length h."""

    mean: np.ndarray
    quantiles: dict[float, np.ndarray]

    def upper(self, q: float) -> np.ndarray:
        """The q-quantile path; falls back to the mean when q was not computed."""
        return self.quantiles.get(q, self.mean)


@runtime_checkable
class Forecaster(Protocol):
    name: str

    def observe(self, value: float) -> None:
        """Add the next observation (NaN marks a gap)."""
        ...

    def forecast(self, horizon: int, quantiles: Sequence[float] = (0.9, 0.99)) -> Forecast:
        """Forecast min(horizon, MAX_HORIZON) steps after the last observation. Never raises
        on odd history."""
        ...
