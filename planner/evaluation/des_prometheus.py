"""The judge's requests from Prometheus history, in bounded memory and time.

Prometheus keeps no requests, only counters, but they say enough to replay: per bin of the
request counter's scrape resolution (the smallest width that tiles an hour and is at least
both the scrape interval and the judge's 10 s BIN_S: 15 s for 15 s scrapes, 30 s for 30 s;
60 s with a queries.requests override, whose scrapes the source cannot see) the
counter's increase is the bin's request count, spread at uniform times inside it as for a
count trace (`des_requests.hour_requests`: the same rounding, chunking and MAX_JUDGED_REQUESTS),
and the token histograms' bucket increases in the bin are the shares its requests' ISL and OSL
are drawn from, each inside its bucket, with the bin's mean matched to the histogram's
sum / count (`des_lengths.histogram_lengths`; ISL and OSL independent). Counting is the
planner's own (`PrometheusSource.request_counts`: resets, new series and scrape gaps handled),
so the bins of an interval add up to the requests the planner saw in it.

Where a bin's histogram saw nothing (a counter and a histogram can disagree for a scrape), the
whole range's buckets stand in at the bin's mean; where the engine exports no buckets at all
(or a queries override gives only means), lengths are the default lognormal around each bin's
mean, and the stream says so (the dry run warns). The hour is fetched and drawn an hour at a
time (~5 range queries an hour); hour j draws from its own generator seeded by (seed, j).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sla_planner.evaluation.des import Requests
from sla_planner.evaluation.des_lengths import (
    ASSUMED,
    DEFAULT_ISL_SCV,
    DEFAULT_OSL_SCV,
    FROM_HISTOGRAMS,
    BinHistogram,
    LengthUsage,
    histogram_lengths,
    lognormal_lengths,
)
from sla_planner.evaluation.des_requests import (
    BIN_S,
    CHUNK_S,
    MAX_JUDGED_REQUESTS,
    RequestStream,
    hour_requests,
)
from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_http import iso
from sla_planner.sources.prometheus_source import PrometheusSource

# Bin widths that tile an hour, so every chunk is whole bins.
_TILES = tuple(d for d in range(int(BIN_S), int(CHUNK_S) + 1) if int(CHUNK_S) % d == 0)
TOTAL_STEP_S = 300.0  # the range's total for the up-front limit: 2,016 points a week
_SCV = {"isl": DEFAULT_ISL_SCV, "osl": DEFAULT_OSL_SCV}
_QUANTITY = {"isl": "ISL", "osl": "OSL"}


# The bin when the scrape interval is unknown (a queries.requests override: its metric is the
# user's): a usual planning interval, over which an override's increase() has samples to see.
UNKNOWN_SCRAPE_BIN_S = 60.0


def judge_bin_s(scrape_s: float | None) -> float:
    """The judge's bin for a counter scraped every `scrape_s` (None: unknown): finer bins
    would see the same sample twice (a bin of no requests, then one of two scrapes' worth)."""
    if scrape_s is None or not math.isfinite(scrape_s):
        return UNKNOWN_SCRAPE_BIN_S
    want = max(BIN_S, scrape_s)
    return float(next((d for d in _TILES if d >= want - 1e-6), CHUNK_S))


@dataclass(frozen=True)
class _Whole:
    """One length quantity over the whole range: its buckets (None: not exported) and mean."""

    hist: BinHistogram | None
    mean: float


def prometheus_requests(source: object, start: float, end: float, seed: int = 0) -> RequestStream:
    """The requests of [start, end) as Prometheus' counters describe them (module docstring).
    Raises MetricsSourceError at once when the range holds more than MAX_JUDGED_REQUESTS or
    the source has no lengths at all to draw from."""
    if not isinstance(source, PrometheusSource):
        raise TypeError(f"the judge cannot replay a {type(source).__name__}")
    total = _total(source, start, end)
    if total > MAX_JUDGED_REQUESTS:
        raise MetricsSourceError(
            f"Prometheus at {source.config.url} counts {total:.3g} requests between "
            f"{iso(start)} and {iso(end)}; the judge replays every request and takes at most "
            f"{MAX_JUDGED_REQUESTS:,} in one run. Fix: shorten --start/--end, or pass --judge "
            "none to plan without judging"
        )
    whole = {k: _whole(source, k, start, end, total) for k in ("isl", "osl")}
    exported = all(w.hist is not None for w in whole.values())
    usage = LengthUsage(FROM_HISTOGRAMS if exported else ASSUMED, fix=_fix(source))
    bin_s = judge_bin_s(source.scrape_interval_s)
    return RequestStream(_stream(source, start, end, seed, bin_s, whole, usage), usage)


def _total(source: PrometheusSource, start: float, end: float) -> float:
    """Requests in [start, end), counted TOTAL_STEP_S at a time: one difference over the
    whole range would miss a counter that restarted and grew past its old value in between."""
    if not end > start:
        return 0.0
    n = math.ceil((end - start) / TOTAL_STEP_S - 1e-9)
    step = (end - start) / n
    return float(np.sum(source.request_counts(start, n, step)))


def _fix(source: PrometheusSource) -> str:
    p = source.preset
    return (
        f"export the engines' token histograms ({p.isl[0]}_bucket, {p.osl[0]}_bucket; "
        "--preset names them)"
    )


def _whole(source: PrometheusSource, key: str, start: float, end: float, total: float) -> _Whole:
    if not end > start:
        return _Whole(None, math.nan)
    mean = float(source.length_means(key, start, 1, end - start)[0])
    found = source.length_buckets(key, start, 1, end - start)
    hist = None
    if found is not None and found[1].sum() > 0:
        hist = BinHistogram(found[0], found[1], np.array([mean]))
    if hist is None and not math.isfinite(mean) and total > 0:
        raise MetricsSourceError(
            f"Prometheus at {source.config.url} counts {total:.0f} requests between "
            f"{iso(start)} and {iso(end)} but no {_QUANTITY[key]} per request to give them in "
            f"the judge's replay: export {getattr(source.preset, key)[0]} (_sum, _count, "
            f"_bucket), fix queries.{key}, or pass --judge none"
        )
    return _Whole(hist, mean)


def _stream(
    source: PrometheusSource,
    start: float,
    end: float,
    seed: int,
    bin_s: float,
    whole: dict[str, _Whole],
    usage: LengthUsage,
) -> Iterator[Requests]:
    for j, t0 in enumerate(np.arange(start, end, CHUNK_S)):
        t0 = float(t0)
        m = max(1, math.ceil((min(t0 + CHUNK_S, end) - t0) / bin_s - 1e-9))
        counts = source.request_counts(t0, m, bin_s)
        if not np.any(counts > 0):
            continue
        draws = {k: _quantity(source, k, t0, m, bin_s, whole[k]) for k in ("isl", "osl")}
        rng = np.random.default_rng([seed, j])
        rel = t0 - start + np.arange(m) * bin_s

        draw = functools.partial(_draw_both, draws["isl"], draws["osl"], usage)
        for part in hour_requests(rng, rel, counts, draw, bin_s):
            yield Requests(part.t + start, part.isl, part.osl)


def _draw_both(
    isl: _Quantity, osl: _Quantity, usage: LengthUsage, rng: np.random.Generator, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return isl.draw(rng, owner, usage), osl.draw(rng, owner, usage)


@dataclass(frozen=True)
class _Quantity:
    """One hour's ISL or OSL as Prometheus gives it: per-bin histogram (None: not exported
    this hour) and means, with the range's buckets and mean standing in for empty bins."""

    key: str
    hist: BinHistogram | None
    means: np.ndarray
    whole: _Whole

    def draw(self, rng: np.random.Generator, owner: np.ndarray, usage: LengthUsage) -> np.ndarray:
        q = _QUANTITY[self.key]
        x = np.full(owner.size, np.nan)
        if self.hist is not None:
            fallback = self.whole.hist
            same = fallback is not None and np.array_equal(fallback.bounds, self.hist.bounds)
            x = histogram_lengths(rng, self.hist, owner, fallback if same else None)
        missing = ~np.isfinite(x)
        usage.add(q, FROM_HISTOGRAMS, int(owner.size - missing.sum()))
        if missing.any():
            m = self.means[owner[missing]]
            m = np.where(np.isfinite(m), m, self.whole.mean)
            x[missing] = lognormal_lengths(rng, m, _SCV[self.key])
            usage.add(q, ASSUMED, int(missing.sum()))
        return x


def _quantity(
    source: PrometheusSource, key: str, t0: float, m: int, bin_s: float, whole: _Whole
) -> _Quantity:
    means = source.length_means(key, t0, m, bin_s)
    found = source.length_buckets(key, t0, m, bin_s) if whole.hist is not None else None
    hist = BinHistogram(found[0], found[1], means) if found is not None else None
    return _Quantity(key, hist, means, whole)
