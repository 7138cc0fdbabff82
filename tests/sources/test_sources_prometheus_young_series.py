"""Scrape gaps on a young request-counter series (issue 18 item 6), through a REAL Prometheus
backfilled with a frontend scraped every second (tests/support/demand_history.py).

The scrape interval decides how old an interval's newest sample may be before the interval is
a scrape gap (2 x interval + 1 s). It was estimated once, as lookback / samples in the
lookback, and kept: read 10 s after the series began (11 samples in 300 s) it came out 27 s,
so a 45 s Prometheus outage at a true 100 requests per interval read 0, 0, 0, 0, then ~500,
none flagged. It is now the median spacing of the samples' own timestamps, at every read."""

from __future__ import annotations

import pytest
from support.demand_history import Fault, frontend_history
from support.prometheus_server import INSTALL_HINT, PrometheusServer, prometheus_available

from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_source import PrometheusSource

pytestmark = [
    pytest.mark.slow,  # real Prometheus server
    pytest.mark.skipif(not prometheus_available(), reason=f"needs prometheus: {INSTALL_HINT}"),
]

T0 = 1_700_158_500.0  # the series' first scrape (history well before Prometheus' head)
STEP = 10.0
RPS = 10.0  # a true 100 requests per interval
GAP = (T0 + 100.5, T0 + 145.5)  # Prometheus down 45 s: no scrape from 101 to 145


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    text = frontend_history(T0, [(300.0, RPS)], scrape_s=1.0, faults=[Fault("hole", *GAP)])
    with PrometheusServer(tmp_path_factory.mktemp("young"), openmetrics=text) as server:
        yield server


def _source(prom) -> PrometheusSource:
    return PrometheusSource(PrometheusConfig(url=prom.url, preset="dynamo"))


def test_a_gap_on_a_young_series_is_incomplete_not_a_drop(prom) -> None:
    src = _source(prom)
    (first,) = src.fetch(T0, T0 + STEP, STEP)  # the loop's first read: the series is 10 s old
    assert first.requests == pytest.approx(100, abs=10)
    read = []
    for k in range(2, 20):  # then one interval at a time, as the live loop asks
        end = T0 + k * STEP
        (s,) = src.fetch(end - STEP, end, STEP)
        read.append((end - T0, s.requests, s.incomplete))
    for _at, requests, why in read:
        # Every interval either counts its ~100 requests or says it is incomplete: a scrape
        # gap is never read as fewer requests.
        assert why is not None or requests == pytest.approx(100, abs=10), read
    flagged = [at for at, _, why in read if why is not None]
    assert flagged and all(GAP[0] - T0 < at <= GAP[1] - T0 + STEP for at in flagged), read
    assert all("scrape gap" in why for _, _, why in read if why is not None), read


def test_across_the_gap_its_growth_is_spread_over_its_intervals(prom) -> None:
    src = _source(prom)
    src.fetch(T0, T0 + STEP, STEP)  # young first read, as above
    got = src.fetch(T0 + 90, T0 + 160, STEP)  # once data follows the gap
    assert [s.incomplete for s in got] == [None] * 7
    assert sum(s.requests for s in got) == pytest.approx(700, abs=2)
    assert all(s.requests == pytest.approx(100, abs=10) for s in got), got
