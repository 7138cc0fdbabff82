"""Against a REAL Prometheus backfilled from the Azure 2023 conversation trace: the source's
per-interval demand equals the trace's own binning, and the dry run over Prometheus makes the
same decisions as the dry run over the trace file."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from sla_planner.cli.dryrun_source import default_trace_path
from sla_planner.offline.report import DECISION_COLUMNS
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_source import PrometheusSource
from sla_planner.sources.trace_source import TraceMetricsSource

pytestmark = pytest.mark.slow  # real Prometheus server

SELECTOR = 'model="llama-3.1-8b"'


def _source(url: str, **kw) -> PrometheusSource:
    return PrometheusSource(PrometheusConfig(url=url, selector=SELECTOR, **kw))


@pytest.mark.parametrize("step", [60.0, 15.0])
def test_fetch_equals_trace_binning_exactly(backfilled, step):
    tr = backfilled.trace
    start = backfilled.first_boundary
    end = start + 58 * 60
    got = _source(backfilled.url).fetch(start, end, step)
    want = TraceMetricsSource(tr).fetch(start, end, step)
    assert len(got) == len(want) == round((end - start) / step)
    for g, w in zip(got, want, strict=True):
        assert (g.start, g.duration_s) == (w.start, w.duration_s)
        assert g.requests == w.requests
        if w.requests:
            assert g.isl_mean == w.isl_mean and g.osl_mean == w.osl_mean
        else:
            assert math.isnan(g.isl_mean) and math.isnan(g.osl_mean)
    # The interval holding frontend-1's restart (counter reset) is among them, and the
    # other model's series (same metric, other label) were kept out by the selector.
    assert any(g.start <= backfilled.restart_at < g.start + step for g in got)
    assert sum(g.requests for g in got) == sum(w.requests for w in want) > 19000


def test_peak_rate_equals_the_trace_sub_window_peak(backfilled):
    """peak_window_s: the same counter on a 30 s grid (two scrapes per window); each minute's
    peak rate equals the trace's own 30 s binning, restart interval included."""
    tr = backfilled.trace
    start = backfilled.first_boundary
    end = start + 58 * 60
    got = _source(backfilled.url, peak_window_s=30.0).fetch(start, end, 60.0)
    want = TraceMetricsSource(tr, peak_window_s=30.0).fetch(start, end, 60.0)
    peaks = [g.peak_rate for g in got]
    # No prompt-length SCV from Prometheus: factor-2 histogram buckets misjudge it badly
    # (Mooncake: ~0.86 for a true 1.72), so the planner keeps its fixed prefill SCV.
    assert all(g.isl_scv is None for g in got)
    assert all(w.isl_scv is not None for w in want if w.requests > 1)
    assert peaks == [w.peak_rate for w in want]
    assert all(g.peak_window_s == 30.0 for g in got)
    # Bursts are real here: some minute's busiest half carries well over half its requests.
    assert max(g.peak_rate * 60.0 / g.requests for g in got if g.requests) > 1.1
    assert all(p is not None and p * 60.0 >= g.requests for p, g in zip(peaks, got, strict=True))
    # Unset, or a window that does not divide the interval: no peak data, never a guess.
    assert all(g.peak_rate is None for g in _source(backfilled.url).fetch(start, end, 60.0))
    odd = _source(backfilled.url, peak_window_s=45.0).fetch(start, start + 600, 60.0)
    assert all(g.peak_rate is None and g.peak_window_s is None for g in odd)


def test_observed_latency_is_the_trace_mean_and_prometheus_own_quantile(backfilled):
    tr = backfilled.trace
    start = backfilled.first_boundary
    got = _source(backfilled.url).fetch(start, start + 20 * 60, 60.0)
    # Mean TTFT: the synthetic per-request TTFT (0.02 + 4e-5 * ISL s) averaged in-interval.
    for g in got:
        sel = (tr.arrival_s >= g.start) & (tr.arrival_s < g.start + 60)
        assert g.ttft_mean_ms == pytest.approx(1000 * np.mean(0.02 + 4e-5 * tr.isl[sel]), rel=1e-9)
        assert g.itl_mean_ms is not None and 8.0 < g.itl_mean_ms < 30.0
    # p95 equals PromQL's own histogram_quantile over increase() (a 60 s window with scrapes
    # on both edges: no extrapolation), away from the counter reset.
    for name, field in (
        ("dynamo_frontend_time_to_first_token_seconds", "ttft_p95_ms"),
        ("dynamo_frontend_inter_token_latency_seconds", "itl_p95_ms"),
    ):
        expr = f"histogram_quantile(0.95, sum by (le) (increase({name}_bucket{{{SELECTOR}}}[60s])))"
        for g in got[1:8]:
            res = backfilled.server.query(expr, at=g.start + 60)
            assert getattr(g, field) == pytest.approx(1000 * float(res[0]["value"][1]), rel=1e-9)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


