"""Trace readers and TraceMetricsSource on slices of the real traces."""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from sla_planner.sources.base import MetricsSource
from sla_planner.sources.trace_files import (
    BinnedTrace,
    RequestTrace,
    TraceError,
    load_trace,
    parse_utc_timestamp,
)
from sla_planner.sources.trace_source import TraceMetricsSource

CONV = "AzureLLMInferenceTrace_conv.csv"
CODE = "AzureLLMInferenceTrace_code.csv"
MOONCAKE = "mooncake_conversation_trace.jsonl"
COUNTS = "azure2024_conversation_10s_counts.csv"


# ----------------------------------------------------------------------------- formats


def test_azure_csv_parses_seven_fractional_digits_as_utc(trace_slice):
    tr = load_trace(trace_slice(CONV, 3))
    assert isinstance(tr, RequestTrace) and tr.format == "azure"
    # 2023-11-16 18:15:46.6805900 UTC, computed independently of the reader.
    assert tr.arrival_s[0] == pytest.approx(1700158546.68059, abs=1e-6)
    assert tr.isl.tolist() == [374, 396, 879]
    assert tr.osl.tolist() == [44, 109, 55]


def test_azure_code_trace_is_detected(trace_slice):
    tr = load_trace(trace_slice(CODE, 50))
    assert tr.format == "azure" and tr.total_requests == 50


def test_whole_bundled_trace_matches_published_stats(real):
    tr = load_trace(real(CONV))
    assert tr.total_requests == 19366
    assert tr.isl.mean() == pytest.approx(1155, abs=1)
    assert tr.osl.mean() == pytest.approx(211, abs=1)
    assert np.all(np.diff(tr.arrival_s) >= 0)
    assert 3400 < tr.end - tr.start < 3600  # about one hour


def test_mooncake_timestamps_are_ms_from_start(trace_slice):
    tr = load_trace(trace_slice(MOONCAKE, 200))
    assert tr.format == "mooncake"
    first = [json.loads(x) for x in trace_slice(MOONCAKE, 200).read_text().splitlines()]
    assert tr.arrival_s[-1] == pytest.approx(first[-1]["timestamp"] / 1000.0)
    assert tr.isl.tolist() == [r["input_length"] for r in first]
    assert tr.osl.tolist() == [r["output_length"] for r in first]


def test_counts_csv_has_10s_bins_and_no_tokens(trace_slice):
    tr = load_trace(trace_slice(COUNTS, 100))
    assert isinstance(tr, BinnedTrace) and tr.format == "counts"
    assert tr.bin_s == 10.0 and not tr.has_tokens
    assert tr.start == parse_utc_timestamp("2024-05-12 00:00:00") == 1715472000.0
    assert tr.requests[:2].tolist() == [132, 269]


def test_aggregate_csv_infers_bin_width_and_tolerates_gaps(tmp_path):
    p = tmp_path / "agg.csv"
    # 300 s bins, one missing (t=900), one idle bin with empty means.
    p.write_text(
        "timestamp,requests,isl_mean,osl_mean\n"
        "1000,30,100,10\n1300,60,200,20\n1600,0,,\n2200,90,300,30\n"
    )
    tr = load_trace(p)
    assert isinstance(tr, BinnedTrace) and tr.format == "aggregate"
    assert tr.bin_s == 300 and tr.has_tokens
    assert tr.end == 2500
    assert math.isnan(tr.isl_mean[2])


