"""One absurd row in a binned trace is one absurd interval, never a change to the others
(issue 18, the class of item 2). Re-binning went through the trace's cumulative count: after a
row of 1e18 requests every later difference of cumulative sums lost the ordinary rows below
float64's resolution there (read as 0 requests: a demand drop), and a count-only trace's token
draw cast 1e22 requests to int64 (a negative count: NaN means)."""

from __future__ import annotations

import numpy as np
import pytest

from sla_planner.sources.trace_files import load_trace
from sla_planner.sources.trace_source import TraceMetricsSource

T0 = 1_700_000_000


@pytest.mark.parametrize("step", [60.0, 30.0, 120.0, 45.0])
def test_rows_after_a_1e18_row_keep_their_counts(tmp_path, step) -> None:
    rows = [f"{T0 + 60 * i},{'1e18' if i == 10 else 300},{1000 + i},200" for i in range(40)]
    p = tmp_path / "agg.csv"
    p.write_text("timestamp,requests,isl_mean,osl_mean\n" + "\n".join(rows) + "\n")
    src = TraceMetricsSource(load_trace(p))
    got = src.fetch(T0, T0 + 40 * 60, step)
    per_s = 300 / 60
    outlier = (T0 + 600, T0 + 660)
    for s in got:
        overlaps = s.start < outlier[1] and s.start + step > outlier[0]
        if overlaps:
            assert s.requests > 1e16
            continue
        if s.start + step > T0 + 40 * 60:
            continue  # past the trace's end: partly empty
        assert s.requests == pytest.approx(per_s * step, rel=1e-9), s
        i = int((s.start - T0) // 60)  # ISL of the rows it covers: 1000 + row index
        assert 1000 + i - 1 <= s.isl_mean <= 1000 + i + 2, s


def test_a_count_only_row_beyond_int64_keeps_finite_lengths(tmp_path, conv_trace) -> None:
    rows = [f"2024-05-12 00:{m:02d}:{s:02d},{'1e18' if (m, s) == (1, 0) else 40}" for m in range(5) for s in range(0, 60, 10)]  # fmt: skip
    p = tmp_path / "counts.csv"
    p.write_text("Time,TIMESTAMP\n" + "\n".join(rows) + "\n")
    tr = load_trace(p)
    src = TraceMetricsSource(tr, tokens_from=conv_trace, rate_scale=1e4)
    with np.errstate(invalid="raise"):  # no invalid cast
        got = src.fetch(tr.start, tr.end, 60.0)
    assert got[1].requests > 1e21
    assert all(np.isfinite(s.isl_mean) and s.isl_mean > 0 for s in got)
    assert [s.requests for s in got if s.requests < 1e21] == [2.4e6] * 4
