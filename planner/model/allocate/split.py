"""Fit one deployment's two pools under its GPU budget (its max_gpus, and what the fleet's GPU
types leave it: `PoolRequest.cap`), pool limits and prefill:decode ratio bounds (pure).

Units: replicas are whole TP groups; a pool's GPUs = replicas x gpus_per_replica. The ratio is
on GPUs: ratio = prefill GPUs / decode GPUs (both 0 counts as within bounds; decode 0 with
prefill > 0 is an infinite ratio).

Precedence, strongest first:
  1. max_gpus and each pool's min_replicas (minimums above the budget: BudgetConfigError);
  2. each pool's max_replicas;
  3. the ratio bounds (dropped, with a note, only when no allocation within 1-2 meets them);
  4. what SLA sizing wanted.
So: the wanted pair is used when it fits; else, if raising one pool to reach the ratio fits the
budget, the cheapest such raise; else the budget (or a max) binds and the split is chosen by SLA
pressure: among all allocations within 1-3 and up to the wants (the budget cuts, it never buys
margins sizing did not ask for) it maximises the expected share of requests that meet BOTH
targets (prefill attainment x decode attainment), then the share of demand the pools can serve
at all, then the most GPUs (the fewest when nothing is served: no lone pool), then the wants'
proportions (only as a tie-break where the model sees no difference). This
is an exhaustive search over the prefill count (each prefill count has one best decode count),
which is what "give the next TP group to the pool where it buys the most attainment per GPU"
converges to, without stalling where attainment is flat at zero until a pool reaches capacity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from sla_planner.errors import EXIT_USAGE, SlaPlannerError
from sla_planner.model.config import REPLICAS_LIMIT, Budget, PlannerConfig, PoolLimits
from sla_planner.model.size.pool_plan import Scorer

_EPS = 1e-9
_RAISE_SEARCH = 10_000  # replicas scanned when raising a pool for the ratio with no cap
_ROUND = 4  # attainment compared to 0.01 %: finer gains are noise in the model


class BudgetConfigError(SlaPlannerError, ValueError):
    """The budget and pool limits cannot be satisfied together: a settings error (exit 2)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class PoolRequest:
    wanted: int  # replicas SLA sizing asked for
    limits: PoolLimits
    gpus_per_replica: int = 1
    scorer: Scorer | None = None  # None: attainment ~ min(1, replicas / wanted)
    # Most replicas its GPU type leaves it (a fleet's other deployments hold the rest); None:
    # only the budget's max_gpus. Below max_replicas it binds as the budget does.
    cap: int | None = None

    def unbounded(self) -> PoolRequest:
        return replace(self, cap=None)


@dataclass(frozen=True)
class Allocation:
    prefill: int
    decode: int
    prefill_gpus: int
    decode_gpus: int
    budget_limited: bool  # budget (or a max with the ratio) kept a pool below what it wanted
    ratio_adjusted: bool  # a pool was raised above its want to meet the ratio bounds
    ratio_violated: bool  # no allocation within budget/limits meets the ratio: bounds dropped
    # Prefill x decode attainment of the split, from the scorers; set only when the split
    # search ran (budget or limits bind) with both scorers given.
    expected_attainment: float | None
    notes: tuple[str, ...] = ()

    @property
    def total_gpus(self) -> int:
        return self.prefill_gpus + self.decode_gpus


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------
def ratio_ok(prefill_gpus: int, decode_gpus: int, budget: Budget) -> bool:
    lo, hi = budget.min_prefill_decode_ratio, budget.max_prefill_decode_ratio
    if lo is None and hi is None:
        return True
    if prefill_gpus == 0 and decode_gpus == 0:
        return True
    if decode_gpus == 0:
        return hi is None
    r = prefill_gpus / decode_gpus
    return (lo is None or r >= lo * (1 - _EPS)) and (hi is None or r <= hi * (1 + _EPS))


def _cap(limit: int | None, *others: float) -> int:
    vals = [float(limit) if limit is not None else math.inf, *others]
    return int(min(vals)) if math.isfinite(min(vals)) else -1  # -1: unbounded