# The judge's measured attainment is an input of the SLO planner in the closed loop, and a
# Prometheus run's judge replays lengths drawn from histograms, not the trace's own: compare the
# sources' decisions with that feedback left out (the SLO planner open loop, and the
# fixed-margin planner; the judged figures: test_sources_prometheus_judged.py).
@pytest.mark.parametrize("planner", [["--judge", "none"], ["--attainment", "off"]])
def test_dry_run_over_prometheus_agrees_with_dry_run_over_the_trace(
    backfilled, cli, tmp_path, planner
):
    start = backfilled.first_boundary
    end = start + 58 * 60
    common = ["--start", f"{start:.0f}", "--end", f"{end:.0f}", "--no-plot", *planner]
    # A tight TTFT target so the prefill pool actually scales over the hour.
    common += ["--ttft-ms", "45", "--itl-ms", "20", "--interval-s", "60"]
    # Peak rates over the same 30 s windows (two 15 s scrapes each) from both sources.
    common += ["--peak-window-s", "30"]
    trace_out, prom_out = tmp_path / "trace", tmp_path / "prom"
    code, out, err = cli(
        # Prometheus has no prompt-length SCV (factor-2 buckets): leave the trace's out too.
        ["dry-run", "--trace", str(default_trace_path()), "--no-prompt-scv"]
        + ["--out", str(trace_out), *common]
    )
    assert code == 0, err
    code, out, err = cli(
        [
            "dry-run",
            "--prometheus",
            backfilled.url,
            "--selector",
            SELECTOR,
            "--out",
            str(prom_out),
            *common,
        ]
    )
    assert code == 0, err
    assert "Prometheus" in out
    a, b = _rows(trace_out / "decisions.csv"), _rows(prom_out / "decisions.csv")
    assert len(a) == len(b) == 58
    for ra, rb in zip(a, b, strict=True):
        assert [ra[c] for c in DECISION_COLUMNS] == [rb[c] for c in DECISION_COLUMNS]
    assert len({r["prefill_replicas"] for r in a}) > 1  # the comparison covers scaling
    # Observed latency columns come after the mandatory ones, only from Prometheus.
    with (prom_out / "decisions.csv").open() as f:
        header = next(csv.reader(f))
    assert tuple(header[: len(DECISION_COLUMNS)]) == DECISION_COLUMNS
    assert header[len(DECISION_COLUMNS) :] == [
        "observed_ttft_ms",
        "observed_ttft_p95_ms",
        "observed_itl_ms",
        "observed_itl_p95_ms",
    ]
    assert "observed_ttft_ms" not in a[0]
    assert all(float(r["observed_ttft_ms"]) > 20 for r in b)
    ra, rb = (json.loads((d / "report.json").read_text()) for d in (trace_out, prom_out))
    for key in (
        "gpu_hours",
        "expected_sla_attainment",
        "peak_gpus",
        "scaling_actions",
        "total_requests",
    ):
        assert ra[key] == rb[key], key
    assert rb["settings"]["source"] == "prometheus"
    assert rb["settings"]["prometheus"]["selector"] == SELECTOR


def test_available_history_starts_where_the_data_does(backfilled):
    src = _source(backfilled.url)
    start = backfilled.first_boundary
    # Data begins just before `start`: no whole interval of history before it.
    assert src.available_history(start, 60.0, 30) == 0
    # Ten minutes in: exactly ten intervals exist, however many are asked for.
    assert src.available_history(start + 600, 60.0, 30) == 10
    assert src.available_history(start + 600, 60.0, 4) == 4
