"""SLA sizing: the fewest replicas of one pool that meet its latency target (pure).

Prefill: smallest n >= min_replicas with
    utilisation rho(n) <= max_utilization          (headroom for forecast error and bursts)
    and TTFT q-quantile(n) <= ttft_target * target_fraction
(latency_model.ttft_quantile_ms). Both sides are monotone in n and in demand, so the answer
is found by exponential + binary search and more demand never gives fewer replicas.

Decode: with c* = decode_max_concurrency(ctx, itl_target * target_fraction) sequences per
replica allowed, the q-quantile of the per-replica count must fit: m + z_q sqrt(m) + 1 <= c*,
i.e. the mean per replica m <= m* = ((-z + sqrt(z^2 + 4 (c* - 1))) / 2)^2. The Little's-law
fixed point stays at or below m* exactly when (lambda / n) osl ITL(m* + 1) / 1000 <= m*, so
    n = ceil(lambda * osl * ITL(m* + 1, ctx) / (1000 * m*))
in closed form (linear in lambda: monotone by construction).

When the target cannot be met at any size, the result says so: prefill (a mean prompt's
idle-engine TTFT already misses it) is sized so `quantile` of requests do not queue -- the limit
of the latency rule, so sizing stays monotone across that boundary; decode (fewer than two
sequences per replica would meet the ITL target, a configuration mistake) is sized for KV
capacity only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from sla_planner.model.reasons import Binding
from sla_planner.model.size import latency_model as lm

# Defaults another engineer tunes (benchmarks in issue 3); kept in one place.
DEFAULT_TTFT_QUANTILE = 0.99  # share of requests whose own queueing wait must fit the target
DEFAULT_ITL_QUANTILE = 0.95  # quantile of per-replica concurrency that must meet the ITL target
DEFAULT_MAX_UTILIZATION = 0.90  # prefill: never plan above this share of batch capacity
DEFAULT_SERVICE_SCV = 1.0  # prefill service-time variability (prompt-length SCV, ~0.92 Azure)
DEFAULT_TARGET_FRACTION = 1.0  # plan to this fraction of each latency target

# What the Planner uses (SizingPolicy defaults), tuned on days 2-4 of the Azure 2024 week
# benchmark (benchmarks/tune_sizing.py) and checked on days 5-7, Azure 2023 conv/code and
# Mooncake (benchmarks/results.md). The function keyword defaults above stay model-neutral.
# - ITL: p99 of per-replica concurrency at the ITL target, at the burst-scaled rate
#   (planner/model/forecast/burst.py). Sub-interval (10 s) bursts, not concurrency noise, were what pushed
#   batches past the target: before decode planned for them it took p99.9 at 90% of the
#   target to reach ~99.9% ITL attainment, at more GPU-hours than HPA needs for as much.
# - Prefill SCV: the measured prompt-length SCV x 1.25 (Azure conv 0.92, code 0.93, Mooncake
#   1.72); 2.0 (covers Mooncake; at 1.0 it fell to ~98%) while no source reports it. Measured,
#   Azure conv needs 12% fewer GPU-hours than at the fixed 2.0, at 99.84% attainment.
# - Prefill utilisation cap 0.85 (swept 0.8/0.85/0.9 on days 2-4): with the measured SCV the
#   p99 rule alone plans close to the knee, where a burst or forecast miss queues; 0.85 bought
#   ~+0.03 pp attainment for ~+2.5% GPU-hours, which HPA's frontier prices at ~+6%.
POLICY_MAX_UTILIZATION = 0.85
POLICY_ITL_QUANTILE = 0.99
POLICY_ITL_TARGET_FRACTION = 1.0
POLICY_SERVICE_SCV = 2.0
# The measured SCV is a recent-window estimate: the margin covers a heavier-tailed mix arriving
# (Mooncake measured 1.72 -> 2.15 planned) and Allen-Cunneen's approximation error.
POLICY_SCV_MARGIN = 1.25
# Sizing never answers more than this many replicas: only absurd demand reaches it (a counter
# glitch, a 1e18-token request), and the pools' max_replicas cap far below it anyway
# (PoolLimits). Every search below is bounded by it, so sizing takes bounded time for any input.
SEARCH_CAP = 1_000_000


@dataclass(frozen=True)
class SizingPolicy:
    """Headroom knobs for both pools (the size_prefill / size_decode keywords); the defaults
    are the tuned POLICY_* values above."""

    ttft_quantile: float = DEFAULT_TTFT_QUANTILE
    itl_quantile: float = POLICY_ITL_QUANTILE
    prefill_max_utilization: float = POLICY_MAX_UTILIZATION
    prefill_service_scv: float = POLICY_SERVICE_SCV
    ttft_target_fraction: float = DEFAULT_TARGET_FRACTION
    itl_target_fraction: float = POLICY_ITL_TARGET_FRACTION
    # Plan for the forecast's upper quantile of the request COUNT only; mean ISL/OSL over an
    # interval's many requests are stable, and taking their upper quantiles too would stack
    # three margins. True uses isl_upper/osl_upper where the forecast has them.
    lengths_at_quantile: bool = False
    # Which pools plan for sub-interval bursts (PlannerConfig.burst_quantile). Decode: a batch
    # follows the arrival rate within seconds and its ITL is shared by every sequence in it,
    # so a 10 s burst past the ITL-feasible concurrency misses for everyone. Prefill's queue
    # absorbs short bursts, and its tail-quantile sizing already leaves room for them.
    prefill_burst: bool = False
    decode_burst: bool = True
    # Prefill service SCV from the traffic's measured prompt-length SCV (DemandSample.isl_scv,
    # planner/model/forecast/prompt_variability.py) times this margin; `prefill_service_scv` is used until a
    # source reports it. None: always the fixed value.
    prefill_scv_margin: float | None = POLICY_SCV_MARGIN

    def __post_init__(self) -> None:
        for name in ("ttft_quantile", "itl_quantile"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {v}")
        for name in ("prefill_max_utilization", "ttft_target_fraction", "itl_target_fraction"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {v}")
        if self.prefill_scv_margin is not None and not self.prefill_scv_margin > 0:
            raise ValueError(f"prefill_scv_margin must be > 0, got {self.prefill_scv_margin}")
        if self.prefill_service_scv < 0:
            raise ValueError(f"prefill_service_scv must be >= 0, got {self.prefill_service_scv}")


@dataclass(frozen=True)
class SizingResult:
    replicas: int
    expected_ms: float  # mean latency at `replicas` (TTFT or ITL)
    quantile_ms: float  # latency at the planning quantile at `replicas`
    binding: Binding  # what set the size (a str given is read as its Binding)
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "binding", Binding(self.binding))


def _clean(x: float, default: float = 1.0) -> float:
    return x if math.isfinite(x) and x > 0 else default


def _fewest_meeting(meets: Callable[[int], bool], lo: int) -> tuple[int, str]:
    """Fewest n >= lo with meets(n) (meets is monotone), and what bound it: `lo` itself is the
    utilisation cap; beyond it, the latency rule (doubling, then bisection); "capped" when not
    even SEARCH_CAP replicas meet it (at most ~40 calls of meets, whatever the demand)."""
    if lo >= SEARCH_CAP:
        return SEARCH_CAP, "capped"
    if meets(lo):
        return lo, "utilisation"
    hi = min(lo * 2, SEARCH_CAP)
    while hi < SEARCH_CAP and not meets(hi):
        lo, hi = hi, min(hi * 2, SEARCH_CAP)
    if hi == SEARCH_CAP and not meets(hi):
        return hi, "capped"
    while hi - lo > 1:  # invariant: not meets(lo), meets(hi)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if meets(mid) else (mid, hi)
    return hi, "latency"


def _decode_replicas_for(
    curves: lm.Curves, rate: float, osl: float, ctx: float, allowed: float, quantile: float
) -> tuple[float, int]:
    """(mean sequences per replica m*, replicas) so that m* + z*sqrt(m*) + 1 <= `allowed`
    (Poisson count of sequences in flight, at the quantile) and Little's law carries `rate`."""
    z = max(lm.z_score(quantile), 0.0)
    room = max(allowed - 1.0, 0.0)
    m_star = ((-z + math.sqrt(z * z + 4.0 * room)) / 2.0) ** 2
    if m_star <= 1e-9:
        return m_star, SEARCH_CAP
    itl = float(curves.decode_itl_ms(m_star + 1.0, ctx))
    need = rate * osl * itl / (1000.0 * m_star)
    if not need < SEARCH_CAP:  # also inf / NaN from absurd demand: ceil would overflow
        return m_star, SEARCH_CAP
    return m_star, max(1, math.ceil(need - 1e-9))


