"""Decode (ITL) latency of n replicas: Little's law on the sequences in flight.

See `latency_model` for the model and why. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math

import numpy as np

from sla_planner.model.size.latency_curves import Curves
from sla_planner.model.size.prefill_latency import normal_cdf, z_score

# Grid points for the first scan of the decode fixed point (vectorised in one curves call).
_SCAN_POINTS = 65


# ------------------------------------------------------------------------------------------
# Decode
# ------------------------------------------------------------------------------------------
def decode_context(isl: float, osl: float) -> float:
    """Mean context a decoding sequence holds: the prompt plus half its output (as Dynamo)."""
    return max(float(isl), 0.0) + max(float(osl), 0.0) / 2.0


def decode_load_limit(curves: Curves, context: float) -> float:
    """Highest per-replica concurrency inside the profile's measured KV range."""
    return float(curves.decode_max_concurrency(context, math.inf))


def decode_concurrency(
    curves: Curves, rate_rps: float, isl: float, osl: float, replicas: int
) -> float:
    """Mean sequences in flight per replica (Little's law fixed point); inf if over capacity."""
    if max(float(rate_rps), 0.0) == 0.0:
        return 0.0
    return float(decode_concurrency_many(curves, rate_rps, isl, osl, np.array([replicas]))[0])


def decode_concurrency_many(
    curves: Curves, rate_rps: float, isl: float, osl: float, replicas: np.ndarray
) -> np.ndarray:
    """decode_concurrency for many replica counts at once (two vectorised curve reads).

    Least root of h(m) = (lambda/n) * osl * ITL(m + 1) / 1000 - m on [0, limit - 1]: a
    65-point scan brackets the first sign change, a 65-point scan inside the bracket narrows
    it, and linear interpolation finishes (ITL is piecewise linear, so this is near exact).
    """
    n = np.asarray(replicas, dtype=float).reshape(-1)
    rate = max(float(rate_rps), 0.0)
    out = np.full(n.shape, math.inf)
    if rate == 0.0:
        return np.zeros(n.shape)
    ctx = decode_context(isl, osl)
    top = decode_load_limit(curves, ctx) - 1.0  # the request itself takes the last slot
    live = n > 0
    if top < 0 or not live.any():
        return out
    per_ms = np.zeros(n.shape)
    per_ms[live] = rate / n[live] * max(float(osl), 0.0) / 1000.0  # sequences per ms of ITL

    grid = np.linspace(0.0, top, _SCAN_POINTS)
    itl = np.asarray(curves.decode_itl_ms(grid + 1.0, ctx), dtype=float)
    excess = per_ms[:, None] * itl[None, :] - grid[None, :]
    ok = (excess <= 0.0) & live[:, None]
    has = ok.any(axis=1)
    first = np.argmax(ok, axis=1)
    at_zero = has & (first == 0)
    out[at_zero] = 0.0
    rows = np.nonzero(has & (first > 0))[0]
    if rows.size == 0:
        return out
    lo = grid[first[rows] - 1]
    hi = grid[first[rows]]
    fine = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, _SCAN_POINTS)[None, :]
    itl2 = np.asarray(curves.decode_itl_ms(fine + 1.0, ctx), dtype=float).reshape(fine.shape)
    ex2 = per_ms[rows][:, None] * itl2 - fine
    k = np.argmax(ex2 <= 0.0, axis=1)  # the bracket's top end is <= 0, so k exists
    k = np.maximum(k, 1)
    r = np.arange(rows.size)
    a, b = fine[r, k - 1], fine[r, k]
    ea, eb = ex2[r, k - 1], ex2[r, k]
    denom = np.where(ea - eb > 0, ea - eb, 1.0)
    out[rows] = np.where(ea - eb > 0, a + (b - a) * ea / denom, b)
    return out


def concurrency_quantile(mean: float, quantile: float) -> float:
    """q-quantile of a Poisson count with this mean (normal approximation, >= mean)."""
    if not math.isfinite(mean):
        return math.inf
    if mean <= 0:
        return 0.0
    return mean + max(z_score(quantile), 0.0) * math.sqrt(mean)


