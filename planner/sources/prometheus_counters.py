"""Per-interval increases of Prometheus counters from their values at interval boundaries.

Pure numpy, no I/O. Why not PromQL's `increase()`: it extrapolates to the window edges, so a
per-interval count from it is off by up to a scrape interval's worth of requests even when the
data is perfect, and the dry run over Prometheus would not agree with the dry run over the
trace it came from. Differences of the counter's own values at the boundaries are exact when
scrapes land on the boundaries, and otherwise shift each request by less than one scrape
interval while preserving the total (the per-interval counts telescope).

Rules, per series, for the value v[k] at boundary k (NaN = no sample within the lookback):

* both ends present: increase = v[k+1] - v[k]; a decrease is a counter reset (restart).
  Given the raw samples between the two boundaries (`raw`), the increase is Prometheus'
  increase() without extrapolation: the growth between consecutive samples, a drop counted as
  a restart from 0, so the part before the restart is kept (without them: v[k+1], counted up
  from 0). A reset followed by growth past the old value within one interval is not seen as a
  drop and counts only the net change.
* a gap in the middle (absent at one or more boundaries, present on both sides): the growth
  across the gap is spread evenly over its intervals, so requests are neither lost nor turned
  into a false zero followed by a spike.
* before a series' first value or after its last one: no increase. A series first seen in the
  middle of a range (a new pod) is counted from its first sample on (with `raw`, from its
  first sample inside the interval where it appears; without, from the next boundary); one
  that disappears (a pod that stopped) stops contributing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

# Raw samples of one series strictly after boundary i up to boundary j (None: not known).
RawSamples = Callable[[int, int], "np.ndarray | None"]


def increase_of(samples: Sequence[float] | np.ndarray) -> float:
    """Prometheus' increase() over consecutive raw samples, without extrapolation: the sum of
    the rises, a drop counted as a restart from 0 (the value after it)."""
    v = np.asarray(samples, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return 0.0
    d = np.diff(v)
    return float(np.where(d < 0, v[1:], d).sum())


def series_increases(values: np.ndarray, raw: RawSamples | None = None) -> np.ndarray:
    """Increase per interval (len(values) - 1) of one counter series; see the module rules."""
    v = np.asarray(values, dtype=float)
    n = max(v.size - 1, 0)
    out = np.zeros(n)
    idx = np.flatnonzero(np.isfinite(v))
    if idx.size == 0:
        return out
    vals = v[idx]
    if raw is not None and idx[0] > 0:  # first seen inside interval idx[0] - 1
        head = raw(int(idx[0]) - 1, int(idx[0]))
        if head is not None:
            out[idx[0] - 1] = increase_of([*head, vals[0]])
    if idx.size < 2:
        return out
    d = np.diff(vals)
    drops = np.flatnonzero(d < 0)
    d[drops] = vals[1:][drops]  # reset: the counter restarted from 0
    for p in drops if raw is not None else ():
        between = raw(int(idx[p]), int(idx[p + 1]))
        if between is not None:
            d[p] = increase_of([vals[p], *between, vals[p + 1]])
    gaps = np.diff(idx)
    out[idx[0] : idx[-1]] = np.repeat(d / gaps, gaps)
    return out


def summed_increases(
    series: Sequence[np.ndarray], n: int, raw: Sequence[RawSamples | None] | None = None
) -> np.ndarray:
    """Sum over series of each one's increase in each of the n intervals (n + 1 boundaries);
    `raw[i]` gives series i's raw samples (see series_increases)."""
    total = np.zeros(n)
    for i, values in enumerate(series):
        total += series_increases(values, raw[i] if raw is not None else None)
    return total


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is not > 0 (no observations in the interval)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(num.shape, math.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


def parse_le(text: str) -> float:
    return math.inf if text.strip() in ("+Inf", "Inf", "inf", "+inf") else float(text)


def bucket_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float:
    """Prometheus' `histogram_quantile` over one set of cumulative bucket counts.

    Same algorithm as Prometheus (promql/quantile.go): buckets sorted by upper bound, a +Inf
    bucket required, counts forced monotone, linear interpolation inside the bucket holding
    the rank, the lowest bucket starting at 0, and the rank falling in +Inf answering with the
    highest finite bound. NaN when there are no observations.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    pairs = sorted(zip(bounds, counts, strict=True), key=lambda p: p[0])
    if not pairs or not math.isinf(pairs[-1][0]):
        return math.nan
    merged: list[list[float]] = []
    for b, c in pairs:  # coalesce duplicate bounds
        if merged and merged[-1][0] == b:
            merged[-1][1] += c
        else:
            merged.append([b, float(c)])
    for i in range(1, len(merged)):  # ensure monotone cumulative counts
        merged[i][1] = max(merged[i][1], merged[i - 1][1])
    if len(merged) < 2:
        return math.nan
    total = merged[-1][1]
    if not total > 0:
        return math.nan
    rank = q * total
    b = next(i for i in range(len(merged)) if merged[i][1] >= rank or i == len(merged) - 1)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[b][0], merged[b][1]
    if b > 0:
        start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return start + (end - start) * (rank / count)


def interval_quantiles(q: float, bucket_increases: Mapping[float, np.ndarray]) -> np.ndarray:
    """Per interval, the q-quantile of the observations that arrived in it, from the per-`le`
    increases (already summed over series)."""
    if not bucket_increases:
        return np.array([])
    bounds = sorted(bucket_increases)
    table = np.stack([bucket_increases[b] for b in bounds], axis=1)
    return np.array([bucket_quantile(q, bounds, row) for row in table])


def bucket_counts(cumulative: Mapping[float, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-interval observations per bucket from the per-`le` increases of cumulative bucket
    counters (summed over series): the finite bounds (ascending) and an (n, B + 1) array whose
    last column is above the largest finite bound. Cumulative counts are forced monotone (as
    histogram_quantile does), so a bucket never holds a negative count. None without a finite
    bound; without a +Inf bucket the largest finite one closes the histogram."""
    bounds = sorted(b for b in cumulative if math.isfinite(b))
    if not bounds:
        return None
    top = cumulative.get(math.inf)
    cols = [np.asarray(cumulative[b], dtype=float) for b in bounds]
    cols.append(np.asarray(top, dtype=float) if top is not None else cols[-1])
    cum = np.maximum.accumulate(np.nan_to_num(np.stack(cols, axis=1), nan=0.0), axis=1)
    counts = np.diff(cum, axis=1, prepend=0.0)
    return np.asarray(bounds, dtype=float), np.maximum(counts, 0.0)
