"""Measured SLO attainment per interval, from the engines' latency histograms in Prometheus.

The reading the error-budget controller needs in a cluster: for each interval, how many
requests finished and how many met both targets. Prometheus has no per-request record, only
the engines' histograms (Dynamo frontend: `dynamo_frontend_time_to_first_token_seconds` and
`dynamo_frontend_inter_token_latency_seconds`; vLLM: `vllm:time_to_first_token_seconds` and
`vllm:inter_token_latency_seconds`), so per interval:

- the per-`le` bucket counts are read at the interval boundaries and differenced per series
  (counter resets, gaps and vanished pods: sla_planner.sources.prometheus_counters), exactly
  as the demand source reads its counters, then summed over series;
- share <= target: the cumulative count of the bucket holding the target, interpolated
  linearly inside it as Prometheus' `histogram_fraction` does for classic buckets (the lowest
  bucket starts at 0; a target past the highest finite bound counts up to that bound only).
  Exact when a bucket bound sits at the target (vLLM's ITL buckets have 0.025); otherwise
  within one bucket's share of observations;
- finished = the TTFT histogram's observation count (one per request); ttft_met =
  finished x TTFT share;
- ITL: the histogram observes every inter-token gap, not one value per request, so its share
  <= target is the *token-weighted* share of gaps meeting the target. Taken as the share of
  requests whose mean ITL meets it -- exact when each request's gaps sit on one side of the
  target, close in practice since a request's decode steps share their batch's conditions;
  long outputs weigh more, so it leans towards what long requests see. itl_met = finished x
  ITL share;
- met = finished x TTFT share x ITL share: the two misses taken as independent. Misses tend to
  come together (an overload hurts both), which makes the product slightly pessimistic (the
  true share meeting both is at least the product when misses are positively correlated).

Intervals without observations give finished = 0. A source that exports no TTFT histogram
raises MetricsSourceError naming the metric; without an ITL histogram the ITL share is 1
(TTFT-only SLO measured) and the sample says so with itl_met = None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sla_planner.model.size.error_budget import AttainmentSample
from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_counters import parse_le, summed_increases
from sla_planner.sources.prometheus_http import Labels, PrometheusHttp, http_from_config
from sla_planner.sources.promql import PRESETS, counter_at_boundaries


def bucket_fraction(bounds: Sequence[float], counts: Sequence[float], x: float) -> float:
    """Share of observations <= x from cumulative bucket counts (upper bounds `bounds`, a
    +Inf bucket included), interpolating linearly inside the bucket holding x. NaN when
    there are no observations."""
    pairs = sorted(zip(bounds, counts, strict=True))
    if not pairs or not math.isinf(pairs[-1][0]):
        return math.nan
    b = np.array([p[0] for p in pairs], dtype=float)
    c = np.maximum.accumulate(np.array([max(p[1], 0.0) for p in pairs], dtype=float))
    total = c[-1]
    if not total > 0:
        return math.nan
    if x < 0:
        return 0.0
    finite = b[np.isfinite(b)]
    if finite.size == 0 or x >= finite[-1]:
        return float(c[len(finite) - 1] / total) if finite.size else 0.0
    i = int(np.searchsorted(b, x, side="left"))  # first bound >= x
    lo_b = 0.0 if i == 0 else b[i - 1]
    lo_c = 0.0 if i == 0 else c[i - 1]
    if b[i] <= lo_b:
        return float(c[i] / total)
    f = (x - lo_b) / (b[i] - lo_b)
    return float((lo_c + f * (c[i] - lo_c)) / total)


class PrometheusAttainment:
    """Reads AttainmentSamples for [start, end) in intervals of `step_s` (see module doc)."""

    def __init__(self, config: PrometheusConfig, http: PrometheusHttp | None = None) -> None:
        self.config = config
        self.preset = PRESETS[config.preset]
        self.http = http or http_from_config(config)
        self._resolved: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def fetch(
        self, start: float, end: float, step_s: float, ttft_ms: float, itl_ms: float
    ) -> list[AttainmentSample]:
        if not (step_s > 0 and math.isfinite(step_s)):
            raise MetricsSourceError(f"step must be a positive number of seconds, got {step_s}")
        n = max(0, math.ceil((end - start) / step_s - 1e-9))
        if n == 0:
            return []
        ttft = self._buckets("ttft", start, n, step_s)
        if ttft is None:
            names = " or ".join(f + "_bucket" for f in self.preset.ttft)
            raise MetricsSourceError(
                f"no TTFT histogram ({names}) in Prometheus at {self.config.url} for the "
                f"selector {{{self.config.selector}}}: measured attainment needs it; check "
                "--preset and --selector"
            )
        itl = self._buckets("itl", start, n, step_s)
        out = []
        for i in range(n):
            finished = float(ttft[1][i, -1]) if ttft[1].shape[1] else 0.0
            t_share = bucket_fraction(ttft[0], ttft[1][i], ttft_ms / 1000.0)
            i_share = 1.0 if itl is None else bucket_fraction(itl[0], itl[1][i], itl_ms / 1000.0)
            t_share = 1.0 if math.isnan(t_share) else t_share
            i_share = 1.0 if math.isnan(i_share) else i_share
            out.append(
                AttainmentSample(
                    start=start + i * step_s,
                    end=start + (i + 1) * step_s,
                    finished=finished,
                    met=finished * t_share * i_share,
                    ttft_met=finished * t_share,
                    itl_met=None if itl is None else finished * i_share,
                )
            )
        return out

    def _buckets(
        self, key: str, start: float, n: int, step: float
    ) -> tuple[list[float], np.ndarray] | None:
        """(sorted bounds, per-interval cumulative counts (n, bounds)) of a histogram family
        summed over series, or None when no family of the preset has series."""
        found = self._first_with_series(key, getattr(self.preset, key), start, n, step)
        if found is None:
            return None
        by_le: dict[float, list[np.ndarray]] = {}
        for labels, values in found.items():
            le = dict(labels).get("le")
            if le is not None:
                by_le.setdefault(parse_le(le), []).append(values)
        bounds = sorted(by_le)
        table = np.zeros((n, len(bounds)))
        for j, b in enumerate(bounds):
            table[:, j] = summed_increases(by_le[b], n)
        return bounds, table

    def _first_with_series(
        self, key: str, names: Sequence[str], start: float, n: int, step: float
    ) -> dict[Labels, np.ndarray] | None:
        cached = self._resolved.get(key)
        for name in ([cached] if cached else []) + [x for x in names if x != cached]:
            lookback = max(step, self.config.lookback_s)
            expr = counter_at_boundaries(name + "_bucket", self.config.selector, lookback)
            data = self.http.query_range(
                expr, start, start + n * step, step, self.config.max_points_per_query
            )
            if data:
                self._resolved[key] = name
                return data
        return None


__all__ = ["PrometheusAttainment", "bucket_fraction"]