def test_detection_ignores_file_name_and_reads_gzip(trace_slice, tmp_path):
    src = trace_slice(MOONCAKE, 20)
    misnamed = tmp_path / "trace.csv.gz"
    misnamed.write_bytes(gzip.compress(src.read_bytes()))
    tr = load_trace(misnamed)
    assert tr.format == "mooncake" and tr.total_requests == 20


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("a,b,c\n1,2,3\n", "unrecognised trace format"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n", "no requests"),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,10,5\nnot-a-date,1,1\n",
            ":3: TIMESTAMP 'not-a-date'",
        ),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,-4,5\n", ":2: ContextTokens"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,10\n", ":2: expected 3 columns"),
        ('{"timestamp": 0, "input_length": 5, "output_length": 1}\n{"timestamp": 1,\n', ":2: invalid JSON"),
        ('{"timestamp": 0, "input_length": 5}\n', ":1: missing output_length"),
        ('{"timestamp": "x", "input_length": 5, "output_length": 1}\n', ":1: timestamp 'x'"),
        ("timestamp,requests,isl_mean,osl_mean\n100,1,2,3\n", "at least two rows"),
        ("timestamp,requests,isl_mean,osl_mean\n100,1,2,3\n100,1,2,3\n", ":3: bin start not after"),
        ("timestamp,requests,isl_mean,osl_mean\n0,1,2,3\n60,1,2,3\n150,1,2,3\n", ":4: bin start is not a whole"),
        ("timestamp,requests,isl_mean,osl_mean\n0,5,,3\n60,1,2,3\n", ":2: isl_mean ''"),
        ("Time,TIMESTAMP\n2024-05-12 00:00:00,12\n2024-05-12 00:00:10,many\n", ":3: TIMESTAMP (request count)"),
    ],
)  # fmt: skip
def test_malformed_traces_name_file_line_and_fix(tmp_path: Path, content: str, needle: str):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(TraceError) as e:
        load_trace(p)
    msg = str(e.value)
    assert msg.startswith(str(p)) and needle in msg and "\n" not in msg


def test_missing_directory_binary_and_unreadable_files(tmp_path: Path):
    with pytest.raises(TraceError, match="no such file"):
        load_trace(tmp_path / "nope.csv")
    with pytest.raises(TraceError, match="is a directory"):
        load_trace(tmp_path)
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TraceError, match="not UTF-8"):
        load_trace(binary)
    locked = tmp_path / "locked.csv"
    locked.write_text("Time,TIMESTAMP\n")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything; the check is meaningless then
        pytest.skip("running as root: permissions are not enforced")
    with pytest.raises(TraceError, match="cannot read"):
        load_trace(locked)


# ----------------------------------------------------------------------------- binning


def test_request_trace_bins_exactly(real):
    tr = load_trace(real(CONV))
    src = TraceMetricsSource(tr)
    assert isinstance(src, MetricsSource)
    start = tr.start
    samples = src.fetch(start, start + 600, 60)
    assert [s.start for s in samples] == [start + 60 * i for i in range(10)]
    for s in samples:  # recompute each interval by brute force
        m = (tr.arrival_s >= s.start) & (tr.arrival_s < s.start + 60)
        assert s.requests == m.sum()
        assert s.isl_mean == pytest.approx(tr.isl[m].mean())
        assert s.osl_mean == pytest.approx(tr.osl[m].mean())
    assert all(s.duration_s == 60 for s in samples)


def test_every_interval_present_including_idle_ones(real):
    tr = load_trace(real(CONV))
    src = TraceMetricsSource(tr, rate_scale=2.0)
    samples = src.fetch(tr.start - 120, tr.start + 60, 60)  # two idle intervals first
    assert len(samples) == 3
    assert [s.requests for s in samples[:2]] == [0, 0]
    assert math.isnan(samples[0].isl_mean) and math.isnan(samples[0].osl_mean)
    raw = ((tr.arrival_s >= tr.start) & (tr.arrival_s < tr.start + 60)).sum()
    assert samples[2].requests == 2 * raw
    total = sum(s.requests for s in TraceMetricsSource(tr).fetch(tr.start, tr.end, 60))
    assert total == 19366


