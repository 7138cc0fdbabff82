"""Engine timing read from the profile tables (numba, called once per batch / decode step).

Prefill: a batch of T prompt tokens (one prompt or several) takes TTFT(T), the profiled time of
one T-token prompt on an idle engine. TTFT is linear between measured ISLs, linear beyond the
last point at the last segment's slope, and clamped to the first point below it (a forward pass
has a fixed cost; the profile starts at 100 tokens).

Decode: one step (one token for every running sequence) takes ITL(kv, ctx) where
kv = (sum of the batch's current contexts) / max_kv_tokens and ctx = mean context of the batch.
Within a measured context row ITL is linear in kv_usage (clamped below the first point,
extrapolated beyond the last at the row's slope). Between rows it is linear in 1/ctx at fixed
kv_usage. Why 1/ctx: at fixed kv the batch size is N = kv * max_kv / ctx, so this is linear in N,
and it is exact for a step cost a + b*N + c*(KV tokens read). Outside the rows' context range
the nearest row is used (for long contexts ITL then depends on kv_usage only, which is what the
measured rows >= 3k tokens show).

Flat decode table (EngineTables.itl_tab): [r, k, ctx[r], n[r], slope[r], kv[r*k], itl[r*k]]
for r rows of up to k points (row i's points at offset i*k, padded).
"""

from __future__ import annotations

import numpy as np

from sla_planner.evaluation.des.jit import kernel


@kernel
def prefill_ms(isl_pts: np.ndarray, ttft_pts: np.ndarray, tokens: float) -> float:
    """Profiled time (ms) to prefill `tokens` tokens on an idle replica."""
    m = isl_pts.size
    if tokens <= isl_pts[0]:
        return ttft_pts[0]
    if tokens >= isl_pts[m - 1]:
        slope = (ttft_pts[m - 1] - ttft_pts[m - 2]) / (isl_pts[m - 1] - isl_pts[m - 2])
        return ttft_pts[m - 1] + slope * (tokens - isl_pts[m - 1])
    j = np.searchsorted(isl_pts, tokens)  # isl_pts[j-1] < tokens <= isl_pts[j]
    w = (tokens - isl_pts[j - 1]) / (isl_pts[j] - isl_pts[j - 1])
    return ttft_pts[j - 1] + w * (ttft_pts[j] - ttft_pts[j - 1])


@kernel
def _row_itl(tab: np.ndarray, i: int, kv: float) -> float:
    r, k = int(tab[0]), int(tab[1])
    n = int(tab[2 + r + i])
    kb = 2 + 3 * r + i * k  # this row's kv points
    ib = kb + r * k  # its ITL points
    if kv <= tab[kb]:
        return tab[ib]
    if kv >= tab[kb + n - 1]:
        return tab[ib + n - 1] + tab[2 + 2 * r + i] * (kv - tab[kb + n - 1])
    j = 1
    while tab[kb + j] < kv:  # rows have ~7 points: a linear scan beats bisection
        j += 1
    x0 = tab[kb + j - 1]
    w = (kv - x0) / (tab[kb + j] - x0)
    return tab[ib + j - 1] + w * (tab[ib + j] - tab[ib + j - 1])


@kernel
def itl_ms(tab: np.ndarray, kv: float, ctx: float) -> float:
    """Profiled decode step time (ms) at kv_usage `kv` and mean context `ctx` (tokens)."""
    r = int(tab[0])
    if r == 1 or ctx <= tab[2]:
        return _row_itl(tab, 0, kv)
    if ctx >= tab[2 + r - 1]:
        return _row_itl(tab, r - 1, kv)
    j = 1
    while tab[2 + j] < ctx:
        j += 1
    lo = _row_itl(tab, j - 1, kv)
    hi = _row_itl(tab, j, kv)
    inv0 = 1.0 / tab[2 + j - 1]
    w = (inv0 - 1.0 / ctx) / (inv0 - 1.0 / tab[2 + j])
    return lo + w * (hi - lo)
