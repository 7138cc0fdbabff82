"""A trace moved in time and cut to a window, so traces recorded on different days (or from 0)
can replay side by side as one fleet's deployments."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from sla_planner.sources.trace_files import BinnedTrace, RequestTrace, Trace, TraceError


def shift_trace(
    trace: Trace,
    offset_s: float = 0.0,
    start_at: float | None = None,
    duration_s: float | None = None,
) -> Trace:
    """The trace keeping only its first `duration_s` seconds (all when None), with every
    timestamp moved by `offset_s`, or so that it starts at `start_at` (one or the other).
    Binned traces are cut at whole bins (a bin is kept when it starts inside the window)."""
    if start_at is not None and offset_s:
        raise ValueError("give start_at or offset_s, not both")
    for name, v in (("offset_s", offset_s), ("start_at", start_at), ("duration_s", duration_s)):
        if v is not None and not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v}")
    begin = trace.start
    shift = (start_at - begin) if start_at is not None else float(offset_s)
    stop = math.inf if duration_s is None else begin + float(duration_s)
    if isinstance(trace, RequestTrace):
        keep = trace.arrival_s < stop
        if not keep.any():
            raise TraceError(f"{trace.path}: no requests in the first {duration_s:g} s")
        return replace(
            trace,
            arrival_s=trace.arrival_s[keep] + shift,
            isl=trace.isl[keep],
            osl=trace.osl[keep],
        )
    assert isinstance(trace, BinnedTrace)
    keep = trace.bin_start_s < stop
    if not keep.any():
        raise TraceError(f"{trace.path}: no bins in the first {duration_s:g} s")

    def cut(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[keep]

    return replace(
        trace,
        bin_start_s=trace.bin_start_s[keep] + shift,
        requests=trace.requests[keep],
        isl_mean=cut(trace.isl_mean),
        osl_mean=cut(trace.osl_mean),
    )
