"""Sub-interval bursts: how far an interval's peak rate runs above its mean (pure).

Forecasts are per interval (e.g. a minute), but queues and decode batches react within
seconds: a minute whose mean fits the replicas can still hold a 10 s stretch that does not.
Sources that can see inside an interval report `DemandSample.peak_rate` (the highest rate
over sub-windows of `peak_window_s`). This keeps recent peak/mean ratios and gives the planner
a quantile of them to scale its planned rate by.

Only the burst beyond Poisson noise counts: the sizing's queueing models already assume
random (Poisson) arrivals, and the highest of k sub-window counts of a steady Poisson stream
exceeds their mean by about E[max of k normals] x sqrt(mean) -- large at low load (about
+25% at 30 requests per window), negligible at high load. Counting it again would
over-provision quiet pools. Until peak data arrives (or from a source that has none) the
factor is `fallback`.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from scipy.stats import norm

from sla_planner.model.types import DemandSample

MAX_FACTOR = 4.0  # a ratio above this is a broken source, not a burst


def expected_max_normal(k: int) -> float:
    """E[max of k iid standard normals] (Blom's approximation; 0 for k <= 1)."""
    if k <= 1:
        return 0.0
    return float(norm.ppf((k - 0.375) / (k + 0.25)))


def excess_burst(sample: DemandSample) -> float | None:
    """Peak/mean rate ratio beyond Poisson noise (>= 1), or None without usable peak data."""
    peak, n, d, w = sample.peak_rate, sample.requests, sample.duration_s, sample.peak_window_s
    if peak is None or w is None:
        return None
    if not all(math.isfinite(x) for x in (peak, n, d, w)) or n <= 0 or d <= 0 or w <= 0:
        return None
    k = round(d / w)
    if k < 2:
        return None
    mean_count = n / k  # requests per sub-window on average
    if not mean_count > 0:  # a denormal count divided by k: no traffic to speak of
        return None
    peak_count = peak * w
    noise = expected_max_normal(k) * math.sqrt(mean_count)
    return min(max((peak_count - noise) / mean_count, 1.0), MAX_FACTOR)


class BurstTracker:
    def __init__(self, window: int = 60, quantile: float = 0.9, fallback: float = 1.0) -> None:
        if window < 1:
            raise ValueError(f"burst window must be >= 1 interval, got {window}")
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"burst quantile must be in (0, 1), got {quantile}")
        if not (math.isfinite(fallback) and fallback >= 1.0):
            raise ValueError(f"burst fallback must be a finite factor >= 1, got {fallback}")
        self.quantile = quantile
        self.fallback = fallback
        self._ratios: deque[float] = deque(maxlen=int(window))

    def observe(self, sample: DemandSample) -> None:
        r = excess_burst(sample)
        if r is not None:
            self._ratios.append(r)

    @property
    def samples(self) -> int:
        return len(self._ratios)

    @property
    def factor(self) -> float:
        """The `quantile` of recent excess peak/mean ratios (>= 1); `fallback` without peak data."""
        if not self._ratios:
            return self.fallback
        return max(1.0, float(np.quantile(np.fromiter(self._ratios, float), self.quantile)))
