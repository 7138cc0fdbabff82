"""Request-trace files as a MetricsSource: demand per interval, rate-scaled, with each
interval's peak sub-window rate and prompt-length SCV (file formats: `trace_files`)."""

from __future__ import annotations

import math

import numpy as np

from sla_planner.model.types import DemandSample
from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.trace_binning import (
    bin_requests,
    hash_mix,
    interval_count,
    isl_scv_per_bin,
    normals,
    rebin,
)
from sla_planner.sources.trace_files import (
    BinnedTrace,
    RequestTrace,
    Trace,
    TraceError,
)

# Sub-windows per interval for peak rates: 1000 covers a 10 s window in a 2.7 h interval. The
# count per sub-window is a dense array, so this (with the dry run's interval cap) bounds it;
# past _DENSE_SUBWINDOWS in one call it is built a chunk of intervals at a time.
MAX_SUBWINDOWS = 1000
_DENSE_SUBWINDOWS = 4_000_000


class TraceMetricsSource:
    """A MetricsSource over a trace file (dry runs, simulations, benchmarks).

    - Per-request traces are binned exactly: an interval [s, s + step) holds the requests
      arriving in it; ISL/OSL are their means.
    - Binned traces are re-binned to `step_s` assuming arrivals spread uniformly within each
      source bin: a source bin overlapping a fraction f of its width with an interval
      contributes f x its count (and its means weighted by that share). Exact when the step
      is a multiple of the bin width on the same grid.
    - Count-only traces take ISL/OSL from `tokens_from` (a per-request trace): each interval's
      means are those of n (request, ISL, OSL) rows drawn with replacement from it. (An
      aggregate trace keeps its own means; its `tokens_from` shapes the lengths the judge
      draws around them and gives the prompt-length SCV.) Draws are
      a pure function of (seed, interval start, step), so any fetch of an interval returns the
      same numbers. For n > 64 the mean of n draws is taken from its normal limit (CLT).
    - `rate_scale` multiplies request counts (token means unchanged).
    - Each sample's `peak_rate` is the highest rate over `peak_window_s` sub-windows of its
      interval (None when the interval is not at least two whole sub-windows, or a binned
      trace is coarser than the sub-window): the burst the interval mean hides.
    - Each sample's `isl_scv` is its prompt-length SCV (see isl_scvs); `prompt_scv=False`
      leaves it out, as a Prometheus source does.
    """

    _EXACT_DRAWS_MAX = 64

    def __init__(
        self,
        trace: Trace,
        tokens_from: Trace | None = None,
        rate_scale: float = 1.0,
        seed: int = 0,
        peak_window_s: float | None = 10.0,
        prompt_scv: bool = True,
    ) -> None:
        if not (rate_scale > 0 and math.isfinite(rate_scale)):
            raise ValueError(f"rate_scale must be a finite number > 0, got {rate_scale}")
        if isinstance(trace, RequestTrace) and tokens_from is not None:
            raise TraceError(
                f"{trace.path}: has its own per-request token counts; tokens_from "
                f"({tokens_from.path}) is only for count-only and aggregate traces; drop it"
            )
        if not trace.has_tokens and tokens_from is None:
            raise TraceError(
                f"{trace.path}: a count-only trace has no ISL/OSL; pass a per-request trace "
                "to take them from (--tokens-from, e.g. an Azure or Mooncake trace)"
            )
        if tokens_from is not None and not isinstance(tokens_from, RequestTrace):
            raise TraceError(
                f"{tokens_from.path}: tokens_from must be a per-request trace (Mooncake JSONL "
                f"or Azure CSV), not a {tokens_from.format} trace"
            )
        self.trace = trace
        self.tokens_from = tokens_from
        self.rate_scale = float(rate_scale)
        self.seed = int(seed)
        if peak_window_s is not None and not (peak_window_s > 0 and math.isfinite(peak_window_s)):
            raise ValueError(f"peak_window_s must be a finite number > 0, got {peak_window_s}")
        self.peak_window_s = peak_window_s
        self.prompt_scv = prompt_scv

    def time_range(self) -> tuple[float, float] | None:
        return (self.trace.start, self.trace.end)

    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        if not (step_s > 0 and math.isfinite(step_s)):
            raise MetricsSourceError(f"step must be a positive number of seconds, got {step_s}")
        n = interval_count(start, end, step_s)
        counts, isl, osl = self.bin(start, n, step_s)
        peaks = self.peak_rates(start, n, step_s)
        scv = self.isl_scvs(start, n, step_s, counts)
        return [
            DemandSample(
                start=start + i * step_s,
                duration_s=float(step_s),
                requests=float(counts[i]),
                isl_mean=float(isl[i]),
                osl_mean=float(osl[i]),
                peak_rate=None if peaks is None else float(peaks[i]),
                peak_window_s=None if peaks is None else self.peak_window_s,
                isl_scv=None if scv is None or not np.isfinite(scv[i]) else float(scv[i]),
            )
            for i in range(n)
        ]

    def isl_scvs(
        self, start: float, n: int, step_s: float, counts: np.ndarray
    ) -> np.ndarray | None:
        """Prompt-length SCV per interval (NaN where idle): exact for per-request traces; for
        count-only traces, that of the token source their prompts are drawn from; None for
        binned traces with only means."""
        tr = self.trace
        if not self.prompt_scv:
            return None
        if isinstance(tr, RequestTrace):
            return isl_scv_per_bin(tr, start, n, step_s)
        if isinstance(self.tokens_from, RequestTrace):
            x = self.tokens_from.isl
            m = float(np.mean(x)) if x.size else 0.0
            pooled = float(np.var(x) / (m * m)) if m > 0 else math.nan
            return np.where(counts > 0, pooled, math.nan)
        return None

    def peak_rates(self, start: float, n: int, step_s: float) -> np.ndarray | None:
        """Highest sub-window rate (req/s) per interval, or None where it cannot be resolved."""
        w = self.peak_window_s
        if w is None or n == 0:
            return None
        k = step_s / w
        if k < 2 - 1e-9 or abs(k - round(k)) > 1e-6:
            return None
        if isinstance(self.trace, BinnedTrace) and self.trace.bin_s > w + 1e-9:
            return None  # re-binning would spread the burst out, not find it
        kk = round(k)
        if kk > MAX_SUBWINDOWS:
            raise MetricsSourceError(
                f"peak_window_s {w:g} splits a {step_s:g} s interval into {kk} sub-windows "
                f"(at most {MAX_SUBWINDOWS}); use a longer peak window"
            )
        chunk = max(1, _DENSE_SUBWINDOWS // kk) if n * kk > _DENSE_SUBWINDOWS else n
        peaks = np.empty(n)
        for c0 in range(0, n, chunk):
            m = min(chunk, n - c0)
            sub = self._trace_bins(start + c0 * step_s if c0 else start, m * kk, w)[0]
            peaks[c0 : c0 + m] = np.asarray(sub, dtype=float).reshape(m, kk).max(axis=1)
        return peaks * self.rate_scale / w

    def _trace_bins(
        self, start: float, n: int, step_s: float
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The trace's own (count, mean ISL, mean OSL) per bin, unscaled, tokens not drawn."""
        tr = self.trace
        if isinstance(tr, RequestTrace):
            return bin_requests(tr, start, n, step_s)
        return rebin(tr, start, n, step_s)

    def bin(self, start: float, n: int, step_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(count, mean ISL, mean OSL) arrays for n intervals of step_s from `start`."""
        counts, isl, osl = self._trace_bins(start, n, step_s)
        counts = counts * self.rate_scale
        if isl is None or osl is None:
            assert isinstance(self.tokens_from, RequestTrace)
            isl, osl = self._draw_tokens(counts, start, n, step_s)
        return counts, isl, osl

    def _draw_tokens(
        self, counts: np.ndarray, start: float, n: int, step_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        src = self.tokens_from
        assert isinstance(src, RequestTrace)
        pool = np.stack([src.isl, src.osl], axis=1)
        # Capped before the cast: 1e22 requests would wrap int64 (a negative count, NaN means);
        # past _EXACT_DRAWS_MAX only k's square root is used.
        k = np.rint(np.minimum(counts, 2.0**62)).astype(np.int64)
        k[(counts > 0) & (k == 0)] = 1  # a fractional request still has tokens
        # Absolute interval index: the same interval draws the same tokens whatever the range.
        base = np.rint(start / step_s).astype(np.int64) + np.arange(n, dtype=np.int64)
        key = hash_mix(np.uint64(self.seed & 0xFFFFFFFF) ^ np.uint64(int(step_s * 1000) << 32))
        means = np.full((n, 2), np.nan)

        small = (k > 0) & (k <= self._EXACT_DRAWS_MAX)
        if small.any():
            ks = k[small]
            owner = np.repeat(np.arange(ks.size), ks)
            j = np.arange(owner.size) - np.repeat(np.cumsum(ks) - ks, ks)
            h = hash_mix(hash_mix(base[small][owner].astype(np.uint64) ^ key) + j.astype(np.uint64))
            rows = pool[(h % np.uint64(len(pool))).astype(np.int64)]
            sums = np.zeros((ks.size, 2))
            np.add.at(sums, owner, rows)
            means[small] = sums / ks[:, None]

        large = k > self._EXACT_DRAWS_MAX
        if large.any():
            mu = pool.mean(axis=0)
            cov = np.cov(pool.T) if len(pool) > 1 else np.zeros((2, 2))
            chol = np.linalg.cholesky(cov + np.eye(2) * 1e-9)
            h = hash_mix(base[large].astype(np.uint64) ^ key ^ np.uint64(0x5BD1E995))
            z = normals(h)
            m = mu + (z @ chol.T) / np.sqrt(k[large])[:, None]
            means[large] = np.maximum(m, pool.min(axis=0))  # a mean can't be below the minimum
        return means[:, 0], means[:, 1]
