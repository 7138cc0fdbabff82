"""The live loop's use: a real Prometheus scraping an exporter on 127.0.0.1 every second, and
the source asked for the interval that just ended (no look-ahead; a partial interval counts
what was scraped so far)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from support.prometheus_server import PrometheusServer, free_port, prometheus_available

from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_source import PrometheusSource

pytestmark = [
    pytest.mark.slow,  # real Prometheus server
    pytest.mark.skipif(not prometheus_available(), reason="needs prometheus + promtool"),
]

BUCKETS = (100, 500, 1000, 4000)


@contextmanager
def exporter() -> Iterator[tuple[str, Counter, Histogram, Histogram]]:
    """A Dynamo-frontend-shaped exporter (prometheus_client) on 127.0.0.1."""
    reg = CollectorRegistry()
    req = Counter("dynamo_frontend_requests", "requests", ["model"], registry=reg)
    isl = Histogram(
        "dynamo_frontend_input_sequence_tokens", "isl", ["model"], buckets=BUCKETS, registry=reg
    )
    osl = Histogram(
        "dynamo_frontend_output_sequence_tokens", "osl", ["model"], buckets=BUCKETS, registry=reg
    )
    for m in (req, isl, osl):
        m.labels(model="live")  # series exist (at 0) from the first scrape
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=reg)
    try:
        yield f"127.0.0.1:{port}", req, isl, osl
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _serve(req: Counter, isl: Histogram, osl: Histogram, n: int, tokens: int) -> None:
    for _ in range(n):
        req.labels(model="live").inc()
        isl.labels(model="live").observe(tokens)
        osl.labels(model="live").observe(tokens / 10)


def test_live_interval_that_just_ended(tmp_path):
    with (
        exporter() as (target, req, isl, osl),
        PrometheusServer(tmp_path, scrape_targets=[target], scrape_interval_s=1.0) as prom,
    ):
        total = 'dynamo_frontend_requests_total{model="live"}'
        prom.wait_for(total, lambda r: bool(r) and float(r[0]["value"][1]) == 0.0)
        t0 = time.time()  # a scrape of 0 is at or before t0
        _serve(req, isl, osl, 5, 200)
        prom.wait_for(total, lambda r: float(r[0]["value"][1]) == 5.0)
        _serve(req, isl, osl, 7, 800)
        prom.wait_for(total, lambda r: float(r[0]["value"][1]) == 12.0)
        now = time.time()

        src = PrometheusSource(PrometheusConfig(url=prom.url, selector='model="live"'))
        step = now - t0
        (s,) = src.fetch(now - step, now, step)  # what the control loop asks for
        assert s.requests == 12
        assert s.isl_mean == pytest.approx((5 * 200 + 7 * 800) / 12)
        assert s.osl_mean == pytest.approx((5 * 20 + 7 * 80) / 12)
        assert s.ttft_mean_ms is None and s.itl_p95_ms is None  # not exported here
        assert all(c[2] <= now + 1e-3 for c in src.http.log.calls)  # nothing after `end`

        # The next interval is still running: it counts what has been scraped so far.
        later = src.fetch(now, now + step, step)
        assert later[0].requests == 0
        _serve(req, isl, osl, 4, 400)
        prom.wait_for(total, lambda r: float(r[0]["value"][1]) == 16.0)
        partial = src.fetch(now, now + step, step)
        assert partial[0].requests == 4 and partial[0].isl_mean == pytest.approx(400)
