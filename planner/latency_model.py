"""Expected latency of a pool of replicas under a given demand (pure: no I/O, no clock).

Prefill (TTFT) -- a multi-server queue with batching engines
    n replicas behind one router; Poisson arrivals at rate lambda (req/s), mean prompt s tokens.
    A saturated replica runs batches and sustains C = curves.prefill_capacity_tps(s) tokens/s,
    so one request consumes S = s / C seconds of engine time and utilisation is
        rho = lambda * s / (n * C).
    Waiting is the M/G/n queue in the Allen-Cunneen approximation: the M/M/n (Erlang-C) wait
    scaled by k = (ca^2 + cs^2) / 2, ca^2 = 1 (Poisson arrivals), cs^2 = squared coefficient of
    variation of the per-request service time (= that of prompt length; 0.92 on the Azure conv
    trace, so the default is 1):
        P_wait = ErlangC(n, a = lambda * S)
        E[W]   = k * P_wait / (n/S - lambda)
        P(W > t) = P_wait * exp(-(n/S - lambda) * t / k)
    and TTFT = prefill_ttft_ms(s) (the request's own prefill on an idle engine) + W.
    Why not plain "TTFT / (1 - rho)": a batching engine keeps its per-token cost as load rises;
    only waiting grows, and the Erlang-C tail gives a per-request quantile, which is what a
    request-weighted SLA counts. rho >= 1 means the backlog grows without bound: inf.

Decode (ITL) -- Little's law on sequences in flight
    Each request holds a decode slot for osl tokens x ITL. With m sequences per replica in flight
    on average, Little's law gives the fixed point
        m = (lambda / n) * osl * ITL(m + 1, ctx) / 1000,   ctx = isl + osl / 2
    (a request sees the m others plus itself, hence m + 1). ITL is monotone in concurrency, so
    the right-hand side is monotone and the least fixed point is found by a grid scan then
    bisection. No fixed point below the measured KV range (curves.decode_max_concurrency(ctx,
    inf)) means the pool cannot hold the load: inf.
    The count of sequences in flight is Poisson (M/G/infinity), so its q-quantile per replica is
    about m + z_q * sqrt(m); an arriving request's ITL quantile is ITL at that count + 1.

Curves are `profiles.interpolation.ProfileCurves` or anything with the same methods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Protocol

import numpy as np

_NORMAL = NormalDist()
# Grid points for the first scan of the decode fixed point (vectorised in one curves call).
_SCAN_POINTS = 65


class Curves(Protocol):
    """The part of profiles.interpolation.ProfileCurves the latency model reads."""

    gpus_per_replica: int

    def prefill_ttft_ms(self, tokens: float) -> float: ...

    def prefill_capacity_tps(self, isl: float) -> float: ...

    def decode_itl_ms(self, concurrency: float | np.ndarray, context: float) -> float: ...

    def decode_max_concurrency(self, context: float, itl_ms: float) -> float: ...


# ------------------------------------------------------------------------------------------
# Queueing primitives
# ------------------------------------------------------------------------------------------
def erlang_c(servers: int, offered: float) -> float:
    """Probability an arrival waits in M/M/`servers` with `offered` Erlangs (1.0 if overloaded).

    Uses the Erlang-B recurrence, which is numerically stable for thousands of servers.
    """
    if servers <= 0 or offered >= servers:
        return 1.0
    if offered <= 0:
        return 0.0
    b = 1.0
    for k in range(1, servers + 1):
        b = offered * b / (k + offered * b)
    return servers * b / (servers - offered * (1.0 - b))


def z_score(quantile: float) -> float:
    """Standard-normal quantile; clamped so 0 and 1 do not blow up."""
    q = min(max(quantile, 1e-9), 1 - 1e-9)
    return _NORMAL.inv_cdf(q)


def normal_cdf(x: float) -> float:
    return _NORMAL.cdf(x)


# ------------------------------------------------------------------------------------------
# Prefill
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrefillState:
    """Everything the TTFT formulas need for one (demand, replicas) point."""

    base_ms: float  # idle-engine TTFT of a mean-length prompt
    service_s: float  # engine time one request consumes in a saturated batch (s / C)
    utilisation: float  # rho = lambda * s / (n * C)
    p_wait: float  # Erlang-C probability of waiting
    decay_per_s: float  # n/S - lambda: rate of the exponential wait tail (M/M/n)
    scale: float  # Allen-Cunneen factor k = (1 + cs^2) / 2

    @property
    def overloaded(self) -> bool:
        return self.utilisation >= 1.0

    def wait_tail(self, wait_ms: float) -> float:
        """P(wait > wait_ms)."""
        if self.overloaded:
            return 1.0
        if wait_ms < 0:
            return 1.0
        return self.p_wait * math.exp(-self.decay_per_s * (wait_ms / 1000.0) / self.scale)


def prefill_state(
    curves: Curves, rate_rps: float, isl: float, replicas: int, service_scv: float = 1.0
) -> PrefillState:
    rate = max(float(rate_rps), 0.0)
    s = max(float(isl), 1.0)
    base = float(curves.prefill_ttft_ms(s))
    capacity = float(curves.prefill_capacity_tps(s))
    service = s / capacity
    scale = (1.0 + max(service_scv, 0.0)) / 2.0
    if replicas <= 0:
        if rate > 0:
            return PrefillState(base, service, math.inf, 1.0, 0.0, scale)
        return PrefillState(base, service, 0.0, 0.0, 0.0, scale)  # no replicas, no requests
    offered = rate * service
    rho = offered / replicas
    if rho >= 1.0:
        return PrefillState(base, service, rho, 1.0, 0.0, scale)
    return PrefillState(
        base_ms=base,
        service_s=service,
        utilisation=rho,
        p_wait=erlang_c(replicas, offered),
        decay_per_s=replicas / service - rate,
        scale=scale,
    )


def expected_ttft_ms(
    curves: Curves, rate_rps: float, isl: float, replicas: int, service_scv: float = 1.0
) -> float:
    """Mean TTFT (ms) with `replicas` prefill replicas; inf when they cannot keep up."""
    st = prefill_state(curves, rate_rps, isl, replicas, service_scv)
    if st.overloaded:
        return math.inf
    if st.p_wait <= 0.0:
        return st.base_ms
    return st.base_ms + 1000.0 * st.scale * st.p_wait / st.decay_per_s


def ttft_quantile_ms(
    curves: Curves,
    rate_rps: float,
    isl: float,
    replicas: int,
    quantile: float = 0.99,
    service_scv: float = 1.0,
) -> float:
    """q-quantile of TTFT (ms): base + the wait that a share `quantile` of requests beat."""
    st = prefill_state(curves, rate_rps, isl, replicas, service_scv)
    if st.overloaded:
        return math.inf
    miss = 1.0 - quantile
    if st.p_wait <= miss:  # at least `quantile` of requests do not wait at all
        return st.base_ms
    wait_s = st.scale * math.log(st.p_wait / miss) / st.decay_per_s
    return st.base_ms + 1000.0 * wait_s


def ttft_attainment(
    curves: Curves,
    rate_rps: float,
    isl: float,
    replicas: int,
    target_ms: float,
    service_scv: float = 1.0,
) -> float:
    """Share of requests whose TTFT meets `target_ms` (0 when overloaded)."""
    st = prefill_state(curves, rate_rps, isl, replicas, service_scv)
    if st.overloaded or st.base_ms > target_ms:
        return 0.0
    return 1.0 - st.wait_tail(target_ms - st.base_ms)


def prefill_served_fraction(curves: Curves, rate_rps: float, isl: float, replicas: int) -> float:
    """Share of the offered prompt tokens the replicas can process at all (min(1, 1/rho))."""
    if rate_rps <= 0:
        return 1.0
    st = prefill_state(curves, rate_rps, isl, replicas)
    return 1.0 if st.utilisation <= 1.0 else 1.0 / st.utilisation


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
def erlang_c_curve(max_servers: int, offered: float) -> np.ndarray:
    """Erlang-C waiting probability for every server count 0..max_servers in one O(n) pass."""
    out = np.ones(max_servers + 1)
    if offered <= 0:
        out[1:] = 0.0
        return out
    b = 1.0
    for k in range(1, max_servers + 1):
        b = offered * b / (k + offered * b)
        if k > offered:
            out[k] = k * b / (k - offered * (1.0 - b))
    return out


def ttft_attainment_curve(
    curves: Curves,
    rate_rps: float,
    isl: float,
    lo: int,
    hi: int,
    target_ms: float,
    service_scv: float = 1.0,
) -> np.ndarray:
    """ttft_attainment for replicas = lo..hi (inclusive)."""
    n = np.arange(lo, hi + 1)
    st = prefill_state(curves, rate_rps, isl, 1, service_scv)
    rate = max(float(rate_rps), 0.0)
    if st.base_ms > target_ms:
        return np.zeros(n.shape)
    if rate == 0.0:
        return np.where(n >= 0, 1.0, 0.0)
    offered = rate * st.service_s
    p_wait = erlang_c_curve(max(hi, 0), offered)[np.maximum(n, 0)]
    decay = np.maximum(n / st.service_s - rate, 0.0)
    slack_s = (target_ms - st.base_ms) / 1000.0
    att = 1.0 - p_wait * np.exp(-decay * slack_s / st.scale)
    return np.where(n > offered, att, 0.0)


def prefill_served_curve(
    curves: Curves, rate_rps: float, isl: float, lo: int, hi: int
) -> np.ndarray:
    """prefill_served_fraction for replicas = lo..hi."""
    n = np.arange(lo, hi + 1, dtype=float)
    if rate_rps <= 0:
        return np.ones(n.shape)
    offered = rate_rps * prefill_state(curves, rate_rps, isl, 1).service_s
    return np.minimum(1.0, n / offered)


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
