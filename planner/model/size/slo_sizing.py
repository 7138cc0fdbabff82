"""Size both pools to an expected-attainment goal (pure: no I/O, no clock).

The fixed-margin sizing (sla_planner.model.size.sizing) stacks headroom rules -- a p99 of the
forecast, a p99 TTFT per interval, a 0.85 utilisation cap, x1.25 prompt variability, a p90
burst factor -- each safe alone, together far past any target. Here the pools get the fewest
GPUs whose *expected request-weighted attainment* reaches one goal g (set by the error-budget
controller, sla_planner.model.size.error_budget):

    A(n_p, n_d) = sum_j v_j a_p(n_p; lambda_j) a_d(n_d; lambda_j) / sum_j v_j >= g

over rate nodes lambda_j with request weights v_j:
- Forecast uncertainty: the request rate of the step is Normal(mean, sd), sd read off the
  forecaster's upper quantile, at Gauss-Hermite nodes (probabilities w_i). Requests, not
  intervals, are what an SLO counts, so a node weighs by its rate: w_i lambda_i.
- Sub-window bursts: the recent peak/mean ratios (burst.excess_burst) say one sub-window in k
  ran at r x the interval's mean and the rest at (k - r) / (k - 1) x. Each forecast node is
  split into those parts (r at MIX_QUANTILES of the recent ratios), each weighed by its share
  of the node's requests; both pools see the same part, so a burst hurts both at once.
- a_p: the share of requests whose TTFT meets the target with n_p prefill replicas (the M/G/n
  model of latency_model.ttft_attainment_curve). a_d: the share whose ITL meets the target: the
  sequences sharing a replica (Poisson, mean m from Little's law at the per-replica rate) stay
  within the ITL-feasible concurrency (latency_model.itl_attainment, tabulated once per step
  against the per-replica rate).
- Prefill and decode misses are independent within a node part (the product); they are
  correlated through the parts, which is where forecast error and bursts hurt both at once.

Search: each pool's own range runs from where it alone reaches g to where it alone misses
64x less; the pair is the cheapest (GPUs) of that grid meeting g, ties to the higher A.
Unreachable goals (a mean prompt's idle TTFT above the target, an ITL target no concurrency
meets) are reported so the planner can fall back to the fixed-margin rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from sla_planner.model.config import REPLICAS_LIMIT
from sla_planner.model.size import latency_model as lm
from sla_planner.model.size.latency_curves import Curves

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(9)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_LENGTH_BINS = np.array([0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 1.0])
_LENGTH_P = np.diff(_LENGTH_BINS)
_LENGTH_Z = ndtri((_LENGTH_BINS[:-1] + _LENGTH_BINS[1:]) / 2.0)
_RATE_GRID = 257  # per-replica rates at which decode concurrency is tabulated
_SPREAD = 64.0  # a pool's range ends where it alone misses this many times less than 1 - g
_CAP = REPLICAS_LIMIT  # replicas; only absurd inputs reach it
DEFAULT_SUBWINDOWS = 6  # 60 s intervals, 10 s peak windows
MIX_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)  # burst ratios kept of the recent window


@dataclass(frozen=True)
class StepDemand:
    """One forecast step: request rate as Normal(rate_mean, rate_sd) req/s, mean lengths."""

    rate_mean: float
    rate_sd: float
    isl: float
    osl: float

    def nodes(self, mix: BurstMix | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rates, request weights): Gauss-Hermite nodes of the rate, weighted by rate, each
        split into the burst mixture's parts."""
        mean = max(self.rate_mean, 0.0) if math.isfinite(self.rate_mean) else 0.0
        sd = max(self.rate_sd, 0.0) if math.isfinite(self.rate_sd) else 0.0
        rates = np.maximum(mean + sd * _NODES, 0.0)
        weights = _WEIGHTS * rates
        if mix is None:
            return rates, weights
        mult, share = np.asarray(mix.multipliers), np.asarray(mix.shares)
        return (rates[:, None] * mult).ravel(), (weights[:, None] * share).ravel()


