"""The reactive path's load snapshot, and the same gauges' peaks per interval beside the demand
(sources.prometheus_gauges), against a REAL Prometheus backfilled with vLLM engine gauges
(prefill and decode engines told apart by a label) and a frontend's counters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError
from support.openmetrics import TTFT_BUCKETS, OpenMetricsWriter
from support.prometheus_server import PrometheusServer, prometheus_available

from sla_planner.model.types import DemandSample
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_gauges import EngineGauges, EngineGaugeSource
from sla_planner.sources.prometheus_queues import QueueConfig, QueueReader
from sla_planner.sources.prometheus_source import PrometheusSource

T0 = 1_700_000_000.0
EVERY = 5.0


def _history() -> str:
    """Two prefill and two decode engines, 10 minutes scraped every 5 s; at T0 + 300 the
    prefill queues jump (a burst). The frontend counts 50 req/s of 2,000-token prompts; TTFT
    observations all fall in (0.3, 0.5] s."""
    t = T0 + EVERY * np.arange(121)
    w = OpenMetricsWriter()
    for i in range(2):
        waiting = np.where(t >= T0 + 300, 40.0 + i, 0.0)
        w.gauge("vllm:num_requests_waiting", {"component": "prefill", "pod": f"p{i}"}, t, waiting)
    for i in range(2):
        w.gauge(
            "vllm:num_requests_waiting",
            {"component": "decode", "pod": f"d{i}"},
            t,
            np.full(t.size, 3.0),
        )
    for i in range(2):
        w.gauge(
            "vllm:num_requests_running",
            {"component": "decode", "pod": f"d{i}"},
            t,
            np.full(t.size, 60.0 + i),
        )
        w.gauge(
            "vllm:kv_cache_usage_perc",
            {"component": "decode", "pod": f"d{i}"},
            t,
            np.full(t.size, 0.5 + 0.2 * i),
        )
    n = 50.0 * (t - T0)
    w.counter("vllm:request_success", {"model": "m"}, t, n)
    w.histogram(
        "vllm:request_prompt_tokens",
        {"model": "m"},
        t,
        (1000, 4000),
        np.stack([0 * n, n, n], 1),
        2000.0 * n,
    )
    cols = [np.where(np.array(TTFT_BUCKETS)[j] >= 0.5, n, 0 * n) for j in range(len(TTFT_BUCKETS))]
    w.histogram(
        "vllm:time_to_first_token_seconds",
        {"model": "m"},
        t,
        TTFT_BUCKETS,
        np.stack([*cols, n], 1),
        0.4 * n,
    )
    return w.render()  # fmt: skip


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    if not prometheus_available():
        pytest.skip("needs prometheus + promtool")
    with PrometheusServer(tmp_path_factory.mktemp("queues"), openmetrics=_history()) as server:
        yield server


def reader(url: str, **queues) -> QueueReader:
    prom = PrometheusConfig(url=url, preset="vllm", selector='model="m"')
    cfg = QueueConfig(
        prefill_selector='component="prefill"', decode_selector='component="decode"', **queues
    )
    return QueueReader(prom, cfg)


@pytest.mark.slow
def test_snapshot_before_and_during_a_burst(prom):
    r = reader(prom.url)
    calm = r.read(T0 + 200.0)
    assert (calm.prefill_queue, calm.decode_queue) == (0.0, 6.0)
    assert calm.decode_running == 121.0
    assert calm.kv_usage == pytest.approx(0.6)  # mean over the decode engines
    assert calm.arrivals == pytest.approx(50.0 * 30.0, rel=0.05)  # increase over 30 s
    assert calm.arrival_rate == pytest.approx(50.0, rel=0.05)
    assert calm.isl == pytest.approx(2000.0)
    assert 300.0 < calm.ttft_p99_ms <= 500.0  # inside the (0.3, 0.5] s bucket
    burst = r.read(T0 + 310.0)
    assert burst.prefill_queue == 81.0  # both prefill engines, not the decode ones


@pytest.mark.slow
def test_absent_series_are_unknown_not_zero(prom):
    r = reader(
        prom.url,
        queries={"kv_usage": "avg(vllm:gpu_cache_usage_perc{{decode_selector}})"},
    )
    snap = r.read(T0 + 200.0)
    assert snap.kv_usage is None  # no such series: unknown, the rule ignores it
    before = r.read(T0 - 3600.0)  # before any data: nothing waiting, nothing arriving
    assert (before.prefill_queue, before.decode_queue, before.arrivals) == (0.0, 0.0, 0.0)
    assert before.decode_running is None and math.isnan(before.isl)


def test_unknown_signals_and_bad_selectors_are_rejected():
    with pytest.raises(ValidationError, match="unknown signal"):
        QueueConfig(prefill_selector="", decode_selector="", queries={"waiting": "x"})
    with pytest.raises(ValidationError, match="label matchers"):
        QueueConfig(prefill_selector="component=prefill", decode_selector="")


# -- the gauges' peaks per interval, beside the demand ---------------------------------------
def gauge_source(url: str, **queues) -> EngineGaugeSource:
    # The history has no output-token histogram: a constant OSL stands in.
    prom = PrometheusConfig(
        url=url, preset="vllm", selector='model="m"', queries={"osl": "vector(200)"}
    )
    cfg = QueueConfig(
        prefill_selector='component="prefill"', decode_selector='component="decode"', **queues
    )
    return EngineGaugeSource(PrometheusSource(prom), EngineGauges(prom, cfg))


@pytest.mark.slow
def test_each_interval_carries_the_engines_peaks(prom):
    samples = gauge_source(prom.url).fetch(T0 + 120.0, T0 + 360.0, 60.0)
    assert [s.requests for s in samples] == [pytest.approx(3000.0)] * 4  # the demand as read
    # Calm: 0 + 6 waiting and 121 running; the last interval holds the prefill burst (+81).
    assert samples[0].engine_requests == pytest.approx(127.0)
    assert samples[-1].engine_requests == pytest.approx(208.0)
    assert all(s.engine_kv == pytest.approx(0.6) for s in samples)


@pytest.mark.slow
def test_an_absent_gauge_is_unknown_not_zero(prom):
    src = gauge_source(prom.url, queries={"kv_usage": "avg(vllm:gpu_cache_usage_perc{{decode_selector}})"})  # fmt: skip
    s = src.fetch(T0 + 120.0, T0 + 180.0, 60.0)[0]
    assert s.engine_kv is None and s.engine_requests == pytest.approx(127.0)


class _Stub:
    def fetch(self, start, end, step_s):
        return [DemandSample(start, step_s, 10.0, 1000.0, 200.0)]

    def time_range(self):
        return None


def test_gauges_that_cannot_be_read_leave_the_demand_as_read(caplog):
    prom = PrometheusConfig(url="http://127.0.0.1:9", timeout_s=1, retries=0)
    cfg = QueueConfig(prefill_selector='component="p"', decode_selector='component="d"')
    src = EngineGaugeSource(_Stub(), EngineGauges(prom, cfg))
    for _ in range(2):
        (s,) = src.fetch(T0, T0 + 60.0, 60.0)
        assert (s.requests, s.engine_requests, s.engine_kv) == (10.0, None, None)
    assert caplog.text.count("engine_gauges_unread") == 1  # once per distinct error
