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

# One name for the whole model, so callers read `lm.expected_ttft_ms(...)`; the two halves live
# in prefill_latency and decode_latency.
from sla_planner.model.size.decode_latency import (  # noqa: F401
    concurrency_quantile,
    decode_concurrency,
    decode_concurrency_many,
    decode_context,
    decode_load_limit,
    decode_served_curve,
    decode_served_fraction,
    expected_itl_ms,
    itl_attainment,
    itl_attainment_curve,
    itl_quantile_ms,
)
from sla_planner.model.size.latency_curves import Curves  # noqa: F401
from sla_planner.model.size.prefill_latency import (  # noqa: F401
    PrefillState,
    erlang_c,
    erlang_c_curve,
    expected_ttft_ms,
    normal_cdf,
    prefill_served_curve,
    prefill_served_fraction,
    prefill_state,
    ttft_attainment,
    ttft_attainment_curve,
    ttft_quantile_ms,
    z_score,
)