@dataclass(frozen=True)
class BurstMix:
    """Sub-interval bursts: rate multipliers and their shares of requests."""

    multipliers: tuple[float, ...] = (1.0,)
    shares: tuple[float, ...] = (1.0,)

    @classmethod
    def from_ratios(cls, ratios: Sequence[float], subwindows: int = DEFAULT_SUBWINDOWS) -> BurstMix:
        """Peak/mean ratios r, summarised by MIX_QUANTILES (equally likely): one sub-window
        in k at r x the mean, the others at (k - r)/(k - 1) x. No ratios: no bursts."""
        k = max(int(subwindows), 2)
        rs = np.asarray([float(r) for r in ratios if math.isfinite(r)], dtype=float)
        if rs.size == 0:
            return cls()
        q, count = np.unique(
            np.clip(np.quantile(rs, MIX_QUANTILES), 1.0, k - 1e-9), return_counts=True
        )
        p = count / count.sum()
        mult = np.concatenate([q, (k - q) / (k - 1)])
        share = np.concatenate([p * q / k, p * (k - q) / k])
        return cls(tuple(mult.tolist()), tuple(share.tolist()))


@dataclass(frozen=True)
class PoolModels:
    """What the attainment model reads: both pools' curves and the SLO's latency targets."""

    prefill_curves: Curves
    decode_curves: Curves
    ttft_ms: float
    itl_ms: float
    prefill_scv: float = 1.0
    gpus_prefill: int = 1
    gpus_decode: int = 1
    min_prefill: int = 0
    min_decode: int = 0


@dataclass(frozen=True)
class GoalSizing:
    prefill: int
    decode: int
    attainment: float  # model expectation at (prefill, decode)
    reachable: bool  # False: the goal is out of reach at any size (see module doc)


# ------------------------------------------------------------------------------------------
# Per-pool attainment tables: rows = rate nodes, columns = replicas 0..hi
# ------------------------------------------------------------------------------------------
def _erlang_c_many(hi: int, offered: np.ndarray) -> np.ndarray:
    """lm.erlang_c_curve for many offered loads at once: (loads, servers 0..hi)."""
    a = np.asarray(offered, dtype=float)
    out = np.ones((a.size, hi + 1))
    b = np.ones(a.size)
    for k in range(1, hi + 1):  # the Erlang-B recurrence, one vector step per server count
        b = a * b / (k + a * b)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = k * b / (k - a * (1.0 - b))
        out[:, k] = np.where(k > a, c, 1.0)
    out[a <= 0, 1:] = 0.0
    return out


def prompt_nodes(isl_mean: float, scv: float) -> tuple[np.ndarray, np.ndarray]:
    """Prompt lengths as a lognormal with this mean and SCV: (lengths, probabilities), one
    node per bin of _LENGTH_BINS at its middle quantile. The bins are fine in the upper tail,
    where the long prompts that miss on a short wait are (a request's own length sets its
    idle TTFT)."""
    mean = max(isl_mean, 1.0) if math.isfinite(isl_mean) else 1.0
    sigma = math.sqrt(math.log1p(max(scv, 0.0))) if math.isfinite(scv) else 0.0
    mu = math.log(mean) - sigma * sigma / 2.0
    return np.exp(mu + sigma * _LENGTH_Z), _LENGTH_P


def prefill_table(m: PoolModels, step: StepDemand, rates: np.ndarray, hi: int) -> np.ndarray:
    """Share of requests meeting TTFT for every rate node and 0..hi replicas.

    latency_model.ttft_attainment_curve's M/G/n wait, with each request's own idle TTFT read
    at its own length (prompt_nodes) instead of the mean's: a long prompt has less slack, so
    it misses on a short wait. Prompts that miss even on an idle replica are left out (no
    replica count helps them; the error budget sees them as they come)."""
    st = lm.prefill_state(m.prefill_curves, 1.0, step.isl, 1, m.prefill_scv)
    n = np.arange(hi + 1, dtype=float)
    lengths, probs = prompt_nodes(step.isl, m.prefill_scv)
    base = np.asarray(m.prefill_curves.prefill_ttft_ms(lengths), dtype=float)
    ok = base <= m.ttft_ms
    if not ok.any():
        return np.zeros((rates.size, hi + 1))
    q = probs[ok] / probs[ok].sum()
    slack_s = (m.ttft_ms - base[ok]) / 1000.0
    offered = rates * st.service_s
    p_wait = _erlang_c_many(hi, offered)
    decay = np.maximum(n[None, :] / st.service_s - rates[:, None], 0.0)
    tail = np.exp(-decay[:, :, None] * slack_s[None, None, :] / st.scale) @ q
    att = np.where(n[None, :] > offered[:, None], 1.0 - p_wait * tail, 0.0)
    return np.where(rates[:, None] <= 0, 1.0, att)


