"""Per-request SLA accounting shared by the kernels, and percentiles from log histograms.

A request is recorded once, when it completes (last token; for OSL <= 1 at prefill end).
Counters are exact; percentiles come from log-spaced histograms (BINS_PER_DECADE bins per
decade from 10**LOG_LO ms, so a percentile is within one bin, 1.2%, of the exact value; values
are interpolated within the bin). Optionally the exact per-request values are captured.
"""

from __future__ import annotations

import math

import numpy as np

from sla_planner.evaluation.des.jit import kernel

# Accumulator columns (float64 array `acc`).
A_N, A_MET, A_TTFT_MET, A_ITL_MET, A_TTFT_SUM, A_ITL_SUM = range(6)
A_TTFT_MAX, A_ITL_MAX, A_TLAST = 6, 7, 8  # maxima; A_TLAST = latest completion time (s)
A_DWAIT, A_DWAIT_S = 9, 10  # requests that waited for a decode slot, and their wait (s),
# counted when they are admitted (not when they complete)
N_ACC = 11
_MAX_COLS = (A_TTFT_MAX, A_ITL_MAX, A_TLAST)
LOG_LO = -3.0  # 1 us; ITL of OSL <= 1 requests (0 ms) falls in bin 0
BINS_PER_DECADE = 200
N_BINS = 11 * BINS_PER_DECADE + 2  # up to 1e8 ms (~28 h), plus under/overflow


@kernel
def _bin(ms: float) -> int:
    if ms <= 0.0:
        return 0
    # math.log10, not np.log10: the numpy one is several times slower inside numba
    b = int((math.log10(ms) - LOG_LO) * BINS_PER_DECADE) + 1
    if b < 1:
        return 0
    if b > N_BINS - 1:
        return N_BINS - 1
    return b


@kernel
def record(
    acc: np.ndarray,
    hist: np.ndarray,
    cap: np.ndarray,
    sla_ttft: float,
    sla_itl: float,
    ttft_ms: float,
    itl_ms: float,
    rid: int,
    t_done: float,
) -> None:
    """Count one completed request; `cap` (3, n) gets (ttft, itl, done time) when non-empty."""
    ok_t = ttft_ms <= sla_ttft
    ok_i = itl_ms <= sla_itl
    acc[A_N] += 1.0
    acc[A_TTFT_MET] += ok_t
    acc[A_ITL_MET] += ok_i
    acc[A_MET] += ok_t and ok_i
    acc[A_TTFT_SUM] += ttft_ms
    acc[A_ITL_SUM] += itl_ms
    acc[A_TTFT_MAX] = max(acc[A_TTFT_MAX], ttft_ms)
    acc[A_ITL_MAX] = max(acc[A_ITL_MAX], itl_ms)
    acc[A_TLAST] = max(acc[A_TLAST], t_done)
    hist[0, _bin(ttft_ms)] += 1
    hist[1, _bin(itl_ms)] += 1
    if cap.shape[1] > 0:
        cap[0, rid] = ttft_ms
        cap[1, rid] = itl_ms
        cap[2, rid] = t_done


def new_acc() -> np.ndarray:
    return np.zeros(N_ACC)


def merge_acc(total: np.ndarray, part: np.ndarray) -> None:
    """total <- total + part (maxima: max)."""
    for c in range(N_ACC):
        total[c] = max(total[c], part[c]) if c in _MAX_COLS else total[c] + part[c]


def new_hist() -> np.ndarray:
    return np.zeros((2, N_BINS), dtype=np.int64)


def bin_edges_ms() -> np.ndarray:
    """Lower edge of every bin (bin 0: everything below 10**LOG_LO, edge 0)."""
    k = np.arange(N_BINS - 1)
    edges = 10.0 ** (LOG_LO + k / BINS_PER_DECADE)
    return np.concatenate(([0.0], edges))


def percentile(counts: np.ndarray, q: float) -> float:
    """q-th percentile (0..100) of a histogram row, log-interpolated inside the bin."""
    total = int(counts.sum())
    if total == 0:
        return float("nan")
    rank = q / 100.0 * total
    cum = np.cumsum(counts)
    b = int(np.searchsorted(cum, rank, side="left"))
    b = min(b, counts.size - 1)
    if b == 0:
        return 0.0
    below = cum[b] - counts[b]
    frac = (rank - below) / max(counts[b], 1)
    lo = LOG_LO + (b - 1) / BINS_PER_DECADE
    return float(10.0 ** (lo + min(max(frac, 0.0), 1.0) / BINS_PER_DECADE))
