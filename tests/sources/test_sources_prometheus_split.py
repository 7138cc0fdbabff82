"""Long ranges are split under the points-per-series limit, and splitting changes nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_source import PrometheusSource

pytestmark = pytest.mark.slow  # real Prometheus server

SELECTOR = 'model="llama-3.1-8b"'


def _points(call: tuple[str, float, float, float]) -> int:
    _expr, start, end, step = call
    return round((end - start) / step) + 1


def _coarsen(samples, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Requests and ISL token sums of k consecutive fine intervals."""
    req = np.array([s.requests for s in samples]).reshape(-1, k).sum(axis=1)
    tok = np.array([s.requests * s.isl_mean if s.requests else 0.0 for s in samples])
    return req, tok.reshape(-1, k).sum(axis=1)


def test_split_query_equals_unsplit_query_at_a_coarser_step(backfilled):
    start = backfilled.first_boundary
    end = start + 58 * 60
    small = PrometheusSource(
        PrometheusConfig(url=backfilled.url, selector=SELECTOR, max_points_per_query=200)
    )
    fine = small.fetch(start, end, 5.0)  # 697 boundaries per series -> 4 requests each
    # (the scrape interval is read from raw samples at one point in time: step 0)
    calls = [c for c in small.http.log.calls if c[3] > 0]
    assert all(_points(c) <= 200 for c in calls)
    per_expr: dict[str, int] = {}
    for expr, *_ in calls:
        per_expr[expr] = per_expr.get(expr, 0) + 1
    assert set(per_expr.values()) == {math.ceil(697 / 200)}

    whole = PrometheusSource(PrometheusConfig(url=backfilled.url, selector=SELECTOR))
    coarse = whole.fetch(start, end, 60.0)
    assert all(_points(c) == 59 for c in whole.http.log.calls if c[3] > 0)  # unsplit
    req, tok = _coarsen(fine, 12)
    assert req.tolist() == [s.requests for s in coarse]
    assert tok == pytest.approx([s.requests * s.isl_mean for s in coarse], rel=1e-12)


def test_prometheus_limit_is_respected_by_default_and_explained_when_raised(backfilled):
    start = backfilled.first_boundary
    end = start + 3600.0
    step = 0.25  # 14,401 boundaries: more than Prometheus' 11,000 points per series
    src = PrometheusSource(PrometheusConfig(url=backfilled.url, selector=SELECTOR))
    got = src.fetch(start, end, step)
    assert len(got) == 14400
    requests_calls = [c for c in src.http.log.calls if c[0].startswith("last_over_time(dyn")]
    requests_calls = [c for c in requests_calls if "requests_total" in c[0]]
    assert len(requests_calls) == 2 and max(_points(c) for c in requests_calls) == 11000
    hour = PrometheusSource(PrometheusConfig(url=backfilled.url, selector=SELECTOR))
    total = sum(s.requests for s in hour.fetch(start, end, 60.0))
    assert sum(s.requests for s in got) == total

    unsplit = PrometheusSource(
        PrometheusConfig(url=backfilled.url, selector=SELECTOR, max_points_per_query=20000)
    )
    with pytest.raises(MetricsSourceError, match="lower max_points_per_query"):
        unsplit.fetch(start, end, step)