def prefill_reachable(m: PoolModels, isl: float) -> bool:
    """Whether any prompt of this mean length can meet the TTFT target at all."""
    lengths, _ = prompt_nodes(isl, m.prefill_scv)
    return bool((np.asarray(m.prefill_curves.prefill_ttft_ms(lengths)) <= m.ttft_ms).any())


class DecodeShare:
    """ITL attainment of one replica as a function of its request rate (per step: lengths)."""

    def __init__(self, m: PoolModels, step: StepDemand) -> None:
        dc = m.decode_curves
        ctx = lm.decode_context(step.isl, step.osl)
        limit = lm.decode_load_limit(dc, ctx)
        self.allowed = float(dc.decode_max_concurrency(ctx, m.itl_ms)) - 1.0
        # Highest per-replica rate the KV range holds (Little's law at the limit), with room.
        itl_top = float(dc.decode_itl_ms(max(limit, 1.0), ctx))
        self.x_cap = 1.05 * max(limit, 1.0) * 1000.0 / (max(step.osl, 1e-9) * itl_top)
        self.x = np.linspace(0.0, self.x_cap, _RATE_GRID)
        with np.errstate(divide="ignore"):
            per = 1.0 / self.x  # replicas carrying rate 1: per-replica rate x
        m_x = lm.decode_concurrency_many(dc, 1.0, step.isl, step.osl, per)
        m_x[0] = 0.0
        self.finite = np.isfinite(m_x)
        self.m = np.where(self.finite, m_x, np.nan)

    def share(self, per_replica_rate: np.ndarray) -> np.ndarray:
        """P(concurrency seen <= allowed) at these per-replica rates (0 past the KV range)."""
        x = np.asarray(per_replica_rate, dtype=float)
        if self.allowed < 0:
            return np.zeros(x.shape)
        last = self.x[self.finite][-1]
        mx = np.interp(x, self.x[self.finite], self.m[self.finite])
        with np.errstate(divide="ignore", invalid="ignore"):
            a = ndtr((self.allowed - mx) / np.sqrt(mx))
        a = np.where(mx <= 0, 1.0, a)
        return np.where(x > last, 0.0, a)


