"""A counter reset or a pod replacement in the middle of an interval (issue 18 item 9), through
a REAL Prometheus backfilled with a frontend scraped every second at 10 requests/s.

A reset between two interval boundaries was read as the value after it alone (counted up from
zero), losing the part of the interval before the restart: 300 of 600. Prometheus' increase()
adds, at each drop between raw samples, the value before it; the source now does the same
from the raw samples of that interval. What is lost is only what no scrape saw (the requests
between the last scrape and the restart), as README's "Failure behaviour" says."""

from __future__ import annotations

import numpy as np
import pytest
from support.demand_history import ISL, LABELS, OSL, Fault, arrivals, frontend_history
from support.openmetrics import (
    DYNAMO,
    TOKEN_BUCKETS,
    OpenMetricsWriter,
    add_request_history,
    request_history,
)
from support.prometheus_server import INSTALL_HINT, PrometheusServer, prometheus_available

from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_source import PrometheusSource

pytestmark = [
    pytest.mark.slow,  # real Prometheus server
    pytest.mark.skipif(not prometheus_available(), reason=f"needs prometheus: {INSTALL_HINT}"),
]

T0 = 1_700_158_500.0
STEP = 60.0
RPS = 10.0  # 600 requests per interval


def _fetch(prom) -> list:
    src = PrometheusSource(PrometheusConfig(url=prom.url, preset="dynamo"))
    return src.fetch(T0, T0 + 5 * STEP, STEP)


def test_a_reset_mid_interval_counts_the_whole_interval(tmp_path) -> None:
    # The frontend restarts at 150 s (right after the scrape at 150): counters from 0.
    text = frontend_history(T0, [(330.0, RPS)], scrape_s=1.0, faults=[Fault("reset", T0 + 150.5)])
    with PrometheusServer(tmp_path, openmetrics=text) as prom:
        got = _fetch(prom)
    assert [s.requests for s in got] == [600.0] * 5, got
    assert [s.isl_mean for s in got] == [ISL] * 5 and [s.osl_mean for s in got] == [OSL] * 5


def test_two_resets_in_one_interval_count_every_part(tmp_path) -> None:
    # Restarts right after the scrapes at 130 and 160 s: each counts again from 0.
    a = arrivals(T0, [(330.0, RPS)])
    times = T0 + np.arange(0, 331, 1.0)
    restarts = np.array([T0, T0 + 130.01, T0 + 160.01])  # none of the arrivals unscraped
    since = restarts[np.searchsorted(restarts, times, side="right") - 1]
    counter = np.searchsorted(a, times) - np.searchsorted(a, since)
    hist = request_history(a, np.full(a.size, ISL), np.full(a.size, OSL), times)  # (no reset)
    w = OpenMetricsWriter()
    w.counter(DYNAMO.requests, LABELS, times, counter.astype(float))
    for name, fam in ((DYNAMO.isl, hist.isl), (DYNAMO.osl, hist.osl)):
        w.histogram(name, LABELS, times, TOKEN_BUCKETS, fam[0], fam[1])
    with PrometheusServer(tmp_path, openmetrics=w.render()) as prom:
        got = _fetch(prom)
    assert [s.requests for s in got] == [600.0] * 5, got


def test_a_pod_replaced_mid_interval_loses_at_most_a_scrape(tmp_path) -> None:
    # Pod a serves until 150 s; pod b (another series) from 150 s, first scraped at 151.
    a = arrivals(T0, [(330.0, RPS)])
    w = OpenMetricsWriter()
    for pod, keep, times in (
        ("a", a < T0 + 150, T0 + np.arange(0, 151, 1.0)),
        ("b", a >= T0 + 150, T0 + np.arange(151, 331, 1.0)),
    ):
        n = int(keep.sum())
        hist = request_history(a[keep], np.full(n, ISL), np.full(n, OSL), times)
        add_request_history(w, hist, DYNAMO, {**LABELS, "pod": pod})
    with PrometheusServer(tmp_path, openmetrics=w.render()) as prom:
        got = _fetch(prom)
    counts = [s.requests for s in got]
    assert counts[:2] == [600.0] * 2 and counts[3:] == [600.0] * 2, got
    assert 600 - RPS <= counts[2] <= 600, got  # what pod b served before its first scrape