def _settled(curves: lm.Curves, rate: float, isl: float, osl: float, n: int, m_star: float) -> int:
    """The closed form's count, raised while the latency model's own Little's-law fixed point
    there lies above m*: near the ITL curve's knee a second, higher fixed point can take over
    (seen: 62 replicas planned for a p95 ITL of 28 ms against 25 ms). A few steps at most."""
    for _ in range(8):
        if n >= SEARCH_CAP or lm.decode_concurrency(curves, rate, isl, osl, n) <= m_star * (
            1 + 1e-6
        ):
            return n
        n += 1
    return n


def size_prefill(
    curves: lm.Curves,
    rate_rps: float,
    isl: float,
    ttft_target_ms: float,
    *,
    min_replicas: int = 1,
    quantile: float = DEFAULT_TTFT_QUANTILE,
    max_utilization: float = DEFAULT_MAX_UTILIZATION,
    service_scv: float = DEFAULT_SERVICE_SCV,
    target_fraction: float = DEFAULT_TARGET_FRACTION,
    with_latency: bool = True,
) -> SizingResult:
    """Fewest prefill replicas (>= min_replicas) meeting the TTFT target with headroom.

    with_latency=False skips computing the result's latencies (NaN): for callers that size
    many candidate demands and only report one.
    """
    rate = rate_rps if math.isfinite(rate_rps) and rate_rps > 0 else 0.0
    isl = _clean(isl)
    floor_n = max(int(min_replicas), 0)
    goal = ttft_target_ms * target_fraction
    at = (curves, rate, isl, quantile, service_scv) if with_latency else None
    describe = functools.partial(_prefill_result, at)
    if rate == 0.0:
        return describe(floor_n, "idle", "no demand forecast")

    service = lm.prefill_state(curves, rate, isl, 1, service_scv).service_s
    offered = rate * service
    base = float(curves.prefill_ttft_ms(isl))
    attainable = base <= goal
    miss = 1.0 - quantile

    def meets(n: int) -> bool:
        if attainable:
            return lm.ttft_quantile_ms(curves, rate, isl, n, quantile, service_scv) <= goal
        # The limit of the latency rule as the slack goes to 0: a share `quantile` of
        # requests must not queue at all. Keeps sizing monotone across the boundary.
        return lm.erlang_c(n, offered) <= miss

    least = offered / max_utilization  # inf / NaN for absurd demand: straight to the cap
    lo = max(1, math.ceil(least - 1e-9)) if least < SEARCH_CAP else SEARCH_CAP
    n_needed, binding = _fewest_meeting(meets, lo)
    if binding == "capped":
        why = f"{rate:.3g} req/s x {isl:.0f} tok needs more than {SEARCH_CAP} replicas: capped"
        return describe(max(floor_n, n_needed), "utilisation", why)
    if not attainable:
        return describe(
            max(floor_n, n_needed),
            "unattainable",
            f"TTFT target unattainable: a {isl:.0f}-token prompt takes {base:.0f} ms on an idle "
            f"replica (> {goal:.0f} ms); sized so {quantile:.0%} of requests do not queue",
        )
    if floor_n >= n_needed:
        return describe(floor_n, "minimum", f"{rate:.2f} req/s fits the minimum replicas")
    why = (
        f"{rate:.2f} req/s x {isl:.0f} tok: TTFT p{quantile * 100:g} <= {goal:.0f} ms"
        if binding == "latency"
        else f"{rate:.2f} req/s x {isl:.0f} tok: utilisation <= {max_utilization:.0%}"
    )
    return describe(n_needed, binding, why)


