"""Measured attainment from the engines' latency histograms: bucket interpolation by hand, and
against a REAL Prometheus backfilled from the Azure conv trace (two frontends, a counter reset,
another model on the same server) the per-interval counts equal the trace's own."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.openmetrics import ITL_BUCKETS, TTFT_BUCKETS, synthetic_latencies

from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_attainment import PrometheusAttainment, bucket_fraction
from sla_planner.sources.prometheus_config import PrometheusConfig

INF = math.inf
SELECTOR = 'model="llama-3.1-8b"'


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        # buckets (0, 0.1] 10, (0.1, 0.2] 30, (0.2, 0.5] 40, (0.5, +Inf) 20 of 100
        (0.2, 0.40),  # on a bound: exact
        (0.15, (10 + 0.5 * 30) / 100),  # half way into (0.1, 0.2]
        (0.05, 0.5 * 10 / 100),  # the lowest bucket starts at 0
        (0.35, (40 + 0.5 * 40) / 100),
        (0.5, 0.80),
        (3.0, 0.80),  # past the highest finite bound: counted up to it only
        (0.0, 0.0),
        (-1.0, 0.0),
    ],
)
def test_bucket_fraction_by_hand(x, expected):
    bounds = [0.1, 0.2, 0.5, INF]
    cumulative = [10, 40, 80, 100]
    assert bucket_fraction(bounds, cumulative, x) == pytest.approx(expected)


def test_bucket_fraction_edges():
    assert math.isnan(bucket_fraction([0.1, INF], [0, 0], 0.05))  # no observations
    assert math.isnan(bucket_fraction([0.1, 0.2], [1, 2], 0.05))  # no +Inf bucket
    # unsorted input and a non-monotone count (a scrape race) are taken as Prometheus does
    assert bucket_fraction([INF, 0.2, 0.1], [100, 35, 40], 0.2) == pytest.approx(0.40)


@pytest.mark.slow
@pytest.mark.parametrize("step", [60.0, 15.0])
def test_attainment_equals_the_traces_own_counts(backfilled, step):
    """Targets on bucket bounds (200 ms TTFT, 25 ms ITL) make the histogram share exact: it
    must equal the requests (TTFT) and output tokens (ITL) of the trace meeting them.
    (Steps at most the scrape gap around the restart, as for the demand counters: a reset and
    regrowth inside one interval counts only the regrowth; prometheus_counters says so.)"""
    tr = backfilled.trace
    start = backfilled.first_boundary
    end = start + 50 * 60
    reader = PrometheusAttainment(PrometheusConfig(url=backfilled.url, selector=SELECTOR))
    got = reader.fetch(start, end, step, ttft_ms=200.0, itl_ms=25.0)
    assert 0.2 in TTFT_BUCKETS and 0.025 in ITL_BUCKETS
    ttft, itl = synthetic_latencies(tr.isl, tr.osl)
    assert len(got) == round((end - start) / step)
    some_miss = 0
    for w in got:
        sel = (tr.arrival_s >= w.start) & (tr.arrival_s < w.end)
        n = int(sel.sum())
        t_share = np.mean(ttft[sel] <= 0.2)
        i_share = np.sum(tr.osl[sel] * (itl[sel] <= 0.025)) / np.sum(tr.osl[sel])
        assert w.finished == n
        assert w.ttft_met == pytest.approx(n * t_share, abs=1e-6)
        assert w.itl_met == pytest.approx(n * i_share, rel=1e-9)
        assert w.met == pytest.approx(n * t_share * i_share, rel=1e-9)
        some_miss += w.met < w.finished
    assert some_miss  # the synthetic latencies straddle the targets: misses are measured


@pytest.mark.slow
def test_a_target_between_bounds_is_interpolated(backfilled):
    tr = backfilled.trace
    start = backfilled.first_boundary + 600.0
    reader = PrometheusAttainment(PrometheusConfig(url=backfilled.url, selector=SELECTOR))
    (w,) = reader.fetch(start, start + 600.0, 600.0, ttft_ms=175.0, itl_ms=25.0)
    ttft, _ = synthetic_latencies(tr.isl, tr.osl)
    sel = (tr.arrival_s >= start) & (tr.arrival_s < start + 600.0)
    lo = np.sum(ttft[sel] <= 0.15)
    hi = np.sum(ttft[sel] <= 0.2)
    assert w.ttft_met == pytest.approx(lo + 0.5 * (hi - lo))  # 175 ms: half of (150, 200]


@pytest.mark.slow
def test_missing_histograms_say_which(backfilled):
    reader = PrometheusAttainment(
        PrometheusConfig(url=backfilled.url, selector='model="nobody"', preset="dynamo")
    )
    with pytest.raises(MetricsSourceError, match="time_to_first_token_seconds_bucket"):
        reader.fetch(backfilled.first_boundary, backfilled.first_boundary + 600, 60, 200, 25)
