"""Robust demand: one outlier sample cannot move the plan by orders of magnitude (pure).

A counter glitch (+1e18 requests) or one absurd request (1e18 output tokens) turns one interval's
count or mean length into a number no fleet could serve; fed to the forecaster as is, it asked
for a million replicas. The guard clips each interval's request count and mean ISL / OSL
against a robust running scale -- the median of the last WINDOW intervals' raw values -- before
the forecaster, the burst tracker and the prompt-variability tracker see them, and says so.

Why these numbers (measured on the real traces, benchmarks and tests/model/
test_model_robust_demand.py): over Azure 2023 conv/code and Mooncake at 10 s and 60 s intervals,
an interval's mean ISL or OSL never exceeded 2.6x the median of the 15 before it, and its
request count never exceeded 3.3x max(median, 10 req/s x interval) -- Azure code's bursts from
near idle, which is why the count's scale has a floor. LENGTH_RATIO 8 and COUNT_RATIO 10 leave
3x headroom above that, so real traffic is never clipped, while an outlier moves the plan at
most ~10x (one order of magnitude, not six). The window holds RAW values, so an outlier never
becomes the scale, yet a real, sustained shift owns the median after WINDOW / 2 intervals and
passes unclipped from then on (clipped meanwhile: the price of not trusting one sample).
A clipped sample says which fields were clipped (`DemandSample.clipped`): the forecasters learn
the clipped value as a level, so a real shift is followed, but not as a forecast error, so one
outlier does not widen the planned-for quantile for the hundreds of intervals the residual
window keeps.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from statistics import median

from sla_planner.model.types import DemandSample

WINDOW = 15  # intervals of raw history the median scale is taken over
MIN_HISTORY = 3  # values needed before a relative clip applies
LENGTH_RATIO = 8.0  # a mean ISL / OSL above this x the median is an outlier
COUNT_RATIO = 10.0  # a request count above this x max(median, floor) is an outlier
COUNT_FLOOR_RPS = 10.0  # the count scale's floor, req/s (bursts from near idle are real)
# No model serves a context of more than 10M tokens (the longest published is 10M): a mean
# above it is broken data whatever the history says.
MAX_MEAN_TOKENS = 10_000_000.0


def _finite_nonneg(x: float | None) -> bool:
    return x is not None and math.isfinite(x) and x >= 0


class DemandGuard:
    """Clips one DemandSample at a time (in time order); see the module docstring."""

    def __init__(self, window: int = WINDOW) -> None:
        self._counts: deque[float] = deque(maxlen=window)
        self._isl: deque[float] = deque(maxlen=window)
        self._osl: deque[float] = deque(maxlen=window)

    def windows(self) -> tuple[deque[float], ...]:
        return self._counts, self._isl, self._osl

    def clip(self, sample: DemandSample) -> tuple[DemandSample, list[str]]:
        """(the sample with outliers clipped, one note per clip). Gaps (NaN) pass through."""
        notes: list[str] = []
        changes: dict[str, float | None] = {}
        n = sample.requests
        if _finite_nonneg(n):
            floor = COUNT_FLOOR_RPS * (sample.duration_s if sample.duration_s > 0 else 1.0)
            bound = self._bound(self._counts, COUNT_RATIO, floor)
            self._counts.append(n)
            if n > bound:
                changes["requests"] = bound
                if sample.peak_rate is not None and math.isfinite(sample.peak_rate):
                    changes["peak_rate"] = sample.peak_rate * bound / n  # keep the burst shape
                notes.append(self._note("request count", n, bound, COUNT_RATIO))
        if _finite_nonneg(n) and n > 0:
            for name, field, window in (
                ("ISL", "isl_mean", self._isl),
                ("OSL", "osl_mean", self._osl),
            ):
                x = getattr(sample, field)
                if not _finite_nonneg(x):
                    continue
                bound = min(self._bound(window, LENGTH_RATIO, 0.0), MAX_MEAN_TOKENS)
                window.append(x)
                if x > bound:
                    changes[field] = bound
                    notes.append(self._note(f"mean {name}", x, bound, LENGTH_RATIO))
            if "isl_mean" in changes:
                changes["isl_scv"] = None  # measured on the outlier: not the traffic's mix
        if not changes:
            return sample, notes
        clipped = tuple(f for f in ("requests", "isl_mean", "osl_mean") if f in changes)
        return dataclasses.replace(sample, **changes, clipped=clipped), notes

    def length_bounds(self) -> tuple[float, float]:
        """The most a mean ISL and OSL may be now before they count as outliers: what the
        next sample would be clipped to (the reactive path reads its lengths through these)."""
        return (
            min(self._bound(self._isl, LENGTH_RATIO, 0.0), MAX_MEAN_TOKENS),
            min(self._bound(self._osl, LENGTH_RATIO, 0.0), MAX_MEAN_TOKENS),
        )

    @staticmethod
    def _bound(window: deque[float], ratio: float, floor: float) -> float:
        if len(window) < MIN_HISTORY:
            return math.inf
        return ratio * max(median(window), floor)

    @staticmethod
    def _note(what: str, raw: float, bound: float, ratio: float) -> str:
        scale = (
            f"{ratio:g}x the median of the last {WINDOW} intervals"
            if bound < MAX_MEAN_TOKENS
            else "no model's context is longer"
        )
        return (
            f"demand guard: {what} {raw:.3g} clipped to {bound:.4g} ({scale}); one outlier "
            "sample must not move the plan by orders of magnitude"
        )