def decode_table(ds: DecodeShare, rates: np.ndarray, hi: int) -> np.ndarray:
    n = np.arange(hi + 1, dtype=float)
    lam = rates[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(n[None, :] > 0, lam / np.maximum(n, 1.0)[None, :], np.inf)
    a = ds.share(np.where(np.isfinite(x), x, ds.x_cap * 10))
    return np.where(lam <= 0, 1.0, a)


# ------------------------------------------------------------------------------------------
# The search
# ------------------------------------------------------------------------------------------
def _alone(table: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Attainment of a pool by itself (the other pool perfect), per replica count."""
    total = w.sum()
    return (w @ table) / total if total > 0 else np.ones(table.shape[1])


def _grow(build: Any, w: np.ndarray, start: int, top: float, cap: int) -> tuple[np.ndarray, int]:
    """Table over 0..hi, hi doubled from `start` until the pool alone reaches `top` (or cap).
    Never past `cap`, whatever `start`: absurd demand would ask for a table of millions."""
    hi = min(max(start, 4), cap)
    while True:
        table = build(hi)
        if _alone(table, w)[-1] >= top or hi >= cap:
            return table, hi
        hi = min(hi * 2, cap)


def _start(x: float, cap: int) -> int:
    return math.ceil(x) if math.isfinite(x) and x < cap else cap


def _first(curve: np.ndarray, level: float, floor: int) -> int | None:
    idx = np.flatnonzero(curve >= level)
    idx = idx[idx >= floor]
    return int(idx[0]) if idx.size else None


@dataclass(frozen=True)
class StepTables:
    """One step's attainment tables: rate nodes and request weights, each pool's share of
    requests meeting its target for every node and 0..hi replicas."""

    rates: np.ndarray
    w: np.ndarray
    tp: np.ndarray  # (nodes, 0..hp) prefill
    td: np.ndarray  # (nodes, 0..hd) decode

    @property
    def ap(self) -> np.ndarray:
        return _alone(self.tp, self.w)

    @property
    def ad(self) -> np.ndarray:
        return _alone(self.td, self.w)

    def joint(self, p_idx: np.ndarray, d_idx: np.ndarray) -> np.ndarray:
        """Expected attainment of both pools for every (p, d) of the grid."""
        w = self.w
        return ((w[:, None] * self.tp[:, p_idx]).T @ self.td[:, d_idx]) / w.sum()


def reachable(m: PoolModels, step: StepDemand, ds: DecodeShare) -> bool:
    """Whether some replica count lets requests meet both targets at all."""
    return ds.allowed >= 0 and prefill_reachable(m, step.isl)


def step_tables(
    m: PoolModels,
    step: StepDemand,
    rates: np.ndarray,
    w: np.ndarray,
    ds: DecodeShare,
    top: tuple[float, float],
) -> StepTables:
    """Each pool's table, grown until the pool alone reaches its `top` (or the cap)."""
    # Start where the highest rate node would be stable: few doublings from there.
    lam = float(rates.max())
    service = lm.prefill_state(m.prefill_curves, lam, step.isl, 1).service_s
    cap_p, cap_d = max(_CAP, m.min_prefill), max(_CAP, m.min_decode)
    # Never below the pools' minimums: a table must hold every count a search may answer.
    start_p = max(_start(1.2 * lam * service, cap_p), m.min_prefill)
    start_d = max(_start(1.2 * lam / max(ds.x_cap, 1e-9), cap_d), m.min_decode)
    tp, _ = _grow(lambda hi: prefill_table(m, step, rates, hi), w, start_p, top[0], cap_p)
    td, _ = _grow(lambda hi: decode_table(ds, rates, hi), w, start_d, top[1], cap_d)
    return StepTables(rates, w, tp, td)


def size_step(
    m: PoolModels,
    step: StepDemand,
    mix: BurstMix,
    goal: float,
    ds: DecodeShare | None = None,
) -> GoalSizing:
    """The cheapest (prefill, decode) whose expected attainment reaches `goal`. `ds`: the
    step's DecodeShare when the caller keeps one (it depends only on the lengths)."""
    rates, w = step.nodes(mix)
    if w.sum() <= 0:
        return GoalSizing(m.min_prefill, m.min_decode, 1.0, True)
    ds = ds if ds is not None else DecodeShare(m, step)
    if not reachable(m, step, ds):
        return GoalSizing(m.min_prefill, m.min_decode, 0.0, False)
    top = goal_top(goal)
    t = step_tables(m, step, rates, w, ds, (top, top))
    return goal_on(m, t, goal, top)


def goal_top(goal: float) -> float:
    """Where a pool's range ends for a goal search: it alone misses _SPREAD times less."""
    return 1.0 - (1.0 - goal) / _SPREAD


def goal_on(m: PoolModels, t: StepTables, goal: float, top: float) -> GoalSizing:
    """size_step's search on tables already built (each reaching `top` alone)."""
    ap, ad = t.ap, t.ad
    hp, hd = ap.size - 1, ad.size - 1
    lo_p, lo_d = _first(ap, goal, m.min_prefill), _first(ad, goal, m.min_decode)
    if lo_p is None or lo_d is None:
        return GoalSizing(
            max(hp, m.min_prefill), max(hd, m.min_decode), float(ap[-1] * ad[-1]), False
        )
    hi_p = _first(ap, top, lo_p) or hp
    hi_d = _first(ad, top, lo_d) or hd
    p_idx = np.arange(lo_p, hi_p + 1)
    d_idx = np.arange(lo_d, hi_d + 1)
    joint = t.joint(p_idx, d_idx)  # (p, d)
    cost = m.gpus_prefill * p_idx[:, None] + m.gpus_decode * d_idx[None, :]
    ok = joint >= goal
    if not ok.any():  # only rounding keeps the corner below: take it
        return GoalSizing(int(hi_p), int(hi_d), float(joint[-1, -1]), True)
    best_cost = cost[ok].min()
    cand = ok & (cost == best_cost)
    i, j = np.unravel_index(np.argmax(np.where(cand, joint, -1.0)), joint.shape)
    return GoalSizing(int(p_idx[i]), int(d_idx[j]), float(joint[i, j]), True)


def expected_attainment(
    m: PoolModels,
    step: StepDemand,
    mix: BurstMix,
    prefill: int,
    decode: int,
    ds: DecodeShare | None = None,
) -> float:
    """Model expectation of the request-weighted attainment of (prefill, decode) replicas."""
    rates, w = step.nodes(mix)
    if w.sum() <= 0:
        return 1.0
    ds = ds if ds is not None else DecodeShare(m, step)
    p = prefill_table(m, step, rates, max(prefill, 0))[:, -1]
    d = decode_table(ds, rates, max(decode, 0))[:, -1]
    return float((w * p * d).sum() / w.sum())