def test_rebinning_aggregate_apportions_partial_overlaps(tmp_path: Path):
    p = tmp_path / "agg.csv"
    p.write_text("timestamp,requests,isl_mean,osl_mean\n0,60,100,10\n60,120,400,40\n")
    src = TraceMetricsSource(load_trace(p))
    # 30 s step: each 60 s bin splits in half.
    s = src.fetch(0, 120, 30)
    assert [x.requests for x in s] == pytest.approx([30, 30, 60, 60])
    assert [x.isl_mean for x in s] == pytest.approx([100, 100, 400, 400])
    # 90 s step straddling both bins: 60 + 60 requests, ISL weighted by those shares.
    a, b = src.fetch(0, 180, 90)
    assert a.requests == pytest.approx(120) and a.isl_mean == pytest.approx(250)
    assert b.requests == pytest.approx(60) and b.isl_mean == pytest.approx(400)
    # Offset start: 20..80 takes 40 s of bin 0 and 20 s of bin 1.
    (c,) = src.fetch(20, 80, 60)
    assert c.requests == pytest.approx(40 + 40)
    assert c.osl_mean == pytest.approx((40 * 10 + 40 * 40) / 80)


def test_rebinning_counts_to_60s_preserves_totals(real):
    tr = load_trace(real(COUNTS))
    src = TraceMetricsSource(tr, tokens_from=load_trace(real(CONV)), rate_scale=4)
    samples = src.fetch(tr.start, tr.start + 7 * 86400, 60)
    assert len(samples) == 10080
    assert sum(s.requests for s in samples) == pytest.approx(4 * tr.requests[:-1].sum())
    assert samples[0].requests == 4 * tr.requests[:6].sum()


def test_count_only_tokens_are_drawn_deterministically_per_interval(real):
    counts = load_trace(real(COUNTS))
    conv = load_trace(real(CONV))
    src = TraceMetricsSource(counts, tokens_from=conv, seed=7)
    day = src.fetch(counts.start, counts.start + 86400, 60)
    again = TraceMetricsSource(counts, tokens_from=conv, seed=7)
    window = again.fetch(counts.start + 3600, counts.start + 7200, 60)
    assert window == day[60:120]  # same interval, same numbers, whatever the fetched range
    other_seed = TraceMetricsSource(counts, tokens_from=conv, seed=8).fetch(
        counts.start, counts.start + 3600, 60
    )
    assert [s.isl_mean for s in other_seed] != [s.isl_mean for s in day[:60]]
    isl = np.array([s.isl_mean for s in day])
    osl = np.array([s.osl_mean for s in day])
    # Means of ~2,700 draws: close to the source's mean, with spread ~ sd / sqrt(n).
    assert isl.mean() == pytest.approx(conv.isl.mean(), rel=0.02)
    assert osl.mean() == pytest.approx(conv.osl.mean(), rel=0.02)
    assert 0 < isl.std() < 0.1 * conv.isl.mean()


def test_small_counts_draw_real_rows(real):
    counts = load_trace(real(COUNTS))
    conv = load_trace(real(CONV))
    src = TraceMetricsSource(counts, tokens_from=conv, rate_scale=0.0005)  # ~1 request/interval
    samples = src.fetch(counts.start, counts.start + 3600, 60)
    pairs = set(zip(conv.isl.tolist(), conv.osl.tolist(), strict=True))
    singles = [s for s in samples if 0 < s.requests < 1.5]
    assert singles, "expected intervals with about one request"
    for s in singles:  # one draw: the mean is a real (ISL, OSL) row of the source
        assert (s.isl_mean, s.osl_mean) in pairs


def test_tokens_from_rules(real):
    counts = load_trace(real(COUNTS))
    conv = load_trace(real(CONV))
    with pytest.raises(TraceError, match="--tokens-from"):
        TraceMetricsSource(counts)
    with pytest.raises(TraceError, match="only for count-only and aggregate traces"):
        TraceMetricsSource(conv, tokens_from=conv)
    with pytest.raises(TraceError, match="per-request trace"):
        TraceMetricsSource(counts, tokens_from=counts)
    with pytest.raises(ValueError, match="rate_scale"):
        TraceMetricsSource(conv, rate_scale=0)


