"""Binning per-request traces into intervals, and seeded token draws for count-only traces (pure numpy)."""

from __future__ import annotations

import math

import numpy as np

from sla_planner.sources.trace_files import (
    BinnedTrace,
    RequestTrace,
)


def interval_count(start: float, end: float, step_s: float) -> int:
    """ceil((end - start) / step_s), robust to float noise (59.9999999 -> 60, not 61)."""
    return max(0, math.ceil((end - start) / step_s - 1e-9))


def request_bins(tr: RequestTrace, start: float, n: int, step_s: float) -> tuple[np.ndarray, slice]:
    """Bin index of each request arriving in [start, start + n * step_s), and their rows."""
    end = start + n * step_s
    lo, hi = np.searchsorted(tr.arrival_s, [start, end], side="left")
    t = tr.arrival_s[lo:hi]
    idx = np.minimum(((t - start) // step_s).astype(np.int64), n - 1) if n else t.astype(np.int64)
    return idx, slice(lo, hi)


def bin_requests(
    tr: RequestTrace, start: float, n: int, step_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx, rows = request_bins(tr, start, n, step_s)
    counts = np.bincount(idx, minlength=n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        isl = np.bincount(idx, weights=tr.isl[rows], minlength=n) / counts
        osl = np.bincount(idx, weights=tr.osl[rows], minlength=n) / counts
    return counts, isl, osl


def isl_scv_per_bin(tr: RequestTrace, start: float, n: int, step_s: float) -> np.ndarray:
    idx, rows = request_bins(tr, start, n, step_s)
    x = tr.isl[rows].astype(float)
    c = np.bincount(idx, minlength=n).astype(float)
    s1 = np.bincount(idx, weights=x, minlength=n)
    s2 = np.bincount(idx, weights=x * x, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / c
        return np.where(mean > 0, np.maximum(s2 / c - mean * mean, 0.0) / (mean * mean), np.nan)


def rebin(
    tr: BinnedTrace, start: float, n: int, step_s: float
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Each interval's share of the trace's bins, arrivals spread uniformly within a bin."""
    edges = start + step_s * np.arange(n + 1)
    counts = np.maximum(_shares(tr.bin_start_s, tr.bin_s, tr.requests, edges), 0.0)
    if tr.isl_mean is None or tr.osl_mean is None:
        return counts, None, None
    with np.errstate(invalid="ignore", divide="ignore"):
        isl = _shares(tr.bin_start_s, tr.bin_s, np.nan_to_num(tr.requests * tr.isl_mean), edges)
        osl = _shares(tr.bin_start_s, tr.bin_s, np.nan_to_num(tr.requests * tr.osl_mean), edges)
        isl, osl = isl / counts, osl / counts
    tiny = counts <= 1e-9
    counts[tiny] = 0.0
    isl[tiny] = np.nan
    osl[tiny] = np.nan
    return counts, isl, osl


def _shares(starts: np.ndarray, width: float, per_bin: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The part of `per_bin` falling between consecutive `edges` (bins [s, s + width), uniform).

    Why not differences of a cumulative sum: after one row of 1e18 the running total has no
    resolution left for ordinary rows (1e18 + 300 - 1e18 = 256), so every later interval read
    wrong, even 0. Here an interval adds only the bins it overlaps: the two edge bins' fractions
    and the whole bins between them (summed per interval by reduceat)."""
    k = np.searchsorted(starts, edges, side="right") - 1  # bin at or before each edge; -1: none
    kk = np.maximum(k, 0)
    frac = np.where(k >= 0, np.clip((edges - starts[kk]) / width, 0.0, 1.0), 0.0)
    val = np.where(k >= 0, per_bin[kk], 0.0)
    a, b = k[:-1], k[1:]
    out = np.where(
        a == b,
        val[1:] * (frac[1:] - frac[:-1]),
        val[:-1] * (1.0 - frac[:-1]) * (a >= 0) + val[1:] * frac[1:],
    )
    mid = b - a > 1  # whole bins a+1 .. b-1 in between
    if mid.any():
        bounds = np.stack([a[mid] + 1, b[mid]], axis=1).ravel()
        out[mid] += np.add.reduceat(np.append(per_bin, 0.0), bounds)[::2]
    return out


def hash_mix(x: np.ndarray | np.uint64) -> np.ndarray:
    """splitmix64 finaliser: a fast, well-spread, vectorised hash of uint64 values."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def normals(h: np.ndarray) -> np.ndarray:
    """Two independent standard normals per hash (Box-Muller), shape (len(h), 2)."""
    h2 = hash_mix(h)
    u1 = ((h >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = ((h2 >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    r = np.sqrt(-2.0 * np.log(u1))
    return np.stack([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], axis=1)
