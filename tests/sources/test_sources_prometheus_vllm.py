"""The vLLM preset against a real Prometheus backfilled from the Azure 2023 code trace, with
the ITL histogram under vLLM's older name (time_per_output_token) to exercise the fallback."""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support.openmetrics import (
    VLLM,
    OpenMetricsWriter,
    add_request_history,
    request_history,
    scrape_times,
    synthetic_latencies,
)
from support.prometheus_server import PrometheusServer, prometheus_available

from sla_planner.evaluation.des_prometheus import prometheus_requests
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_source import PrometheusSource
from sla_planner.sources.trace_files import RequestTrace, load_trace
from sla_planner.sources.trace_source import TraceMetricsSource

SHARED = Path(
    os.environ.get(
        "SLA_PLANNER_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"
    )
)
CODE_TRACE = SHARED / "traces" / "AzureLLMInferenceTrace_code.csv"

pytestmark = [
    pytest.mark.slow,  # real Prometheus server
    pytest.mark.skipif(not prometheus_available(), reason="needs prometheus + promtool"),
    pytest.mark.skipif(not CODE_TRACE.exists(), reason=f"needs {CODE_TRACE}"),
]


def test_vllm_preset_reads_the_engine_metrics(tmp_path):
    full = load_trace(CODE_TRACE)
    assert isinstance(full, RequestTrace)
    keep = full.arrival_s < full.arrival_s[0] + 600  # ten minutes is plenty here
    tr = RequestTrace(full.path, full.format, full.arrival_s[keep], full.isl[keep], full.osl[keep])
    times = scrape_times(tr.arrival_s[0], tr.arrival_s[-1], 10.0)
    ttft, itl = synthetic_latencies(tr.isl, tr.osl)
    hist = request_history(tr.arrival_s, tr.isl, tr.osl, times, ttft, itl)
    w = OpenMetricsWriter()
    older = replace(VLLM, itl="vllm:time_per_output_token_seconds")
    add_request_history(w, hist, older, {"model_name": "codellama", "finished_reason": "stop"})

    start = math.ceil(tr.arrival_s[0] / 60) * 60
    end = start + 8 * 60
    with PrometheusServer(tmp_path, openmetrics=w.render()) as prom:
        src = PrometheusSource(
            PrometheusConfig(url=prom.url, preset="vllm", selector='model_name="codellama"')
        )
        got = src.fetch(start, end, 60.0)
        names = [c[0] for c in src.http.log.calls]
        # The judge's requests from the same names (issue 17 item 2): vLLM's token histograms.
        stream = prometheus_requests(src, start, end)
        chunks = list(stream)
    want = TraceMetricsSource(tr).fetch(start, end, 60.0)
    assert [g.requests for g in got] == [w_.requests for w_ in want]
    np.testing.assert_array_equal([g.isl_mean for g in got], [w_.isl_mean for w_ in want])
    np.testing.assert_array_equal([g.osl_mean for g in got], [w_.osl_mean for w_ in want])
    assert sum(g.requests for g in got) > 100
    judged_t = np.concatenate([c.t for c in chunks])
    judged_isl = np.concatenate([c.isl for c in chunks])
    keep = (tr.arrival_s >= start) & (tr.arrival_s < end)
    assert stream.lengths == "prometheus histograms" and judged_t.size == keep.sum()
    assert src.scrape_interval_s == 10.0  # 10 s bins: each holds its own scrape's requests
    np.testing.assert_array_equal(
        np.bincount(((judged_t - start) // 10).astype(int), minlength=48),
        np.bincount(((tr.arrival_s[keep] - start) // 10).astype(int), minlength=48),
    )
    assert judged_isl.mean() == pytest.approx(tr.isl[keep].mean(), rel=0.01)
    assert any("vllm:request_success_total" in n for n in names)
    # ITL came from the older histogram after the newer name had no series.
    assert any("vllm:inter_token_latency_seconds_count" in n for n in names)
    assert any("vllm:time_per_output_token_seconds_bucket" in n for n in names)
    for g in got:
        if not g.requests:
            assert math.isnan(g.itl_mean_ms)  # the histogram exists, no observations
            continue
        sel = (tr.arrival_s >= g.start) & (tr.arrival_s < g.start + 60)
        weights = tr.osl[sel]
        assert g.itl_mean_ms == pytest.approx(1000 * np.average(itl[sel], weights=weights))
        assert g.ttft_p95_ms is not None and g.ttft_p95_ms >= g.ttft_mean_ms * 0.5
