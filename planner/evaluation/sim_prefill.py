"""The simulator's prefill pool: a fluid backlog plus M/G/n random waiting, per fine bin (see simulator)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sla_planner.evaluation.sim_demand import (
    SimDemand,
)
from sla_planner.model.size.latency_curves import Curves
from sla_planner.model.size.prefill_latency import RECURRENCE_MAX_SERVERS, erlang_c_closed_form

RHO_CAP = 0.98  # random-wait model is frozen here; beyond it the fluid backlog grows


_ISL_QUANTILES = 64  # points of the ISL distribution averaged per bin (count traces)


_POSITIONS = (0.125, 0.375, 0.625, 0.875)  # positions in a bin averaged (count traces)


_CHUNK = 8192


def _erlang_c(n: np.ndarray, offered: np.ndarray) -> np.ndarray:
    """Erlang-C waiting probability per element (n servers, `offered` Erlangs < n).

    The vectorised recurrence runs to at most RECURRENCE_MAX_SERVERS steps; larger server
    counts take the closed form (the sizing's own split), so a huge schedule stays bounded.
    """
    n = np.asarray(n, dtype=np.int64)
    a = np.asarray(offered, dtype=float)
    b = np.ones(a.shape)
    big = n > RECURRENCE_MAX_SERVERS
    top = int(np.where(big, 0, n).max(initial=0))
    for k in range(1, top + 1):
        live = k <= n
        nb = a * b / (k + a * b)
        b = np.where(live, nb, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = n * b / (n - a * (1.0 - b))
    if big.any():
        c[big] = erlang_c_closed_form(n[big], a[big])
    c = np.where(a <= 0, 0.0, c)
    return np.clip(np.nan_to_num(c, nan=1.0), 0.0, 1.0)


@dataclass(frozen=True)
class _Prefill:
    backlog_start: np.ndarray  # tokens queued at the bin start
    net_in: np.ndarray  # tokens in - capacity over the bin
    drain_tps: np.ndarray  # n x C
    p_wait: np.ndarray
    decay: np.ndarray  # per second
    scale: float
    dead: np.ndarray  # demand and no replica


def _lindley(x: np.ndarray, group: int | None) -> np.ndarray:
    """Backlog at each bin's END; reset to 0 at every `group` bins when given."""
    if group is None or group <= 0 or x.size % group:
        s = np.cumsum(x)
        return s - np.minimum(np.minimum.accumulate(s), 0.0)
    s = np.cumsum(x.reshape(-1, group), axis=1)
    return (s - np.minimum(np.minimum.accumulate(s, axis=1), 0.0)).reshape(-1)


def prefill_backlog_state(
    curves: Curves, demand: SimDemand, n: np.ndarray, scv: float, reset_every: int | None
) -> _Prefill:
    counts = demand.counts
    s = np.where(np.isfinite(demand.isl_mean) & (demand.isl_mean > 0), demand.isl_mean, 1.0)
    mbt = (
        float(getattr(curves.profile, "max_batched_tokens", 0))
        if hasattr(curves, "profile")
        else 0.0
    )
    batch = np.maximum(s, mbt)
    cap = batch / np.asarray(curves.prefill_ttft_ms(batch), dtype=float) * 1000.0  # tokens/s
    nf = n.astype(float)
    drain = nf * cap
    net = counts * s - drain * demand.bin_s
    end = _lindley(net, reset_every)
    start = np.concatenate([[0.0], end[:-1]])  # Q_start[b] = Q_end[b - 1]
    if reset_every and net.size % reset_every == 0:
        start[::reset_every] = 0.0
    service = s / cap
    lam = counts / demand.bin_s
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(nf > 0, lam * service / nf, np.inf)
    rho_eff = np.minimum(rho, RHO_CAP)
    live = nf > 0
    pw = np.ones(n.shape)
    pw[live] = _erlang_c(n[live], (nf * rho_eff)[live])
    with np.errstate(invalid="ignore", divide="ignore"):
        decay = np.where(live, nf / service * (1.0 - rho_eff), 0.0)
    return _Prefill(start, net, drain, pw, decay, (1.0 + scv) / 2.0, (~live) & (counts > 0))


def _ttft_ok(
    st: _Prefill, idx: np.ndarray, base_ms: np.ndarray, pos: np.ndarray, target_ms: float
) -> np.ndarray:
    """P(TTFT <= target) for requests with base TTFT `base_ms` at `pos` in bins `idx`."""
    q = np.maximum(st.backlog_start[idx] + pos * st.net_in[idx], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        d_ms = np.where(q > 0, q / st.drain_tps[idx] * 1000.0, 0.0)
    slack = target_ms - base_ms - d_ms
    tail = st.p_wait[idx] * np.exp(-st.decay[idx] * np.maximum(slack, 0.0) / 1000.0 / st.scale)
    ok = np.where(slack >= 0, 1.0 - tail, 0.0)
    return np.where(st.dead[idx], 0.0, ok)


def ttft_bin_share(
    curves: Curves, demand: SimDemand, st: _Prefill, target_ms: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """(per-bin expected share meeting TTFT, per-request probability or None)."""
    nb = demand.bins
    if demand.per_request:
        assert demand.req_bin is not None and demand.req_pos is not None
        base = np.asarray(curves.prefill_ttft_ms(demand.req_isl), dtype=float)
        p = _ttft_ok(st, demand.req_bin, base, demand.req_pos, target_ms)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.bincount(demand.req_bin, weights=p, minlength=nb) / demand.counts
        return np.nan_to_num(share, nan=1.0), p
    assert demand.isl_sample is not None
    qs = (np.arange(_ISL_QUANTILES) + 0.5) / _ISL_QUANTILES
    base = np.asarray(curves.prefill_ttft_ms(np.quantile(demand.isl_sample, qs)), dtype=float)
    # Calm bins (no backlog, no growth, negligible queueing) need no per-quantile work.
    calm_share = float(np.mean(base <= target_ms))
    share = np.ones(nb)
    stressed = (st.backlog_start > 0) | (st.net_in > 0) | (st.p_wait > 1e-12) | st.dead
    share[(demand.counts > 0) & ~stressed] = calm_share
    busy = np.nonzero((demand.counts > 0) & stressed)[0]
    pts = np.array(_POSITIONS)
    for lo in range(0, busy.size, _CHUNK):
        idx = busy[lo : lo + _CHUNK]
        ii = np.repeat(idx, pts.size * base.size)
        pp = np.tile(np.repeat(pts, base.size), idx.size)
        bb = np.tile(base, idx.size * pts.size)
        ok = _ttft_ok(st, ii, bb, pp, target_ms).reshape(idx.size, -1)
        share[idx] = ok.mean(axis=1)
    return share, None


def ttft_attainable_share(curves: Curves, demand: SimDemand, target_ms: float) -> np.ndarray:
    """Per-bin share of requests whose prompt meets the TTFT target on an idle replica."""
    if demand.per_request:
        assert demand.req_bin is not None
        ok = np.asarray(curves.prefill_ttft_ms(demand.req_isl), dtype=float) <= target_ms
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.bincount(demand.req_bin, weights=ok, minlength=demand.bins) / demand.counts
        return np.nan_to_num(share, nan=1.0)
    assert demand.isl_sample is not None
    qs = (np.arange(_ISL_QUANTILES) + 0.5) / _ISL_QUANTILES
    base = np.asarray(curves.prefill_ttft_ms(np.quantile(demand.isl_sample, qs)), dtype=float)
    return np.full(demand.bins, float(np.mean(base <= target_ms)))


def ttft_share_per_bin(
    curves: Curves,
    demand: SimDemand,
    prefill_ready: np.ndarray,
    ttft_ms: float,
    reset_every: int | None = None,
    scv: float | None = None,
) -> np.ndarray:
    """Per-bin share of requests meeting the TTFT target (prefill pool only)."""
    sc = demand.prompt_scv() if scv is None else scv
    st = prefill_backlog_state(curves, demand, np.asarray(prefill_ready, np.int64), sc, reset_every)
    return ttft_bin_share(curves, demand, st, ttft_ms)[0]
