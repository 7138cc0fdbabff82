"""The simulator's decode pool: Little's-law concurrency and Poisson sharing, per fine bin (see simulator)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import poisson

from sla_planner.evaluation.sim_demand import (
    SimDemand,
)
from sla_planner.model.size.latency_curves import Curves

_BISECT_STEPS = 26


def itl_attainable_share(curves: Curves, demand: SimDemand, target_ms: float) -> np.ndarray:
    """Per-bin 1/0: can a lone sequence at the bin's context meet the ITL target at all."""
    isl = np.where(np.isfinite(demand.isl_mean), demand.isl_mean, 1.0)
    osl = np.where(np.isfinite(demand.osl_mean), demand.osl_mean, 1.0)
    allowed = _vector_of(curves.decode_max_concurrency, isl + osl / 2.0, target_ms)
    return np.where(allowed >= 1.0, 1.0, 0.0)


def _vector_of(fn: Any, xs: np.ndarray, *args: float) -> np.ndarray:
    """Evaluate a scalar curve function on many contexts through a 64-point grid."""
    finite = xs[np.isfinite(xs)]
    if finite.size == 0:
        return np.zeros(xs.shape)
    lo, hi = float(finite.min()), float(finite.max())
    grid = np.linspace(lo, hi, 64) if hi > lo else np.array([lo])
    vals = np.array([float(fn(g, *args)) for g in grid])
    return (
        np.interp(np.nan_to_num(xs, nan=lo), grid, vals)
        if grid.size > 1
        else np.full(xs.shape, vals[0])
    )


def itl_bin_share(curves: Curves, demand: SimDemand, n: np.ndarray, target_ms: float) -> np.ndarray:
    """Per-bin share of requests meeting the ITL target."""
    lam = demand.counts / demand.bin_s
    busy = lam > 0
    share = np.ones(demand.bins)
    if not busy.any():
        return share
    isl = np.where(np.isfinite(demand.isl_mean), demand.isl_mean, 1.0)[busy]
    osl = np.where(np.isfinite(demand.osl_mean), demand.osl_mean, 1.0)[busy]
    ctx = np.maximum(isl, 0.0) + np.maximum(osl, 0.0) / 2.0
    nb = n[busy].astype(float)
    top = np.asarray(curves.decode_load_limit(ctx), dtype=float) - 1.0
    allowed = _vector_of(curves.decode_max_concurrency, ctx, target_ms)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_ms = np.where(nb > 0, lam[busy] / nb * osl / 1000.0, np.inf)
    feasible = (nb > 0) & (top >= 0)
    topc = np.maximum(top, 0.0)

    def excess(m: np.ndarray) -> np.ndarray:
        itl = np.asarray(curves.decode_itl_ms(m + 1.0, ctx), dtype=float)
        with np.errstate(invalid="ignore"):
            return per_ms * itl - m

    feasible &= np.nan_to_num(excess(topc), nan=np.inf) <= 0
    lo = np.zeros(ctx.shape)
    hi = topc.copy()
    for _ in range(_BISECT_STEPS):  # invariant: excess(lo) > 0 (or lo = 0), excess(hi) <= 0
        mid = (lo + hi) / 2.0
        e = np.nan_to_num(excess(mid), nan=np.inf)
        good = e <= 0
        hi = np.where(good, mid, hi)
        lo = np.where(good, lo, mid)
    m = hi
    k = np.floor(allowed - 1.0 + 1e-9)
    ok = np.where(k >= 0, poisson.cdf(k, np.maximum(m, 1e-12)), 0.0)
    share[busy] = np.where(feasible, ok, 0.0)
    return share


def itl_share_per_bin(
    curves: Curves, demand: SimDemand, decode_ready: np.ndarray, itl_ms: float
) -> np.ndarray:
    """Per-bin share of requests meeting the ITL target (decode pool only)."""
    return itl_bin_share(curves, demand, np.asarray(decode_ready, np.int64), itl_ms)