def expected_itl_ms(
    curves: Curves, rate_rps: float, isl: float, osl: float, replicas: int
) -> float:
    """Mean ITL (ms) a request sees with `replicas` decode replicas; inf when over KV capacity."""
    m = decode_concurrency(curves, rate_rps, isl, osl, replicas)
    if not math.isfinite(m):
        return math.inf
    return float(curves.decode_itl_ms(m + 1.0, decode_context(isl, osl)))


def itl_quantile_ms(
    curves: Curves,
    rate_rps: float,
    isl: float,
    osl: float,
    replicas: int,
    quantile: float = 0.95,
) -> float:
    """ITL (ms) at the q-quantile of per-replica concurrency; inf past the measured KV range."""
    m = decode_concurrency(curves, rate_rps, isl, osl, replicas)
    if not math.isfinite(m):
        return math.inf
    ctx = decode_context(isl, osl)
    seen = concurrency_quantile(m, quantile) + 1.0
    if seen > decode_load_limit(curves, ctx) + 1e-9:
        return math.inf
    return float(curves.decode_itl_ms(seen, ctx))


def itl_attainment(
    curves: Curves, rate_rps: float, isl: float, osl: float, replicas: int, target_ms: float
) -> float:
    """Share of requests that see an ITL within `target_ms` (0 when over capacity).

    A request meets the target when the sequences it shares the replica with, plus itself,
    stay within decode_max_concurrency(ctx, target); that count is ~Poisson(m).
    """
    m = decode_concurrency(curves, rate_rps, isl, osl, replicas)
    if not math.isfinite(m):
        return 0.0
    ctx = decode_context(isl, osl)
    allowed = float(curves.decode_max_concurrency(ctx, target_ms)) - 1.0
    if allowed < 0:
        return 0.0
    if m <= 0:
        return 1.0
    return normal_cdf((allowed - m) / math.sqrt(m))


def decode_served_fraction(
    curves: Curves, rate_rps: float, isl: float, osl: float, replicas: int
) -> float:
    """Share of demand the replicas' KV capacity can hold in flight (min(1, capacity/need))."""
    if rate_rps <= 0:
        return 1.0
    if replicas <= 0:
        return 0.0
    ctx = decode_context(isl, osl)
    limit = decode_load_limit(curves, ctx)
    if limit <= 0:
        return 0.0
    # Requests/s one replica completes at its KV limit.
    per_replica = limit / (max(osl, 1e-9) * float(curves.decode_itl_ms(limit, ctx)) / 1000.0)
    return min(1.0, replicas * per_replica / rate_rps)


# ------------------------------------------------------------------------------------------
# Whole curves over replica counts (for the budget split; one pass each)
# ------------------------------------------------------------------------------------------
def itl_attainment_curve(
    curves: Curves, rate_rps: float, isl: float, osl: float, lo: int, hi: int, target_ms: float
) -> np.ndarray:
    """itl_attainment for replicas = lo..hi."""
    n = np.arange(lo, hi + 1)
    m = decode_concurrency_many(curves, rate_rps, isl, osl, n)
    allowed = float(curves.decode_max_concurrency(decode_context(isl, osl), target_ms)) - 1.0
    if allowed < 0:
        return np.zeros(n.shape)
    out = np.zeros(n.shape)
    finite = np.isfinite(m)
    out[finite & (m <= 0)] = 1.0
    pos = finite & (m > 0)
    out[pos] = [normal_cdf((allowed - x) / math.sqrt(x)) for x in m[pos]]
    return out


def decode_served_curve(
    curves: Curves, rate_rps: float, isl: float, osl: float, lo: int, hi: int
) -> np.ndarray:
    """decode_served_fraction for replicas = lo..hi."""
    one = decode_served_fraction(curves, rate_rps, isl, osl, 1)
    n = np.arange(lo, hi + 1, dtype=float)
    if rate_rps <= 0:
        return np.ones(n.shape)
    if one >= 1.0:  # one replica already holds it all; recompute the per-replica rate exactly
        return np.where(n >= 1, 1.0, 0.0)
    return np.minimum(1.0, n * one)
