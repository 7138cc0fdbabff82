"""Malformed-input suite, traces (issue 10): whatever a trace file holds, loading it and
replaying a few intervals ends in a TraceError (one line naming the file) or sane demand, in
bounded time. Hypothesis writes the files: junk bytes, truncated rows, NaN/inf/negative/huge
numbers, wrong columns, broken JSON, gzip junk."""

from __future__ import annotations

import gzip
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.bounded import finishes

from sla_planner.sources.trace_files import TraceError, load_trace
from sla_planner.sources.trace_source import TraceMetricsSource

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NUMBERS = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "1e999", "-0", "", " ", "0x10", "1_000", "٣"]),
    st.text(max_size=8),
)
STAMPS = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f")),
    st.sampled_from(["2023-11-16 18:15:46.68", "2023-13-40 25:61:61", "1970-01-01 00:00:00", ""]),
    st.text(max_size=12),
)


def _row(cells: list[str]) -> str:
    return ",".join(cells)


@st.composite
def azure_csv(draw) -> bytes:
    header = draw(
        st.sampled_from(
            [
                "TIMESTAMP,ContextTokens,GeneratedTokens",
                "ContextTokens,TIMESTAMP,GeneratedTokens",
                "timestamp,requests,isl_mean,osl_mean",
                "Time,TIMESTAMP",
                "TIMESTAMP,ContextTokens",
            ]
        )
    )
    width = header.count(",") + 1
    rows = draw(
        st.lists(
            st.lists(st.one_of(STAMPS, NUMBERS), min_size=0, max_size=width + 1),
            max_size=12,
        )
    )
    text = "\n".join([header, *(_row(r) for r in rows)])
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]  # truncated mid-row
    return text.encode("utf-8", "surrogatepass")


@st.composite
def mooncake_jsonl(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 10))):
        keys = draw(
            st.lists(
                st.sampled_from(["timestamp", "input_length", "output_length", "hash_ids"]),
                unique=True,
            )
        )
        values = [draw(NUMBERS) or "0" for _ in keys]
        body = ", ".join(f'"{k}": {v}' for k, v in zip(keys, values, strict=True))
        lines.append("{" + body + "}" if draw(st.booleans()) else "{" + body)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


CONTENT = st.one_of(
    azure_csv(),
    mooncake_jsonl(),
    st.binary(max_size=400),
    st.binary(max_size=200).map(lambda b: b"\x1f\x8b" + b),  # gzip junk
    azure_csv().map(gzip.compress).map(lambda b: b[: max(2, len(b) // 2)]),  # cut gzip
)


@FUZZ
@given(CONTENT)
def test_any_trace_file_is_a_clear_error_or_sane_demand(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("fuzz") / "trace"
    path.write_bytes(content)
    try:
        trace = finishes(lambda: load_trace(path), limit_s=30)
    except TraceError as e:
        message = str(e)
        assert message.startswith(str(path)) and "\n" not in message
        return
    assert trace.total_requests >= 0 and math.isfinite(trace.total_requests)
    assert math.isfinite(trace.start) and trace.end >= trace.start
    if not trace.has_tokens:
        return
    src = TraceMetricsSource(trace)
    step = 60.0
    n = max(1, min(5, math.ceil((trace.end - trace.start) / step)))
    samples = finishes(lambda: src.fetch(trace.start, trace.start + n * step, step), limit_s=30)
    assert len(samples) == n
    for s in samples:
        assert math.isfinite(s.requests) and s.requests >= 0
        for x in (s.isl_mean, s.osl_mean):
            assert math.isnan(x) or (x >= 0 and np.isfinite(x))
