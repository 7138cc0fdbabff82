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

A count (or a mean length) beyond its bound is not even taken at the bound unless something
confirms it: 10x still bought ~50 GPUs for two intervals on one glitched counter sample (issue
18 item 3), and one 1e18-token request still moved decode ~8x for an interval.
Confirmed means the engines' own gauges show it (`DemandSample.engine_requests` /
`engine_kv`, read by the source beside the counter: a real jump fills the engines, by Little's
law requests in flight grow with the arrival rate, so they at least double or the KV cache
fills) or, without gauges, the interval before it was at a like level (a real burst ramps or
persists, so the interval before shows it too; a glitch jumps from the level in one interval,
and it and the counter "reset" after it differ by orders of magnitude).
An unconfirmed value is held at the level (the median) and said so (`suspect`): a jump from
the level in one interval, or one the engines contradict, never moves the plan; the reactive path, reading the
queues, still meets a real burst at once.
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
# A count beyond the bound is confirmed by the engines when their requests in flight reach
# this x their median (a real >= 10x jump multiplies them about as much: 5x slack), or their
# KV cache fills (>= KV_FULL) where it was not.
BUSY_RATIO = 2.0
BUSY_FLOOR = 1.0  # requests in flight: the scale's floor (an idle engine's median is 0)
KV_FULL = 0.95
# Without gauges, a count beyond the bound within this factor of the interval before it is
# confirmed by it (a ramp or a sustained shift); a glitch and the counter reset after it are not.
PERSIST_RATIO = 4.0


def _finite_nonneg(x: float | None) -> bool:
    return x is not None and math.isfinite(x) and x >= 0


def _within(a: float, b: float, ratio: float) -> bool:
    return max(a, b) <= ratio * min(a, b)


class DemandGuard:
    """Clips one DemandSample at a time (in time order); see the module docstring."""

    def __init__(self, window: int = WINDOW) -> None:
        self._counts: deque[float] = deque(maxlen=window)
        self._isl: deque[float] = deque(maxlen=window)
        self._osl: deque[float] = deque(maxlen=window)
        self._busy: deque[float] = deque(maxlen=window)  # engine_requests, raw
        self._kv: deque[float] = deque(maxlen=window)  # engine_kv, raw
        self._last: dict[str, float] = {}  # per field, the last finite value, raw
        # Why the last sample's count or lengths were held as unconfirmed (None: not).
        self.suspect: str | None = None

    def windows(self) -> tuple[deque[float], ...]:
        return self._counts, self._isl, self._osl, self._busy, self._kv

    def clip(self, sample: DemandSample) -> tuple[DemandSample, list[str]]:
        """(the sample with outliers clipped, one note per clip). Gaps (NaN) pass through."""
        notes: list[str] = []
        held: list[str] = []
        changes: dict[str, float | None] = {}
        n = sample.requests
        confirmed = self._engines_confirm(sample)
        if _finite_nonneg(n):
            floor = COUNT_FLOOR_RPS * (sample.duration_s if sample.duration_s > 0 else 1.0)
            bound = self._bound(self._counts, COUNT_RATIO, floor)
            to = self._judge("request count", "requests", n, bound, confirmed, notes, held)
            if to != n:
                changes["requests"] = to
                if sample.peak_rate is not None and math.isfinite(sample.peak_rate):
                    changes["peak_rate"] = sample.peak_rate * to / n  # keep the burst shape
        if _finite_nonneg(n) and n > 0:
            for name, field in (("mean ISL", "isl_mean"), ("mean OSL", "osl_mean")):
                x = getattr(sample, field)
                if not _finite_nonneg(x):
                    continue
                window = self._isl if field == "isl_mean" else self._osl
                bound = min(self._bound(window, LENGTH_RATIO, 0.0), MAX_MEAN_TOKENS)
                to = self._judge(name, field, x, bound, confirmed, notes, held)
                if to != x:
                    changes[field] = to
            if "isl_mean" in changes:
                changes["isl_scv"] = None  # measured on the outlier: not the traffic's mix
        self.suspect = "; ".join(held) or None
        if not changes:
            return sample, notes
        clipped = tuple(f for f in ("requests", "isl_mean", "osl_mean") if f in changes)
        return dataclasses.replace(sample, **changes, clipped=clipped), notes

    def _judge(
        self,
        what: str,
        field: str,
        x: float,
        bound: float,
        confirmed: bool | None,
        notes: list[str],
        held: list[str],
    ) -> float:
        """The value to learn for `field`: `x` within its bound; beyond it, the bound when
        confirmed (module doc), else the level (the median), held as suspect data."""
        window = {"requests": self._counts, "isl_mean": self._isl, "osl_mean": self._osl}[field]
        last = self._last.get(field)
        self._last[field] = x
        to = x
        if x > bound:
            persists = last is not None and _within(x, last, PERSIST_RATIO)
            if window and (confirmed is False or (confirmed is None and not persists)):
                to = median(window)
                held.append(self._suspect_note(what, x, to, confirmed is False))
                notes.append(held[-1])
            else:
                to = bound
                ratio = COUNT_RATIO if field == "requests" else LENGTH_RATIO
                notes.append(self._note(what, x, bound, ratio))
        window.append(x)
        return to

    def _engines_confirm(self, sample: DemandSample) -> bool | None:
        """Do the engines' gauges show a jump (None: no gauges, or no history of them yet)?
        Their windows learn every finite reading."""
        verdicts = []
        busy, kv = sample.engine_requests, sample.engine_kv
        if _finite_nonneg(busy):
            assert busy is not None
            if len(self._busy) >= MIN_HISTORY:
                verdicts.append(busy >= BUSY_RATIO * max(median(self._busy), BUSY_FLOOR))
            self._busy.append(busy)
        if _finite_nonneg(kv):
            assert kv is not None
            if len(self._kv) >= MIN_HISTORY:
                verdicts.append(kv >= KV_FULL > median(self._kv))
            self._kv.append(kv)
        return any(verdicts) if verdicts else None

    @staticmethod
    def _suspect_note(what: str, raw: float, level: float, contradicted: bool) -> str:
        why = (
            "the engines' requests in flight and KV cache do not show it"
            if contradicted
            else "the interval before does not show it and no engine gauge confirms it"
        )
        return (
            f"demand guard: {what} {raw:.3g} not confirmed ({why}); held at the level "
            f"{level:.4g}, the median of the last {WINDOW} intervals, as suspect data"
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
