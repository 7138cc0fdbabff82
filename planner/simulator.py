"""Closed-loop simulator: replay demand against a replica schedule and judge the SLA.

Pure (numpy; no I/O, no clock). The benchmark, the baselines' oracle and the dry run share it.

Inputs
    `SimDemand`: demand in fine bins (e.g. 10 s): request count, mean ISL, mean OSL per bin,
    plus who the requests are -- either every request (bin, position in the bin, ISL) for
    per-request traces, or a sample of prompt lengths (the ISL distribution) for count-only
    traces. `Schedule`: replicas per pool per planning interval (the decisions).

Capacity over time
    GPUs are paid for the decided replicas from the start of the interval they are decided for.
    A replica asked for at time s is ready at s + startup_s; a scale-down frees capacity at once
    (pending replicas are cancelled first). With those rules the ready count is exactly
        ready(t) = min over s in [t - startup_s, t] of decided(s),
    evaluated per fine bin. The first decision's replicas are ready at the start (warm start).

Prefill (TTFT), per fine bin b with n ready replicas, arrival rate lambda, mean prompt s
    - Batching per ProfileCurves: a saturated replica sustains C = prefill_capacity_tps(s)
      tokens/s, so a request costs S = s / C seconds of engine time; utilisation rho = lambda S / n.
    - Backlog (fluid, carried across bins): Q_end = max(0, Q_start + tokens_in - n C bin_s)
      (Lindley recursion, vectorised by cumulative sums). A request arriving at position u of
      the bin waits D = max(0, Q_start + u (tokens_in - n C bin_s)) / (n C) for the backlog.
    - Random waiting on top (the same M/G/n Allen-Cunneen model the sizing uses, at
      rho_eff = min(rho, 0.98) so the fluid backlog takes over past saturation and the model
      stays monotone): P(W > t) = ErlangC(n, n rho_eff) exp(-(n/S)(1 - rho_eff) t / k),
      k = (1 + cs^2) / 2 with cs^2 the squared CV of the prompt lengths actually replayed.
    - Each request is judged on its OWN prompt: TTFT = prefill_ttft_ms(isl) + D + W, so a long
      prompt has a longer base TTFT. P(TTFT <= target) is computed exactly per request
      (per-request traces) or averaged over the ISL distribution's quantiles and four positions
      in the bin (count traces).
Decode (ITL), per fine bin with n ready replicas, context ctx = mean ISL + mean OSL / 2
    - Sequences in flight per replica m solve Little's law m = (lambda / n) osl ITL(m + 1, ctx)
      / 1000 (bisection, vectorised); no solution within the profile's measured KV range means
      the pool is over KV capacity and every request of the bin misses.
    - The count a request shares its replica with is Poisson(m); it meets the ITL target when
      that count + 1 <= decode_max_concurrency(ctx, target) (a conservative, instantaneous view).
A request meets the SLA when TTFT and ITL both do (the two treated as independent).

Outputs (`SimResult`): request-weighted attainment (both / TTFT / ITL), GPU-hours (paid), peak
GPUs, scaling actions (replica-count changes summed over both pools), per-interval figures.
A week at 10 s (60k bins) runs in well under a few seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import poisson

from planner.types import Decision

RHO_CAP = 0.98  # random-wait model is frozen here; beyond it the fluid backlog grows
_ISL_QUANTILES = 64  # points of the ISL distribution averaged per bin (count traces)
_POSITIONS = (0.125, 0.375, 0.625, 0.875)  # positions in a bin averaged (count traces)
_BISECT_STEPS = 26
_CHUNK = 8192


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
    """Fine-binned demand from a planner.traces Trace (per-request or binned).

    Per-request traces at rate_scale 1 keep every request; otherwise bins come from
    TraceMetricsSource (same rate scaling and token draws as the dry run) and the ISL mix
    from the trace's own requests or `tokens_from`.
    """
    from planner.traces import RequestTrace, TraceMetricsSource

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
    """Fine-binned demand for a dry run over a planner.traces.TraceMetricsSource (same rate
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


@dataclass(frozen=True)
class Schedule:
    """Replicas decided per planning interval, from `start`."""

    start: float
    interval_s: float
    prefill: np.ndarray  # int per interval
    decode: np.ndarray
    gpus_prefill: int = 1  # GPUs per replica
    gpus_decode: int = 1

    @property
    def intervals(self) -> int:
        return int(self.prefill.size)

    @classmethod
    def from_decisions(cls, decisions: Sequence[Decision], interval_s: float) -> Schedule:
        if not decisions:
            raise ValueError("no decisions to simulate")
        p = np.array([d.prefill.replicas for d in decisions], dtype=np.int64)
        d_ = np.array([d.decode.replicas for d in decisions], dtype=np.int64)
        d0 = decisions[0]
        gp = d0.prefill.gpus // d0.prefill.replicas if d0.prefill.replicas else 1
        gd = d0.decode.gpus // d0.decode.replicas if d0.decode.replicas else 1
        return cls(decisions[0].timestamp, interval_s, p, d_, max(gp, 1), max(gd, 1))

    def gpus(self) -> np.ndarray:
        return self.prefill * self.gpus_prefill + self.decode * self.gpus_decode


@dataclass(frozen=True)
class SimResult:
    attainment: float  # request-weighted: TTFT and ITL both met
    ttft_attainment: float
    itl_attainment: float
    gpu_hours: float
    peak_gpus: int
    mean_gpus: float
    scaling_actions: int
    requests: float
    interval_requests: np.ndarray = field(repr=False)
    interval_ok: np.ndarray = field(repr=False)  # expected requests meeting both, per interval

    def as_dict(self) -> dict[str, float | int]:
        return {
            "attainment": self.attainment,
            "ttft_attainment": self.ttft_attainment,
            "itl_attainment": self.itl_attainment,
            "gpu_hours": self.gpu_hours,
            "peak_gpus": self.peak_gpus,
            "mean_gpus": self.mean_gpus,
            "scaling_actions": self.scaling_actions,
            "requests": self.requests,
        }


# ------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------
def ready_replicas(decided_per_bin: np.ndarray, startup_bins: int) -> np.ndarray:
    """ready[b] = min(decided[b - startup_bins .. b]); before the first bin, decided[0]."""
    d = np.asarray(decided_per_bin, dtype=np.int64)
    out = d.copy()
    for k in range(1, max(int(startup_bins), 0) + 1):
        shifted = np.concatenate([np.full(min(k, d.size), d[0] if d.size else 0), d[:-k]])
        np.minimum(out, shifted[: d.size], out=out)
    return out


def _erlang_c(n: np.ndarray, offered: np.ndarray) -> np.ndarray:
    """Erlang-C waiting probability per element (n servers, `offered` Erlangs < n)."""
    n = np.asarray(n, dtype=np.int64)
    a = np.asarray(offered, dtype=float)
    b = np.ones(a.shape)
    top = int(n.max(initial=0))
    for k in range(1, top + 1):
        live = k <= n
        nb = a * b / (k + a * b)
        b = np.where(live, nb, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = n * b / (n - a * (1.0 - b))
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


def _prefill_state(
    curves: Any, demand: SimDemand, n: np.ndarray, scv: float, reset_every: int | None
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


def _ttft_bin_share(
    curves: Any, demand: SimDemand, st: _Prefill, target_ms: float
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


def ttft_attainable_share(curves: Any, demand: SimDemand, target_ms: float) -> np.ndarray:
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


def itl_attainable_share(curves: Any, demand: SimDemand, target_ms: float) -> np.ndarray:
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


def _itl_bin_share(curves: Any, demand: SimDemand, n: np.ndarray, target_ms: float) -> np.ndarray:
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


def ttft_share_per_bin(
    curves: Any,
    demand: SimDemand,
    prefill_ready: np.ndarray,
    ttft_ms: float,
    reset_every: int | None = None,
    scv: float | None = None,
) -> np.ndarray:
    """Per-bin share of requests meeting the TTFT target (prefill pool only)."""
    sc = demand.prompt_scv() if scv is None else scv
    st = _prefill_state(curves, demand, np.asarray(prefill_ready, np.int64), sc, reset_every)
    return _ttft_bin_share(curves, demand, st, ttft_ms)[0]


def itl_share_per_bin(
    curves: Any, demand: SimDemand, decode_ready: np.ndarray, itl_ms: float
) -> np.ndarray:
    """Per-bin share of requests meeting the ITL target (decode pool only)."""
    return _itl_bin_share(curves, demand, np.asarray(decode_ready, np.int64), itl_ms)


def bin_outcomes(
    curves: Any,
    demand: SimDemand,
    prefill_ready: np.ndarray,
    decode_ready: np.ndarray,
    ttft_ms: float,
    itl_ms: float,
    decode_curves: Any | None = None,
    reset_every: int | None = None,
    scv: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-bin shares meeting TTFT, ITL and both, and per-request P(both) (or None).

    `prefill_ready`/`decode_ready` are replicas serving each bin. `reset_every` empties the
    prefill backlog every that many bins (the oracle judges intervals independently).
    """
    dc = curves if decode_curves is None else decode_curves
    sc = demand.prompt_scv() if scv is None else scv
    st = _prefill_state(curves, demand, np.asarray(prefill_ready, np.int64), sc, reset_every)
    ttft, per_req = _ttft_bin_share(curves, demand, st, ttft_ms)
    itl = _itl_bin_share(dc, demand, np.asarray(decode_ready, np.int64), itl_ms)
    if per_req is not None:
        assert demand.req_bin is not None
        both_req = per_req * itl[demand.req_bin]
        with np.errstate(invalid="ignore", divide="ignore"):
            both = np.bincount(demand.req_bin, weights=both_req, minlength=demand.bins)
            both = np.nan_to_num(both / demand.counts, nan=1.0)
        return ttft, itl, both, both_req
    return ttft, itl, ttft * itl, None


# ------------------------------------------------------------------------------------------
# Running a schedule
# ------------------------------------------------------------------------------------------
def bins_per_interval(demand: SimDemand, interval_s: float) -> int:
    k = interval_s / demand.bin_s
    if abs(k - round(k)) > 1e-6 or round(k) < 1:
        raise ValueError(
            f"the planning interval ({interval_s:g} s) must be a whole number of simulation "
            f"bins ({demand.bin_s:g} s); pick a bin width that divides it"
        )
    return int(round(k))


def _fit_length(demand: SimDemand, bins: int) -> SimDemand:
    if demand.bins == bins:
        return demand
    if demand.bins > bins:
        return demand.slice(0, bins)
    pad = bins - demand.bins
    z = np.zeros(pad)
    nan = np.full(pad, np.nan)
    return SimDemand(
        demand.start,
        demand.bin_s,
        np.concatenate([demand.counts, z]),
        np.concatenate([demand.isl_mean, nan]),
        np.concatenate([demand.osl_mean, nan]),
        demand.req_bin,
        demand.req_pos,
        demand.req_isl,
        demand.isl_sample,
    )


def simulate(
    schedule: Schedule,
    demand: SimDemand,
    curves: Any,
    ttft_ms: float,
    itl_ms: float,
    startup_s: float,
    decode_curves: Any | None = None,
) -> SimResult:
    """Replay `demand` against `schedule` (aligned at its start); see the module docstring."""
    if abs(schedule.start - demand.start) > 1e-6:
        raise ValueError(
            f"schedule starts at {schedule.start} but demand at {demand.start}; align them"
        )
    k = bins_per_interval(demand, schedule.interval_s)
    nbins = schedule.intervals * k
    dm = _fit_length(demand, nbins)
    startup_bins = math.ceil(startup_s / dm.bin_s - 1e-9)
    pre = ready_replicas(np.repeat(schedule.prefill, k), startup_bins)
    dec = ready_replicas(np.repeat(schedule.decode, k), startup_bins)
    ttft, itl, both, _ = bin_outcomes(curves, dm, pre, dec, ttft_ms, itl_ms, decode_curves)
    w = dm.counts
    total = float(w.sum())

    def share(x: np.ndarray) -> float:
        return float((x * w).sum() / total) if total > 0 else math.nan

    gpus = schedule.gpus()
    per_int_req = w.reshape(-1, k).sum(axis=1)
    per_int_ok = (both * w).reshape(-1, k).sum(axis=1)
    actions = int(np.count_nonzero(np.diff(schedule.prefill))) + int(
        np.count_nonzero(np.diff(schedule.decode))
    )
    return SimResult(
        attainment=share(both),
        ttft_attainment=share(ttft),
        itl_attainment=share(itl),
        gpu_hours=float(gpus.sum() * schedule.interval_s / 3600.0),
        peak_gpus=int(gpus.max(initial=0)),
        mean_gpus=float(gpus.mean()) if gpus.size else 0.0,
        scaling_actions=actions,
        requests=total,
        interval_requests=per_int_req,
        interval_ok=per_int_ok,
    )


def simulate_decisions(
    decisions: Sequence[Decision],
    demand: SimDemand,
    curves: Any,
    ttft_ms: float,
    itl_ms: float,
    interval_s: float,
    startup_s: float,
    decode_curves: Any | None = None,
) -> SimResult:
    """simulate() for a dry run's decisions (demand must start at the first decision)."""
    sched = Schedule.from_decisions(decisions, interval_s)
    return simulate(sched, demand, curves, ttft_ms, itl_ms, startup_s, decode_curves)


def simulate_dry_run(
    result: Any,
    source: Any,
    curves: Any,
    config: Any,
    decode_curves: Any | None = None,
    bin_s: float = 10.0,
) -> dict[str, Any] | None:
    """Closed-loop figures for a dry run over a trace (None for other sources, e.g.
    Prometheus, or an interval that is not a whole number of `bin_s` bins)."""
    from planner.traces import TraceMetricsSource

    if not isinstance(source, TraceMetricsSource) or not result.decisions:
        return None
    k = config.interval_s / bin_s
    if abs(k - round(k)) > 1e-6 or round(k) < 1:
        return None
    start = result.decisions[0].timestamp
    end = start + len(result.decisions) * config.interval_s
    demand = demand_from_source(source, start, end, bin_s)
    r = simulate_decisions(
        result.decisions,
        demand,
        curves,
        config.sla.ttft_ms,
        config.sla.itl_ms,
        config.interval_s,
        config.startup_s,
        decode_curves,
    )
    return {
        **r.as_dict(),
        "bin_s": bin_s,
        "method": (
            "closed-loop simulation (planner/simulator.py): decided replicas paid from the "
            f"decision, ready after startup_s, freed at once; {bin_s:g} s bins; prefill "
            "backlog carried over; each request's TTFT from its own prompt length; decode ITL "
            "at the Little's-law concurrency; request-weighted, TTFT and ITL both met"
        ),
    }
