"""The drain's per-pod in-flight requests, against a REAL Prometheus backfilled with vLLM's and
Dynamo's engine gauges for pods of two namespaces; and the PromQL it sends, by table."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from support.openmetrics import OpenMetricsWriter
from support.prometheus_server import PrometheusServer, prometheus_available

from sla_planner.config.drain import DrainConfig
from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_in_flight import InFlightReader, in_flight_query

T0 = 1_700_000_000.0
EVERY = 5.0
VLLM = '__name__=~"vllm:num_requests_running|vllm:num_requests_waiting"'


@pytest.mark.parametrize(
    "gauge, query, selector, ns_label, expr",
    [
        ("vllm", None, "", "namespace", f'sum by (pod) ({{{VLLM},namespace="llm"}})'),
        ("vllm", None, 'job="e"', None, f'sum by (pod) ({{{VLLM},job="e"}})'),
        ("dynamo", None, "", "namespace",
         'sum by (pod) (dynamo_component_inflight_requests{namespace="llm"})'),
        ("dynamo", None, "", None, "sum by (pod) (dynamo_component_inflight_requests)"),
        ("vllm", "max by (pod) (g{{selector}})", 'a="1"', "ns", 'max by (pod) (g{a="1",ns="llm"})'),
    ],
)  # fmt: skip
def test_query_text(gauge, query, selector, ns_label, expr):
    assert in_flight_query(gauge, query, selector, "pod", ns_label, "llm") == expr


def test_config_checks():
    cfg = DrainConfig()
    assert (cfg.gauge, cfg.drain_timeout_s, cfg.settle_s, cfg.serving_label) == ("vllm", 300.0, 30.0, None)  # fmt: skip
    for bad, match in [
        ({"drain_timeout_s": 0}, "greater than 0"),
        ({"drain_timeout_s": float("inf")}, "finite"),
        ({"selector": "job=e"}, "label matchers"),
        ({"serving_label": "bad label"}, "label key"),
        ({"pod_label": "pod-name"}, "Prometheus label"),
        ({"gauge": "sglang"}, "vllm"),
        ({"timeout_s": 5}, "Extra inputs"),
    ]:
        with pytest.raises(ValidationError, match=match):
            DrainConfig.model_validate(bad)
    assert DrainConfig(serving_label="sla-planner.io/serving").serving_label == "sla-planner.io/serving"  # fmt: skip


def _history() -> str:
    t = T0 + EVERY * np.arange(121)
    w = OpenMetricsWriter()
    for name, ns, pod, v in [
        ("vllm:num_requests_running", "llm", "a", 3.0),
        ("vllm:num_requests_running", "llm", "b", 0.0),
        ("vllm:num_requests_running", "other", "a", 9.0),  # same pod name, another namespace
    ]:
        w.gauge(name, {"namespace": ns, "pod": pod}, t, np.full(t.size, v))
    for ns, pod, v in [("llm", "a", 1.0), ("llm", "b", 0.0)]:
        w.gauge("vllm:num_requests_waiting", {"namespace": ns, "pod": pod}, t, np.full(t.size, v))
    for ep, v in [("generate", 5.0), ("clear_kv_blocks", 1.0)]:
        labels = {"namespace": "llm", "pod": "d", "dynamo_endpoint": ep}
        w.gauge("dynamo_component_inflight_requests", labels, t, np.full(t.size, v))
    return w.render()


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    if not prometheus_available():
        pytest.skip("needs prometheus + promtool")
    with PrometheusServer(tmp_path_factory.mktemp("inflight"), openmetrics=_history()) as server:
        yield server


def reader(url: str, **kw) -> InFlightReader:
    return InFlightReader(PrometheusConfig(url=url, preset="vllm"), **kw)


@pytest.mark.slow
def test_running_plus_waiting_per_pod_of_the_namespace(prom):
    assert reader(prom.url).read("llm", T0 + 300.0) == {"a": 4.0, "b": 0.0}
    assert reader(prom.url, namespace_label=None).read("llm", T0 + 300.0) == {"a": 13.0, "b": 0.0}
    assert reader(prom.url).read("llm", T0 - 3600.0) == {}  # no series: absent, never 0


@pytest.mark.slow
def test_dynamo_gauge_and_a_query_of_ones_own(prom):
    assert reader(prom.url, gauge="dynamo").read("llm", T0 + 300.0) == {"d": 6.0}
    own = reader(prom.url, query="max by (pod) (vllm:num_requests_running{{selector}})")
    assert own.read("llm", T0 + 300.0) == {"a": 3.0, "b": 0.0}


def test_prometheus_down_raises():
    r = reader("http://127.0.0.1:9")
    with pytest.raises(MetricsSourceError):
        r.read("llm", T0)
