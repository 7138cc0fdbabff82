"""Which intervals' request counts are incomplete: a scrape gap or NaN samples (pure numpy).

Counter values at interval boundaries (`last_over_time`) hide two faults that would otherwise
read as a demand drop:

* a scrape gap (Prometheus down or not scraping): at a boundary inside the gap the newest
  sample is old, so the interval ending there counts only part of its requests, and the rest
  lands in a later interval;
* NaN samples (a broken exporter): the boundary value is NaN, and a series without a value
  at an interval's end contributes nothing to it.

Given each series' newest-sample timestamp at each boundary (`timestamp(metric)`), a boundary
is *dark* when no series has a sample younger than `max_age_s` there, and a series is *NaN* at a
boundary where it has a fresh sample whose value is NaN. Those boundary values are removed, so
`series_increases` spreads the growth across them when data follows; an interval is reported
incomplete when nothing follows to complete it (the live edge), or when nothing precedes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sla_planner.sources.prometheus_http import Labels, iso


@dataclass(frozen=True)
class Coverage:
    values: dict[Labels, np.ndarray]  # boundary values with dark and NaN points removed
    incomplete: list[str | None]  # per interval: why its count is incomplete (None: complete)


def coverage(
    values: Mapping[Labels, np.ndarray],
    stamps: Mapping[Labels, np.ndarray],
    boundaries: np.ndarray,
    max_age_s: float,
    lookback_s: float,
) -> Coverage:
    """`values`: per series, the counter at each boundary within `lookback_s` (NaN: absent,
    or a NaN sample); `stamps`: per series, its newest sample's time at each boundary (NaN:
    none); `boundaries`: the n + 1 boundary times."""
    nb = boundaries.size
    # last_over_time() keeps the metric name and timestamp() drops it: match without it.
    stamp_of = {_unnamed(k): ts for k, ts in stamps.items()}
    fresh = np.zeros(nb, bool)
    for ts in stamps.values():
        fresh |= np.isfinite(ts) & (boundaries - ts <= max_age_s)
    dark = ~fresh
    nan_any = np.zeros(nb, bool)
    for labels, v in values.items():
        ts = stamp_of.get(_unnamed(labels))
        if ts is not None:  # a sample within the lookback, yet no value: it was NaN
            nan_any |= np.isfinite(ts) & (boundaries - ts <= lookback_s) & np.isnan(v)
    if not values:
        return Coverage(dict(values), [None] * (nb - 1))
    ok = ~(dark | nan_any)
    later = np.flip(np.logical_or.accumulate(np.flip(ok)))  # a good boundary at or after k
    earlier = np.logical_or.accumulate(ok)  # a good boundary at or before k
    # A dark boundary between good ones: drop its stale values so the growth across it is
    # spread. At the edges they stay (what was scraped so far), and the interval is flagged.
    inside = np.zeros(nb, bool)
    inside[1:-1] = later[2:] & earlier[:-2]
    masked = {k: np.where(dark & inside, np.nan, v) for k, v in values.items()}
    out: list[str | None] = [None] * (nb - 1)
    for i in range(nb - 1):
        end, start = i + 1, i
        if not later[end]:  # nothing after the interval to complete it
            out[i] = _why(end, dark, nan_any, boundaries, stamps)
        elif not earlier[start]:  # nothing before it to count from
            out[i] = _why(start, dark, nan_any, boundaries, stamps)
    return Coverage(masked, out)


def _unnamed(labels: Labels) -> Labels:
    return tuple(kv for kv in labels if kv[0] != "__name__")


def _why(
    k: int,
    dark: np.ndarray,
    nan_any: np.ndarray,
    boundaries: np.ndarray,
    stamps: Mapping[Labels, np.ndarray],
) -> str:
    at = iso(float(boundaries[k]))
    if nan_any[k] and not dark[k]:
        return f"the request counter is NaN at {at}"
    newest = [float(ts[k]) for ts in stamps.values() if np.isfinite(ts[k])]
    if not newest:
        return f"no request-counter sample at {at} (scrape gap?)"
    age = float(boundaries[k]) - max(newest)
    return f"newest request-counter sample at {at} is {age:.0f} s old (scrape gap?)"


def scrape_spacing(sample_times: Sequence[np.ndarray]) -> float | None:
    """The scrape interval as the samples show it: per series the median spacing of its
    sample timestamps, then the median over series (None: no series has two samples). A
    median, so a gap (one long spacing) or a young series (few samples) does not move it,
    unlike samples-per-lookback."""
    per_series = [
        float(np.median(np.diff(np.sort(t)))) for t in sample_times if np.unique(t).size >= 2
    ]
    return float(np.median(per_series)) if per_series else None


def max_sample_age(scrape_interval_s: float | None, lookback_s: float) -> float:
    """How old a boundary's newest sample may be before the boundary counts as a gap: two scrape
    intervals (one is normal at any boundary) plus a second of ingestion delay; the lookback
    when the scrape interval is unknown."""
    if scrape_interval_s is None or not scrape_interval_s > 0:
        return lookback_s
    return 2.0 * scrape_interval_s + 1.0