def test_time_range_covers_every_request(real):
    tr = load_trace(real(MOONCAKE))
    src = TraceMetricsSource(tr)
    lo, hi = src.time_range()
    n = math.ceil((hi - lo) / 60)
    assert sum(s.requests for s in src.fetch(lo, hi, 60)) == tr.total_requests
    assert len(src.fetch(lo, hi, 60)) == n


# ----------------------------------------------------------------------------- peak rates
def test_peak_rate_is_the_busiest_sub_window_by_brute_force(real):
    tr = load_trace(real(CODE))
    samples = TraceMetricsSource(tr, rate_scale=3.0).fetch(tr.start, tr.start + 900, 60)
    bursty = 0
    for s in samples:
        counts = [
            ((tr.arrival_s >= s.start + w) & (tr.arrival_s < s.start + w + 10)).sum()
            for w in range(0, 60, 10)
        ]
        assert s.peak_window_s == 10.0
        assert s.peak_rate == pytest.approx(3.0 * max(counts) / 10.0)
        bursty += max(counts) > 2 * (sum(counts) / 6)
    assert bursty >= 3  # the code trace's bursts: a window with twice the minute's mean rate


def test_peak_rate_from_10s_counts_and_where_it_cannot_be_known(real, tmp_path: Path):
    tr = load_trace(real(COUNTS))
    src = TraceMetricsSource(tr, tokens_from=load_trace(real(CONV)), rate_scale=4)
    (s,) = src.fetch(tr.start, tr.start + 60, 60)
    first = tr.requests[:6] * 4  # the trace's own 10 s bins
    assert s.peak_rate == pytest.approx(first.max() / 10.0)
    # Step not a whole number (>= 2) of windows, or a trace coarser than the window: None.
    assert all(x.peak_rate is None for x in src.fetch(tr.start, tr.start + 150, 15))
    assert all(x.peak_rate is None for x in src.fetch(tr.start, tr.start + 100, 10))
    p = tmp_path / "agg.csv"
    p.write_text("timestamp,requests,isl_mean,osl_mean\n0,60,100,10\n60,120,400,40\n")
    coarse = TraceMetricsSource(load_trace(p)).fetch(0, 120, 60)
    assert all(x.peak_rate is None and x.peak_window_s is None for x in coarse)
    off = TraceMetricsSource(load_trace(real(CONV)), peak_window_s=None)
    assert all(x.peak_rate is None for x in off.fetch(off.trace.start, off.trace.start + 120, 60))
    with pytest.raises(ValueError, match="peak_window_s"):
        TraceMetricsSource(load_trace(real(CONV)), peak_window_s=0)


def test_prompt_scv_per_interval_by_brute_force(real):
    tr = load_trace(real(MOONCAKE))
    samples = TraceMetricsSource(tr).fetch(tr.start, tr.start + 600, 60)
    for s in samples:
        x = tr.isl[(tr.arrival_s >= s.start) & (tr.arrival_s < s.start + 60)].astype(float)
        assert s.isl_scv == pytest.approx(x.var() / x.mean() ** 2, rel=1e-9)
    assert np.mean([s.isl_scv for s in samples]) > 1.0  # Mooncake's heavy-tailed prompts
    off = TraceMetricsSource(tr, prompt_scv=False).fetch(tr.start, tr.start + 600, 60)
    assert all(s.isl_scv is None for s in off)


def test_count_only_trace_takes_its_token_source_scv(real):
    tr, conv = load_trace(real(COUNTS)), load_trace(real(CONV))
    s = TraceMetricsSource(tr, tokens_from=conv).fetch(tr.start, tr.start + 120, 60)
    x = conv.isl.astype(float)
    assert all(v.isl_scv == pytest.approx(x.var() / x.mean() ** 2) for v in s)
