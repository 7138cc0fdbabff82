"""Demand for the closed-loop simulator, in fine bins (pure numpy): per request or as a count mix."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SimDemand:
    """Demand in fine bins of `bin_s` seconds from `start`.

    Either `req_bin`/`req_pos`/`req_isl` (one entry per request; then `counts` are their
    bincount) or `isl_sample` (prompt lengths to draw the per-bin mix from) must be set.
    """

    start: float
    bin_s: float
    counts: np.ndarray  # requests per bin (may be fractional after rate scaling)
    isl_mean: np.ndarray  # NaN where no requests
    osl_mean: np.ndarray
    req_bin: np.ndarray | None = None
    req_pos: np.ndarray | None = None  # 0..1 position of the arrival within its bin
    req_isl: np.ndarray | None = None
    isl_sample: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.counts.size
        if self.isl_mean.size != n or self.osl_mean.size != n:
            raise ValueError("counts, isl_mean and osl_mean must have the same length")
        if self.req_isl is None and self.isl_sample is None:
            raise ValueError("SimDemand needs per-request ISLs or an ISL sample")
        if not (self.bin_s > 0):
            raise ValueError(f"bin_s must be > 0, got {self.bin_s}")

    @property
    def bins(self) -> int:
        return int(self.counts.size)

    @property
    def per_request(self) -> bool:
        return self.req_isl is not None

    @property
    def total_requests(self) -> float:
        return float(self.counts.sum())

    def prompt_scv(self) -> float:
        """Squared coefficient of variation of prompt length (service-time variability)."""
        x = self.req_isl if self.req_isl is not None else self.isl_sample
        assert x is not None
        m = float(np.mean(x))
        return float(np.var(x) / (m * m)) if m > 0 else 1.0

    def slice(self, first_bin: int, bins: int) -> SimDemand:
        """Bins [first_bin, first_bin + bins) as a new demand starting at bin 0."""
        lo, hi = first_bin, first_bin + bins
        kw: dict[str, Any] = {}
        if self.req_bin is not None:
            keep = (self.req_bin >= lo) & (self.req_bin < hi)
            kw = dict(
                req_bin=self.req_bin[keep] - lo,
                req_pos=self.req_pos[keep] if self.req_pos is not None else None,
                req_isl=self.req_isl[keep] if self.req_isl is not None else None,
            )
        return SimDemand(
            start=self.start + lo * self.bin_s,
            bin_s=self.bin_s,
            counts=self.counts[lo:hi],
            isl_mean=self.isl_mean[lo:hi],
            osl_mean=self.osl_mean[lo:hi],
            isl_sample=self.isl_sample,
            **kw,
        )


def demand_from_requests(
    arrival_s: np.ndarray,
    isl: np.ndarray,
    osl: np.ndarray,
    start: float,
    end: float,
    bin_s: float = 10.0,
) -> SimDemand:
    """Per-request demand (exact per-request TTFT judgement) for [start, end)."""
    n = max(0, math.ceil((end - start) / bin_s - 1e-9))
    t = np.asarray(arrival_s, dtype=float)
    keep = (t >= start) & (t < start + n * bin_s)
    t, i, o = t[keep], np.asarray(isl, float)[keep], np.asarray(osl, float)[keep]
    rel = (t - start) / bin_s
    b = np.minimum(rel.astype(np.int64), n - 1)
    counts = np.bincount(b, minlength=n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        im = np.bincount(b, weights=i, minlength=n) / counts
        om = np.bincount(b, weights=o, minlength=n) / counts
    return SimDemand(
        start=start,
        bin_s=bin_s,
        counts=counts,
        isl_mean=im,
        osl_mean=om,
        req_bin=b,
        req_pos=np.clip(rel - b, 0.0, 1.0),
        req_isl=i,
    )


def demand_from_trace(
    trace: Any,
    start: float | None = None,
    end: float | None = None,
    bin_s: float = 10.0,
    tokens_from: Any | None = None,
    rate_scale: float = 1.0,
    seed: int = 0,
) -> SimDemand:
    """Fine-binned demand from a sla_planner.sources.trace_source Trace (per-request or binned).

    Per-request traces at rate_scale 1 keep every request; otherwise bins come from
    TraceMetricsSource (same rate scaling and token draws as the dry run) and the ISL mix
    from the trace's own requests or `tokens_from`.
    """
    from sla_planner.sources.trace_files import RequestTrace
    from sla_planner.sources.trace_source import TraceMetricsSource

    lo = trace.start if start is None else start
    hi = trace.end if end is None else end
    if isinstance(trace, RequestTrace) and rate_scale == 1.0:
        return demand_from_requests(trace.arrival_s, trace.isl, trace.osl, lo, hi, bin_s)
    src = TraceMetricsSource(trace, tokens_from=tokens_from, rate_scale=rate_scale, seed=seed)
    n = max(0, math.ceil((hi - lo) / bin_s - 1e-9))
    counts, isl, osl = src.bin(lo, n, bin_s)
    sample_src = trace if isinstance(trace, RequestTrace) else tokens_from
    sample = np.asarray(sample_src.isl, dtype=float) if sample_src is not None else None
    if sample is None:
        sample = isl[np.isfinite(isl)]
    return SimDemand(lo, bin_s, counts, isl, osl, isl_sample=sample)


def demand_from_source(source: Any, start: float, end: float, bin_s: float = 10.0) -> SimDemand:
    """Fine-binned demand for a dry run over a sla_planner.sources.trace_source.TraceMetricsSource (same rate
    scaling, token source and seed as the dry run's own intervals)."""
    return demand_from_trace(
        source.trace,
        start=start,
        end=end,
        bin_s=bin_s,
        tokens_from=source.tokens_from,
        rate_scale=source.rate_scale,
        seed=source.seed,
    )
