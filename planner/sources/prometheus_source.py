"""Demand from Prometheus: a MetricsSource for the dry run over past metrics and the live loop.

One implementation, two uses: `sla-planner dry-run --prometheus URL --start T --end T` asks
for a past range; the in-cluster loop asks for the interval that just ended. Both get one
DemandSample per interval: request count, mean ISL/OSL, and where the engine exports them the
observed mean and p95 TTFT/ITL (ms).

How an interval's numbers are computed (presets):
- For each counter (requests, histogram `_sum`/`_count`/`_bucket`), one range query
  `last_over_time(<metric>{<selector>}[<lookback>])` evaluated at the interval BOUNDARIES
  start, start + step, ..., end: each series' newest raw sample at or before each boundary.
- Per series, the difference between consecutive boundaries is the interval's increase
  (`sla_planner.sources.prometheus_counters`: counter resets, gaps and vanished series handled there),
  then summed over series. Means are increase(_sum) / increase(_count); p95 is Prometheus'
  histogram_quantile algorithm over the summed per-`le` bucket increases; seconds -> ms.
- Why not `increase(X[w])`: it extrapolates to the window edges, so even perfect data gives
  per-interval counts off by up to a scrape's worth; boundary differences are exact when
  scrapes land on the boundaries (and otherwise move a request by less than one scrape
  interval, keeping totals). This is what lets a dry run over Prometheus agree exactly with
  the dry run over the trace the metrics came from.

Edges and holes:
- No look-ahead: nothing after `end` is read. An interval that ends after the newest scrape
  counts what was scraped so far (the live loop asks for completed intervals only).
- Before the data begins (no series at a boundary yet) an interval counts 0 requests: the
  source cannot tell "no traffic" from "not exported yet". `available_history()` finds where
  data begins so the dry run does not warm the forecaster up on such zeros.
- A hole in the middle longer than `lookback_s` (default 300 s, Prometheus' own lookback):
  the growth across it is spread evenly over its intervals, not turned into zeros then a spike.
  So is a shorter one that leaves an interval boundary without a fresh request-counter sample
  (a scrape gap) or with a NaN one (`sources.prometheus_coverage`).
- Intervals at the edges that a scrape gap or NaN samples leave incomplete (nothing after them
  to complete them, or nothing before) say so in `DemandSample.incomplete`, with their count as
  a lower bound: the live loop never reads them as a demand drop.
- Zero-traffic intervals have requests=0 and NaN ISL/OSL; latency fields are NaN when the
  interval had no observations and None when the engine does not export the histogram.

Overrides (`queries:` in the config) replace any quantity with your own PromQL, evaluated at
each interval END with `{window}` -> the interval as a duration (e.g. `60s`) and `{selector}`
-> the configured matchers: requests = a count in the window (summed over result series),
isl/osl = mean tokens per request, ttft_*/itl_* = seconds (one series).

Long ranges are split so no request exceeds `max_points_per_query` points per series
(Prometheus' limit is 11,000). Every failure raises MetricsSourceError with one message that
names the problem and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sla_planner.model.types import DemandSample
from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_config import PrometheusConfig, QueryOverrides
from sla_planner.sources.prometheus_counters import (
    bucket_counts,
    interval_quantiles,
    parse_le,
    ratio,
    series_increases,
    summed_increases,
)
from sla_planner.sources.prometheus_coverage import coverage, max_sample_age, scrape_spacing
from sla_planner.sources.prometheus_diagnosis import fmt_labels, no_data
from sla_planner.sources.prometheus_http import Labels, PrometheusHttp, http_from_config, iso
from sla_planner.sources.prometheus_raw import RawLookups
from sla_planner.sources.promql import (
    PRESETS,
    counter_at_boundaries,
    duration,
    render_override,
    series_selector,
)

__all__ = ["PrometheusConfig", "PrometheusSource", "QueryOverrides"]


class PrometheusSource:
    """A MetricsSource over Prometheus. `http` is injectable (tests count and inspect the
    requests); by default it is built from the config."""

    def __init__(self, config: PrometheusConfig, http: PrometheusHttp | None = None) -> None:
        self.config = config
        self.preset = PRESETS[config.preset]
        self.http = http or http_from_config(config)
        self._resolved: dict[str, str] = {}  # quantity -> metric name that had series
        self._scrape_s: float | None = None  # the request counter's last scrape-interval estimate

    def time_range(self) -> tuple[float, float] | None:
        return None  # live and unbounded; see available_history() for where data begins

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ MetricsSource

    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        if not (step_s > 0 and math.isfinite(step_s)):
            raise MetricsSourceError(f"step must be a positive number of seconds, got {step_s}")
        if not (math.isfinite(start) and math.isfinite(end)):
            raise MetricsSourceError(f"start and end must be finite times, got {start}, {end}")
        n = max(0, math.ceil((end - start) / step_s - 1e-9))
        if n == 0:
            return []
        q = self.config.queries
        g = _Grid(start, n, step_s)

        requests, incomplete = self._counts_and_coverage(g)
        need_tokens = bool(np.any(requests > 0))
        isl = self._override(g, "isl", q.isl) if q.isl else self._mean(g, "isl", need_tokens)
        osl = self._override(g, "osl", q.osl) if q.osl else self._mean(g, "osl", need_tokens)
        assert isl is not None and osl is not None
        idle = requests <= 0
        isl = np.where(idle, math.nan, isl)
        osl = np.where(idle, math.nan, osl)
        ttft_mean, ttft_p95 = self._latency(g, "ttft", q.ttft_mean, q.ttft_p95)
        itl_mean, itl_p95 = self._latency(g, "itl", q.itl_mean, q.itl_p95)
        peaks, w = self._peak_rates(g)

        def at(a: np.ndarray | None, i: int) -> float | None:
            return None if a is None else float(a[i])

        return [
            DemandSample(
                start=start + i * step_s,
                duration_s=float(step_s),
                requests=float(requests[i]),
                isl_mean=float(isl[i]),
                osl_mean=float(osl[i]),
                ttft_mean_ms=at(ttft_mean, i),
                ttft_p95_ms=at(ttft_p95, i),
                itl_mean_ms=at(itl_mean, i),
                itl_p95_ms=at(itl_p95, i),
                peak_rate=at(peaks, i),
                peak_window_s=None if peaks is None else w,
                incomplete=incomplete[i],
            )
            for i in range(n)
        ]

    def _counts_and_coverage(self, g: _Grid) -> tuple[np.ndarray, list[str | None]]:
        """Requests per interval, and which intervals a scrape gap or NaN samples left
        incomplete (see prometheus_coverage): a lower bound there, never a demand drop."""
        q = self.config.queries.requests
        if q:
            data = self._override(g, "requests", q, one_series=False, raw=True)
            absent = ~np.any(np.isfinite(np.array(list(data.values()))), axis=0)
            counts = np.nansum(np.array(list(data.values())), axis=0)
            why = [
                f"the queries.requests override has no value at {iso(g.start + (i + 1) * g.step)}"
                if absent[i]
                else None
                for i in range(g.n)
            ]
            return np.maximum(np.nan_to_num(counts, nan=0.0), 0.0), why
        name, data = self._preset_series(g)
        sel = series_selector(name, self.config.selector)
        stamps = self._range(f"timestamp({sel})", g.start, g.end, g.step)
        lookback = max(g.step, self.config.lookback_s)
        scrape_s = self._scrape_interval(sel, g.end)
        age = self.config.max_sample_age_s or max_sample_age(scrape_s, lookback)
        boundaries = g.start + g.step * np.arange(g.n + 1)
        cov = coverage(data, stamps, boundaries, age, lookback)
        return np.maximum(self._summed(name, cov.values, g), 0.0), cov.incomplete

    def _scrape_interval(self, sel: str, at: float) -> float | None:
        """The request counter's scrape interval, from its samples' own timestamps in the
        lookback before `at`, at every read (a young series' few samples, or a gap, do not
        skew a median spacing as they skewed samples-per-lookback once). The last estimate
        stands in while no series has two samples there (a gap longer than the lookback)."""
        raw = self.http.samples(f"{sel}[{duration(self.config.lookback_s)}]", at)
        found = scrape_spacing([times for _, times, _ in raw])
        if found is not None:
            self._scrape_s = found
        return self._scrape_s

    def _peak_rates(self, g: _Grid) -> tuple[np.ndarray | None, float]:
        """Highest sub-window request rate per interval: the same request counter on a grid
        of `peak_window_s`; None when unset or the interval holds fewer than two windows."""
        w = self.config.peak_window_s
        if w is None:
            return None, math.nan
        k = g.step / w
        if k < 2 - 1e-9 or abs(k - round(k)) > 1e-6:
            return None, w
        counts = self._request_counts(_Grid(g.start, g.n * round(k), w))
        return counts.reshape(g.n, round(k)).max(axis=1) / w, w

    def _request_counts(self, g: _Grid) -> np.ndarray:
        """Requests per interval of `g` (override query or preset counter), >= 0, NaN as 0."""
        q = self.config.queries.requests
        counts = (
            self._override(g, "requests", q, one_series=False) if q else self._preset_requests(g)
        )
        return np.maximum(np.nan_to_num(counts, nan=0.0), 0.0)

    def available_history(self, start: float, step_s: float, max_intervals: int) -> int:
        """How many whole intervals just before `start` (up to `max_intervals`) have data, so
        a dry run warms the forecaster up on real history, not on zeros before it began."""
        if max_intervals <= 0:
            return 0
        g = _Grid(start - max_intervals * step_s, max_intervals, step_s)
        q = self.config.queries
        if q.requests:
            expr = render_override(q.requests, step_s, self.config.selector)
            data = self._range(expr, g.start + step_s, g.end, step_s)
            present = [np.flatnonzero(np.isfinite(v)) for v in data.values()]
            firsts = [int(p[0]) for p in present if p.size]
            return max_intervals - min(firsts) if firsts else 0
        found = self._first_with_series("requests", self.preset.requests, "", g)
        if found is None:
            return 0
        firsts = [int(np.flatnonzero(np.isfinite(v))[0]) for v in found[1].values()]
        return max_intervals - min(firsts)

    # ------------------------------------------------------------------ presets

    def _range(self, expr: str, t0: float, t1: float, step: float) -> dict[Labels, np.ndarray]:
        return self.http.query_range(expr, t0, t1, step, self.config.max_points_per_query)

    def _boundaries(self, g: _Grid, metric: str) -> dict[Labels, np.ndarray]:
        lookback = max(g.step, self.config.lookback_s)
        expr = counter_at_boundaries(metric, self.config.selector, lookback)
        return self._range(expr, g.start, g.end, g.step)

    def _first_with_series(
        self, key: str, names: Sequence[str], suffix: str, g: _Grid
    ) -> tuple[str, dict[Labels, np.ndarray]] | None:
        """The first of `names` (+suffix) with any series in the range; remembered, so the
        live loop does not re-probe older names every interval."""
        cached = self._resolved.get(key)
        ordered = ([cached] if cached else []) + [n for n in names if n != cached]
        for name in ordered:
            data = self._boundaries(g, name + suffix)
            if data:
                self._resolved[key] = name
                return name, data
        return None

    def _preset_series(self, g: _Grid) -> tuple[str, dict[Labels, np.ndarray]]:
        found = self._first_with_series("requests", self.preset.requests, "", g)
        if found is None:
            raise no_data(self.config, self.http, self.preset.requests, g.start, g.end, g.step)
        return found

    def _preset_requests(self, g: _Grid) -> np.ndarray:
        name, data = self._preset_series(g)
        return self._summed(name, data, g)

    def _summed(self, metric: str, data: dict[Labels, np.ndarray], g: _Grid) -> np.ndarray:
        """Summed increases per interval, resets and new series counted from their raw
        samples (sources.prometheus_raw)."""
        lookups = RawLookups(self.http, g.start, g.step)
        keys = list(data)
        raw = [lookups.for_series(metric, k) for k in keys]
        return summed_increases([data[k] for k in keys], g.n, raw)

    def _mean(self, g: _Grid, key: str, required: bool) -> np.ndarray:
        families = getattr(self.preset, key)
        found = self._first_with_series(key, families, "_count", g)
        if found is None:
            if required:
                raise no_data(
                    self.config,
                    self.http,
                    tuple(f + "_count" for f in families),
                    g.start,
                    g.end,
                    g.step,
                )
            return np.full(g.n, math.nan)
        name, counts = found
        sums = self._boundaries(g, name + "_sum")
        return ratio(self._summed(name + "_sum", sums, g), self._summed(name + "_count", counts, g))

    def _latency(
        self, g: _Grid, key: str, mean_q: str | None, p95_q: str | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        mean = 1000.0 * self._override(g, f"{key}_mean", mean_q) if mean_q else None
        p95 = 1000.0 * self._override(g, f"{key}_p95", p95_q) if p95_q else None
        if mean is not None and p95 is not None:
            return mean, p95
        found = self._first_with_series(key, getattr(self.preset, key), "_count", g)
        if found is None:
            return mean, p95  # this engine does not export it: leave None
        name, counts = found
        if mean is None:
            sums = self._boundaries(g, name + "_sum")
            total = self._summed(name + "_sum", sums, g)
            mean = 1000.0 * ratio(total, self._summed(name + "_count", counts, g))
        if p95 is None:
            by_le = _by_le(self._boundaries(g, name + "_bucket"))
            p95 = 1000.0 * interval_quantiles(0.95, by_le) if by_le else np.full(g.n, math.nan)
        return mean, p95

    # ------------------------------------------------------------------ the judge's requests

    def request_counts(self, start: float, n: int, step_s: float) -> np.ndarray:
        """Requests in each of n intervals of step_s from `start`, counted as `fetch` counts
        them (scrape gaps spread, resets and new series counted)."""
        return self._counts_and_coverage(_Grid(start, n, step_s))[0]

    @property
    def scrape_interval_s(self) -> float | None:
        """The request counter's scrape interval as last read (None before a read, or with a
        queries.requests override)."""
        return self._scrape_s

    def length_means(self, key: str, start: float, n: int, step_s: float) -> np.ndarray:
        """Mean tokens per request (`key` "isl" or "osl") in each interval, as `fetch` reads
        them; NaN where none were observed."""
        g = _Grid(start, n, step_s)
        q = getattr(self.config.queries, key)
        return self._override(g, key, q) if q else self._mean(g, key, required=False)

    def length_buckets(
        self, key: str, start: float, n: int, step_s: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The preset's token histogram of `key` ("isl" or "osl") per interval: finite bucket
        bounds and observations per bucket (n, B + 1; see prometheus_counters.bucket_counts).
        None when the engine exports no buckets in the range."""
        g = _Grid(start, n, step_s)
        found = self._first_with_series(f"{key}_bucket", getattr(self.preset, key), "_bucket", g)
        return bucket_counts(_by_le(found[1])) if found is not None else None

    # ------------------------------------------------------------------ overrides

    def _override(
        self, g: _Grid, name: str, template: str | None, one_series: bool = True, raw: bool = False
    ) -> Any:
        """The override's values per interval end: summed over series (`one_series` False),
        the one series, or with `raw` the per-series arrays."""
        assert template is not None
        expr = render_override(template, g.step, self.config.selector)
        data = self._range(expr, g.start + g.step, g.end, g.step)  # one point per interval END
        if not one_series:
            if not data:
                raise MetricsSourceError(
                    f"the queries.{name} override {expr!r} returned no data from Prometheus at "
                    f"{self.config.url} between {iso(g.start)} and {iso(g.end)}; run it in the "
                    "Prometheus UI and fix its metric names or selector"
                )
            return data if raw else np.nansum(np.array(list(data.values())), axis=0)
        if len(data) > 1:
            shown = ", ".join(fmt_labels(k) for k in list(data)[:3])
            raise MetricsSourceError(
                f"the queries.{name} override {expr!r} returned {len(data)} series ({shown}); "
                "it must return one: aggregate it, e.g. sum(...) / sum(...) or avg(...)"
            )
        return next(iter(data.values())) if data else np.full(g.n, math.nan)


def _by_le(data: dict[Labels, np.ndarray]) -> dict[float, np.ndarray]:
    """Bucket counters' increases per interval, summed over series by `le` (no raw lookups:
    a reset inside an interval counts from 0)."""
    by_le: dict[float, np.ndarray] = {}
    for labels, values in data.items():
        le = dict(labels).get("le")
        if le is not None:
            b = parse_le(le)
            by_le[b] = by_le.get(b, 0.0) + series_increases(values)
    return by_le


class _Grid:
    """n intervals of `step` from `start`: boundaries start .. end inclusive."""

    def __init__(self, start: float, n: int, step: float) -> None:
        self.start, self.n, self.step = start, n, step
        self.end = start + n * step