def _prefill_result(
    at: tuple[lm.Curves, float, float, float, float] | None, n: int, binding: str, why: str
) -> SizingResult:
    """The result at n replicas; `at` = (curves, rate, isl, quantile, scv), or None to skip
    the latencies (NaN)."""
    if at is None:
        return SizingResult(n, math.nan, math.nan, binding, why)
    curves, rate, isl, quantile, scv = at
    expected = lm.expected_ttft_ms(curves, rate, isl, n, scv)
    return SizingResult(
        n, expected, lm.ttft_quantile_ms(curves, rate, isl, n, quantile, scv), binding, why
    )


def size_decode(
    curves: lm.Curves,
    rate_rps: float,
    isl: float,
    osl: float,
    itl_target_ms: float,
    *,
    min_replicas: int = 1,
    quantile: float = DEFAULT_ITL_QUANTILE,
    target_fraction: float = DEFAULT_TARGET_FRACTION,
    with_latency: bool = True,
) -> SizingResult:
    """Fewest decode replicas (>= min_replicas) whose ITL meets the target with headroom."""
    rate = rate_rps if math.isfinite(rate_rps) and rate_rps > 0 else 0.0
    isl, osl = _clean(isl), _clean(osl)
    floor_n = max(int(min_replicas), 0)
    goal = itl_target_ms * target_fraction
    ctx = lm.decode_context(isl, osl)

    def describe(n: int, binding: str, why: str) -> SizingResult:
        if not with_latency:
            return SizingResult(n, math.nan, math.nan, binding, why)
        expected = lm.expected_itl_ms(curves, rate, isl, osl, n)
        at_q = lm.itl_quantile_ms(curves, rate, isl, osl, n, quantile)
        return SizingResult(n, expected, at_q, binding, why)

    if rate == 0.0:
        return describe(floor_n, "idle", "no demand forecast")

    allowed = float(curves.decode_max_concurrency(ctx, goal))
    limit = lm.decode_load_limit(curves, ctx)
    binding = "kv" if allowed >= limit - 1e-9 else "latency"
    note = ""
    if allowed < 2.0:  # not even two sequences per replica meet the target
        allowed = limit
        binding = "unattainable"
        lone = float(curves.decode_itl_ms(1.0, ctx))
        note = (
            f"ITL target unattainable: one sequence at context {ctx:.0f} already takes "
            f"{lone:.1f} ms (target {goal:.0f} ms); sized for KV capacity only"
        )
    m_star, n_needed = _decode_replicas_for(curves, rate, osl, ctx, allowed, quantile)
    if not note:
        n_needed = _settled(curves, rate, isl, osl, n_needed, m_star)
    if note:
        return describe(max(floor_n, n_needed), binding, note)
    if floor_n >= n_needed:
        return describe(floor_n, "minimum", f"{rate:.2f} req/s fits the minimum replicas")
    limit_word = "KV capacity" if binding == "kv" else f"ITL <= {goal:.0f} ms"
    note = (
        f"{rate:.2f} req/s x {osl:.0f} out tok at context {ctx:.0f}: "
        f"<= {m_star:.0f} seqs/replica on average ({limit_word}, p{quantile * 100:g})"
    )
    return describe(n_needed, binding, note)
