"""Traces moved in time and cut, so fleet deployments replay side by side."""

from __future__ import annotations

import numpy as np
import pytest

from sla_planner.sources.trace_files import BinnedTrace, RequestTrace, TraceError
from sla_planner.sources.trace_shift import shift_trace
from sla_planner.sources.trace_source import TraceMetricsSource


def requests() -> RequestTrace:
    t = np.array([0.0, 10.0, 59.0, 61.0, 130.0])
    return RequestTrace("r", "test", t, np.full(5, 100.0), np.full(5, 10.0))


def test_offset_start_at_and_duration_on_a_request_trace():
    moved = shift_trace(requests(), offset_s=1000.0)
    assert list(moved.arrival_s) == [1000.0, 1010.0, 1059.0, 1061.0, 1130.0]
    at = shift_trace(requests(), start_at=5000.0, duration_s=60.0)
    assert list(at.arrival_s) == [5000.0, 5010.0, 5059.0]  # cut at 60 s, then moved
    # Outside the moved trace the source has no requests (the deployment is idle there).
    src = TraceMetricsSource(at)
    counts = [s.requests for s in src.fetch(4880.0, 5120.0, 60.0)]
    assert counts == [0.0, 0.0, 3.0, 0.0]


def test_binned_trace_is_cut_at_whole_bins():
    tr = BinnedTrace(
        "b", "test", np.array([0.0, 10.0, 20.0]), 10.0, np.array([1.0, 2.0, 3.0]), None, None
    )
    cut = shift_trace(tr, offset_s=5.0, duration_s=15.0)
    assert list(cut.bin_start_s) == [5.0, 15.0] and list(cut.requests) == [1.0, 2.0]


@pytest.mark.parametrize(
    "kw, err",
    [
        ({"offset_s": 1.0, "start_at": 2.0}, ValueError),
        ({"offset_s": float("inf")}, ValueError),
        ({"duration_s": -1.0}, TraceError),
    ],
)
def test_bad_shifts(kw, err):
    with pytest.raises(err):
        shift_trace(requests(), **kw)
