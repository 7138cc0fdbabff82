"""Prefill (TTFT) latency of n replicas: the M/G/n queue in the Allen-Cunneen approximation.

See `latency_model` for the model and why. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy.special import gammaincc, gammaln

from sla_planner.model.size.latency_curves import Curves

_NORMAL = NormalDist()

# Up to this many servers Erlang C runs the exact Erlang-B recurrence (O(n) Python steps, about
# 0.1 ms per 1000); beyond it, the closed form below (O(1), so a counter glitch asking for 1e18
# servers cannot hang a tick). Every replica count real deployments and the benchmarks reach is
# below it, so their figures stay bit-for-bit those of the recurrence.
RECURRENCE_MAX_SERVERS = 1000


# ------------------------------------------------------------------------------------------
# Queueing primitives
# ------------------------------------------------------------------------------------------
def erlang_c(servers: int, offered: float) -> float:
    """Probability an arrival waits in M/M/`servers` with `offered` Erlangs (1.0 if overloaded).

    Exact for any size, in bounded time: the recurrence up to RECURRENCE_MAX_SERVERS, the
    closed form beyond.
    """
    if servers <= 0 or offered >= servers:
        return 1.0
    if offered <= 0:
        return 0.0
    if servers <= RECURRENCE_MAX_SERVERS:
        return erlang_c_recurrence(servers, offered)
    return float(erlang_c_closed_form(np.array([float(servers)]), float(offered))[0])


def erlang_c_recurrence(servers: int, offered: float) -> float:
    """Erlang C by the Erlang-B recurrence: exact and numerically stable, O(servers) steps."""
    b = 1.0
    for k in range(1, int(servers) + 1):
        b = offered * b / (k + offered * b)
    return servers * b / (servers - offered * (1.0 - b))


def erlang_c_closed_form(servers: np.ndarray, offered: float | np.ndarray) -> np.ndarray:
    """Erlang C for each server count (all > offered > 0) in O(1) each, exact.

    Erlang B is the Poisson(offered) pmf at n over its cdf at n (the truncated-Poisson form of
    the loss formula); the cdf is the regularised upper incomplete gamma Q(n + 1, a). Both in
    log space / scipy's incomplete gamma, so nothing overflows for any n. Then
    C = n B / (n - a (1 - B)).
    """
    n = np.asarray(servers, dtype=float)
    a = np.asarray(offered, dtype=float)
    with np.errstate(all="ignore"):
        log_pmf = n * np.log(a) - a - gammaln(n + 1.0)
        cdf = gammaincc(n + 1.0, a)  # P(Poisson(a) <= n) > 1/2 when n > a
        b = np.exp(log_pmf) / cdf
        c = n * b / (n - a * (1.0 - b))
    return np.clip(np.nan_to_num(c, nan=1.0), 0.0, 1.0)


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
# Whole curves over replica counts (for the budget split; one pass each)
# ------------------------------------------------------------------------------------------
def erlang_c_curve(max_servers: int, offered: float) -> np.ndarray:
    """Erlang-C waiting probability for every server count 0..max_servers: the recurrence in
    one pass up to RECURRENCE_MAX_SERVERS, the closed form (vectorised) beyond."""
    out = np.ones(max_servers + 1)
    if offered <= 0:
        out[1:] = 0.0
        return out
    b = 1.0
    for k in range(1, min(max_servers, RECURRENCE_MAX_SERVERS) + 1):
        b = offered * b / (k + offered * b)
        if k > offered:
            out[k] = k * b / (k - offered * (1.0 - b))
    if max_servers > RECURRENCE_MAX_SERVERS:
        k = np.arange(RECURRENCE_MAX_SERVERS + 1, max_servers + 1, dtype=float)
        live = k > offered
        out[RECURRENCE_MAX_SERVERS + 1 :][live] = erlang_c_closed_form(k[live], offered)
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