def _decode_range(
    np_: int, prefill: PoolRequest, decode: PoolRequest, budget: Budget, use_ratio: bool
) -> tuple[int, int] | None:
    """Decode replicas allowed with `np_` prefill replicas: limits, budget, ratio (inclusive)."""
    gp, gd = prefill.gpus_per_replica, decode.gpus_per_replica
    pg = np_ * gp
    lo = decode.limits.min_replicas
    hi = math.inf if decode.limits.max_replicas is None else decode.limits.max_replicas
    if budget.max_gpus is not None:
        hi = min(hi, (budget.max_gpus - pg) // gd)
    if decode.cap is not None:
        hi = min(hi, decode.cap)
    if use_ratio:
        r_lo, r_hi = budget.min_prefill_decode_ratio, budget.max_prefill_decode_ratio
        if r_hi is not None and pg > 0:
            lo = max(lo, math.ceil(pg / (r_hi * gd) - _EPS))
        if r_lo is not None:
            hi = min(hi, math.floor(pg / (r_lo * gd) + _EPS))
    hi = min(hi, max(lo, REPLICAS_LIMIT))  # no-op for validated limits; bounds the tables
    if hi < lo:
        return None
    lo_i = int(lo)
    # Unbounded above is fine for callers: they never pick beyond what they need.
    hi_i = int(hi) if math.isfinite(hi) else lo_i + _RAISE_SEARCH
    if use_ratio and not ratio_ok(pg, lo_i * gd, budget):  # the 0/0 and x/0 corner cases
        if ratio_ok(pg, hi_i * gd, budget):
            lo_i = hi_i
        else:
            return None
    return lo_i, hi_i


def _prefill_cap(prefill: PoolRequest, decode: PoolRequest, budget: Budget) -> float:
    cap = math.inf if prefill.limits.max_replicas is None else prefill.limits.max_replicas
    if budget.max_gpus is not None:
        spare = budget.max_gpus - decode.limits.min_replicas * decode.gpus_per_replica
        cap = min(cap, spare // prefill.gpus_per_replica)
    if prefill.cap is not None:
        cap = min(cap, prefill.cap)
    # No-op for validated limits (max_replicas <= REPLICAS_LIMIT); bounds every scan and table
    # for hand-built ones.
    return min(cap, max(prefill.limits.min_replicas, REPLICAS_LIMIT))


def minimum_gpus(prefill: PoolRequest, decode: PoolRequest) -> int:
    return (
        prefill.limits.min_replicas * prefill.gpus_per_replica
        + decode.limits.min_replicas * decode.gpus_per_replica
    )


def check_minimums(prefill: PoolRequest, decode: PoolRequest, budget: Budget) -> None:
    need = minimum_gpus(prefill, decode)
    if budget.max_gpus is not None and need > budget.max_gpus:
        raise BudgetConfigError(
            f"pool minimums need {need} GPUs (prefill {prefill.limits.min_replicas} x "
            f"{prefill.gpus_per_replica} + decode {decode.limits.min_replicas} x "
            f"{decode.gpus_per_replica}) but budget.max_gpus is {budget.max_gpus}; raise "
            "max_gpus or lower min_replicas"
        )


def validate_budget(
    config: PlannerConfig, prefill_gpus_per_replica: int = 1, decode_gpus_per_replica: int = 1
) -> list[str]:
    """Check a config up front (the CLI calls this before running).

    Raises BudgetConfigError when the pool minimums alone exceed the budget; returns warnings
    for settings that work but will be overridden (ratio bounds no allocation can meet).
    """
    if prefill_gpus_per_replica < 1 or decode_gpus_per_replica < 1:
        raise BudgetConfigError("gpus_per_replica must be at least 1 for both pools")
    p = PoolRequest(0, config.prefill, prefill_gpus_per_replica)
    d = PoolRequest(0, config.decode, decode_gpus_per_replica)
    b = config.budget
    check_minimums(p, d, b)
    warnings: list[str] = []
    if b.min_prefill_decode_ratio is None and b.max_prefill_decode_ratio is None:
        return warnings
    cap = _prefill_cap(p, d, b)
    top = p.limits.min_replicas + _RAISE_SEARCH if not math.isfinite(cap) else int(cap)
    feasible = any(
        _decode_range(n, p, d, b, use_ratio=True) is not None
        for n in range(p.limits.min_replicas, top + 1)
    )
    if not feasible:
        warnings.append(
            "no allocation within the budget and pool limits meets the prefill:decode ratio "
            f"bounds [{b.min_prefill_decode_ratio}, {b.max_prefill_decode_ratio}] (on GPUs); "
            "they will be ignored - widen them or raise max_gpus / max_replicas"
        )
    return warnings


def _default_scorer(wanted: int) -> Scorer:
    def score(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        n = np.arange(lo, hi + 1, dtype=float)
        share = np.ones(n.shape) if wanted <= 0 else np.minimum(1.0, n / wanted)
        return share, share

    return score


class _Table:
    """Scorer values over lo..hi, looked up by replica count."""

    def __init__(self, scorer: Scorer, lo: int, hi: int) -> None:
        att, served = scorer(lo, hi)
        self.lo = lo
        self.att = np.asarray(att, dtype=float)
        self.served = np.asarray(served, dtype=float)
        if self.att.shape != (hi - lo + 1,) or self.served.shape != (hi - lo + 1,):
            raise ValueError(f"scorer returned the wrong length for replicas {lo}..{hi}")
        # Attainment never falls with more replicas; enforce it so ties resolve sensibly.
        # Python lists: the split search looks values up one at a time.
        self.att = np.maximum.accumulate(np.clip(self.att, 0.0, 1.0)).tolist()
        self.served = np.maximum.accumulate(np.clip(self.served, 0.0, 1.0)).tolist()

    def __call__(self, n: int) -> tuple[float, float]:
        return self.att[n - self.lo], self.served[n - self.lo]


# ------------------------------------------------------------------------------------------
# The fit
# ------------------------------------------------------------------------------------------
def _clamp(n: int, limits: PoolLimits) -> int:
    n = max(int(n), limits.min_replicas)
    return n if limits.max_replicas is None else min(n, limits.max_replicas)


def _cheapest_raise(
    wp: int, wd: int, prefill: PoolRequest, decode: PoolRequest, budget: Budget
) -> tuple[int, int] | None:
    """Fewest GPUs with prefill >= wp, decode >= wd, within limits, budget and ratio."""
    gp, gd = prefill.gpus_per_replica, decode.gpus_per_replica
    cap = _prefill_cap(prefill, decode, budget)
    top = wp + _RAISE_SEARCH if not math.isfinite(cap) else int(cap)
    best: tuple[int, int] | None = None
    best_total = math.inf
    for np_ in range(wp, top + 1):
        if np_ * gp >= best_total:
            break  # every later prefill count costs at least this much alone
        rng = _decode_range(np_, prefill, decode, budget, use_ratio=True)
        if rng is None or rng[1] < wd:
            continue
        nd = max(wd, rng[0])
        total = np_ * gp + nd * gd
        if total < best_total:
            best, best_total = (np_, nd), total
    return best


def fit_budget(prefill: PoolRequest, decode: PoolRequest, budget: Budget) -> Allocation:
    """Replicas for both pools; see the module docstring for the rules and their order."""
    for req, name in ((prefill, "prefill"), (decode, "decode")):
        if req.gpus_per_replica < 1:
            raise BudgetConfigError(f"{name} gpus_per_replica must be at least 1")
    check_minimums(prefill, decode, budget)
    gp, gd = prefill.gpus_per_replica, decode.gpus_per_replica
    wp, wd = _clamp(prefill.wanted, prefill.limits), _clamp(decode.wanted, decode.limits)
    notes: list[str] = []
    for want, got, name in ((prefill.wanted, wp, "prefill"), (decode.wanted, wd, "decode")):
        if got < want:
            notes.append(f"{name}: capped at max_replicas {got} (wanted {want})")

    def done(
        np_: int, nd: int, limited: bool, raised: bool, dropped: bool, att: float | None = None
    ) -> Allocation:
        return Allocation(np_, nd, np_ * gp, nd * gd, limited, raised, dropped, att, tuple(notes))

    fits = (budget.max_gpus is None or wp * gp + wd * gd <= budget.max_gpus) and all(
        r.cap is None or w <= r.cap for r, w in ((prefill, wp), (decode, wd))
    )
    if fits and ratio_ok(wp * gp, wd * gd, budget):
        return done(wp, wd, False, False, False)

    raised = _cheapest_raise(wp, wd, prefill, decode, budget)
    if raised is not None:
        notes.append(
            f"ratio bounds: raised to prefill {raised[0]} / decode {raised[1]} (wanted {wp} / {wd})"
        )
        return done(raised[0], raised[1], False, True, False)

    # Something binds. Was it the budget? (Would a raise fit with no budget at all?)
    unbudgeted = Budget(
        min_prefill_decode_ratio=budget.min_prefill_decode_ratio,
        max_prefill_decode_ratio=budget.max_prefill_decode_ratio,
    )
    capped = budget.max_gpus is not None or prefill.cap is not None or decode.cap is not None
    limited = capped and (
        not fits
        or _cheapest_raise(wp, wd, prefill.unbounded(), decode.unbounded(), unbudgeted) is not None
    )
    best = _best_split(wp, wd, prefill, decode, budget, use_ratio=True)
    dropped = best is None
    if best is None:
        best = _best_split(wp, wd, prefill, decode, budget, use_ratio=False)
        notes.append(
            "ratio bounds ignored: no allocation within the budget and pool limits meets them"
        )
    assert best is not None  # minimums fit the budget, so at least they are feasible
    (np_, nd), att = best
    scored = prefill.scorer is not None and decode.scorer is not None
    return done(np_, nd, limited, False, dropped, att if scored else None)


def _best_split(
    wp: int, wd: int, prefill: PoolRequest, decode: PoolRequest, budget: Budget, use_ratio: bool
) -> tuple[tuple[int, int], float] | None:
    """The best (prefill, decode) under the key in the module docstring, with its attainment."""
    gp, gd = prefill.gpus_per_replica, decode.gpus_per_replica
    p_lo = prefill.limits.min_replicas
    cap = _prefill_cap(prefill, decode, budget)
    # Never more than the wants, but for the ratio bounds: what the budget cuts, it cuts; it
    # does not buy margins sizing did not ask for.
    ratio = use_ratio and budget.min_prefill_decode_ratio is not None
    p_hi = max(wp, p_lo) if not (ratio and math.isfinite(cap)) else int(cap)
    if math.isfinite(cap):
        p_hi = min(p_hi, int(cap))
    rows: list[tuple[int, int, int]] = []
    for np_ in range(p_lo, p_hi + 1):
        rng = _decode_range(np_, prefill, decode, budget, use_ratio)
        if rng is not None:
            rows.append((np_, rng[0], min(rng[1], max(wd, rng[0]))))
    if not rows:
        return None
    d_lo = min(r[1] for r in rows)
    d_hi = max(r[2] for r in rows)
    p_tab = _Table(prefill.scorer or _default_scorer(wp), p_lo, p_hi)
    d_tab = _Table(decode.scorer or _default_scorer(wd), d_lo, d_hi)

    def key(np_: int, nd: int) -> tuple[float, float, int, float, int]:
        pa, ps = p_tab(np_)
        da, ds = d_tab(nd)
        gpus = np_ * gp + nd * gd
        # Last resorts when the model sees no difference: keep the wants' proportions.
        short = max((wp - np_) / max(wp, 1), (wd - nd) / max(wd, 1))
        # More GPUs only where they serve something: a lone pool of a pair that serves
        # nothing would hold GPUs for nothing. Whether it serves is the raw product: rounded,
        # a deeply overloaded pair (< 0.01 % served) would read as serving nothing.
        gain = gpus if ps * ds > 0 else -gpus
        return (round(pa * da, _ROUND), round(ps * ds, _ROUND), gain, -short, -np_)

    best: tuple[int, int] | None = None
    best_key: tuple[float, float, int, float, int] | None = None
    for np_, lo, hi in rows:
        # Attainment never falls with more replicas: within a row the most decode up to the
        # wants is best, and the fewest when nothing is served (a lone pool).
        for nd in {lo, hi}:
            k = key(np_, nd)
            if best_key is None or k > best_key:
                best, best_key = (np_, nd), k
    if best is None:
        return None
    return best, p_tab(best[0])[0] * d_tab(best[1])[0]


def proportional_split(prefill: PoolRequest, decode: PoolRequest, budget: Budget) -> Allocation:
    """Dynamo's rule, for comparison: scale both wants by the same factor to fit the budget."""
    check_minimums(prefill, decode, budget)
    gp, gd = prefill.gpus_per_replica, decode.gpus_per_replica
    wp, wd = _clamp(prefill.wanted, prefill.limits), _clamp(decode.wanted, decode.limits)
    total = wp * gp + wd * gd
    if budget.max_gpus is None or total <= budget.max_gpus:
        return Allocation(wp, wd, wp * gp, wd * gd, False, False, False, None)
    f = budget.max_gpus / total
    np_ = max(prefill.limits.min_replicas, math.floor(wp * f))
    nd = max(decode.limits.min_replicas, (budget.max_gpus - np_ * gp) // gd)
    nd = min(nd, wd)
    while np_ * gp + nd * gd > budget.max_gpus and np_ > prefill.limits.min_replicas:
        np_ -= 1
    return Allocation(np_, nd, np_ * gp, nd * gd, True, False, False, None)
