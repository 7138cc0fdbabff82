"""Online-backtest ensemble: blend (or pick) member forecasters by their recent error.

Every observation scores each member's forecasts that targeted it (made 1..H steps earlier)
with the pinball loss at the planning quantile -- the loss of exactly the number the planner
provisions for -- and keeps an exponentially weighted average of it (half-life `half_life`
steps). Forecasts are the members' mean and quantile paths averaged with weights
    w_i ~ exp(-(L_i / L_best - 1) / temperature)
(quantile averaging; `select=True` takes the best member only). A member is trusted only after
`min_scored` scored steps; until then the ensemble is cautious: mean = the members' average,
each quantile path = the members' highest (when it cannot yet tell which model is right, it
provisions for the most pessimistic one). Pure: no I/O, no clock.

The planning quantile is learnt from the caller: the quantile the last forecast() asked for
(DemandForecaster asks for the planner's planning_quantile), `quantile` until then.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from sla_planner.forecasters.base import MAX_HORIZON, Forecast, Forecaster
from sla_planner.forecasters.robust import MAX_VALUE, sanitize

DEFAULT_MEMBERS = ("last", "ewma", "seasonal_naive")


def pinball(y: float, u: float, q: float) -> float:
    """Pinball (quantile) loss of forecast u for actual y at quantile q."""
    d = y - u
    return q * d if d >= 0 else (q - 1.0) * d


class EnsembleForecaster:
    name = "ensemble"

    def __init__(
        self,
        factories: Sequence[Callable[[], Forecaster]],
        interval_s: float = 60.0,
        quantile: float = 0.9,
        horizon: int = 3,
        half_life: float = 120.0,
        temperature: float = 0.05,
        min_scored: int = 60,
        select: bool = False,
    ) -> None:
        """`factories` make the members (the registry builds them by name: DEFAULT_MEMBERS)."""
        self.interval_s = float(interval_s)
        self.members: list[Forecaster] = [f() for f in factories]
        self.window = getattr(self.members[0], "window", None) if self.members else None
        if not self.members:
            raise ValueError("an ensemble needs at least one member forecaster")
        self.quantile = float(quantile) if 0.0 < float(quantile) < 1.0 else 0.9
        self.horizon = max(int(horizon), 1)
        self.decay = 0.5 ** (1.0 / max(float(half_life), 1.0))
        self.temperature = max(float(temperature), 1e-6)
        self.min_scored = max(int(min_scored), 0)
        self.select = bool(select)
        m = len(self.members)
        self.loss = np.zeros(m)  # EW average pinball loss per member
        self._weight_sum = 0.0  # EW normaliser (shared: all members scored together)
        self.scored = 0
        # Per member, the q-paths made after each of the last H observations.
        self._made: deque[np.ndarray] = deque(maxlen=self.horizon)  # shape (members, H)
        self._cache: tuple[float, list[Forecast]] | None = None

    # -- protocol ---------------------------------------------------------------------------
    def observe(self, value: float) -> None:
        self._observe(value, scored=True)

    def observe_unscored(self, value: float) -> None:
        """Learn `value` (every member does) without scoring anyone on it: an outlier the
        caller clipped must not reweigh the members, nor train their error models."""
        self._observe(value, scored=False)

    def _observe(self, value: float, scored: bool) -> None:
        v = sanitize(value)
        if scored and not math.isnan(v) and self._made:
            # _made[-k] was made k steps before this value; its step k targets it.
            losses = np.zeros(len(self.members))
            used = 0
            for k in range(1, len(self._made) + 1):
                paths = self._made[-k]
                losses += [pinball(v, float(u), self.quantile) for u in paths[:, k - 1]]
                used += 1
            losses /= max(used, 1)
            self.loss = self.decay * self.loss + (1.0 - self.decay) * losses
            self._weight_sum = self.decay * self._weight_sum + (1.0 - self.decay)
            self.scored += 1
        for m in self.members:
            unscored = None if scored else getattr(m, "observe_unscored", None)
            (unscored or m.observe)(v)
        self._cache = None
        # What each member would plan for now: scored when the actuals arrive.
        fcs = [m.forecast(self.horizon, (self.quantile,)) for m in self.members]
        self._cache = (self.quantile, fcs)
        self._made.append(np.vstack([_path(f.upper(self.quantile), self.horizon) for f in fcs]))

    def forecast(self, horizon: int, quantiles: Sequence[float] = (0.9, 0.99)) -> Forecast:
        try:
            h = min(max(int(horizon), 0), MAX_HORIZON)
        except (TypeError, ValueError, OverflowError):
            h = 0
        qs = [float(q) for q in quantiles if 0.0 < float(q) < 1.0]
        if len(qs) == 1 and qs[0] != self.quantile:
            self.quantile = qs[0]  # learn the planning quantile; score at it from now on
            self._cache = None
        cached = self._cache
        if cached is not None and h <= self.horizon and set(qs) <= {cached[0]}:
            fcs = cached[1]
        else:
            fcs = [m.forecast(h, tuple(qs) or (self.quantile,)) for m in self.members]
        w = self.weights()
        cautious = not self.trusted
        mean = sum(wi * _path(f.mean, h) for wi, f in zip(w, fcs, strict=True))
        out: dict[float, np.ndarray] = {}
        below = np.asarray(mean, dtype=float)
        for q in sorted(qs):
            paths = np.vstack([_path(f.upper(q), h) for f in fcs])
            p = paths.max(axis=0) if cautious else w @ paths
            p = np.maximum(np.asarray(p, dtype=float), below)
            out[q] = p
            below = p
        return Forecast(mean=np.clip(np.asarray(mean, dtype=float), 0.0, MAX_VALUE), quantiles=out)

    # -- introspection ----------------------------------------------------------------------
    @property
    def trusted(self) -> bool:
        """Enough scored steps to weigh members by their loss."""
        return self.scored >= self.min_scored and self._weight_sum > 0

    def weights(self) -> np.ndarray:
        m = len(self.members)
        if not self.trusted:
            return np.full(m, 1.0 / m)
        loss = self.loss / self._weight_sum
        best = float(loss.min())
        if self.select or best <= 0:
            w = (loss <= best).astype(float)
        else:
            w = np.exp(-(loss / best - 1.0) / self.temperature)
        return w / w.sum()

    def best(self) -> str:
        """Name of the member with the lowest recent loss."""
        return str(getattr(self.members[int(np.argmin(self.loss))], "name", "?"))


def _path(x: np.ndarray, h: int) -> np.ndarray:
    a = np.asarray(x, dtype=float).reshape(-1)
    if not np.isfinite(a).all():  # (cheap check first: this runs ~10 times per observation)
        a = np.nan_to_num(a, nan=0.0, posinf=MAX_VALUE, neginf=0.0)
    if a.size >= h:
        return a[:h]
    fill = a[-1] if a.size else 0.0
    return np.concatenate([a, np.full(h - a.size, fill)])
