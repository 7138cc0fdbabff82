"""The clairvoyant reference: each interval's true minimum replicas in the simulator's model, requested one startup delay ahead; and static peak."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sla_planner.evaluation.sim_decode import itl_attainable_share, itl_share_per_bin
from sla_planner.evaluation.sim_demand import SimDemand
from sla_planner.evaluation.sim_prefill import ttft_attainable_share, ttft_share_per_bin
from sla_planner.evaluation.simulator import Schedule, bins_per_interval
from sla_planner.model.config import PlannerConfig
from sla_planner.model.types import DemandSample, FleetDecision
from sla_planner_bench.baselines.common import make_decision
from sla_planner_bench.baselines.static import StaticPolicy


# ------------------------------------------------------------------------------------------
# Oracle
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OracleNeeds:
    start: float
    interval_s: float
    prefill: np.ndarray  # fewest replicas per interval
    decode: np.ndarray


def _bisect_need(
    share_fn: Callable[[np.ndarray], np.ndarray],
    weights: np.ndarray,
    goal: np.ndarray,
    k: int,
    lo_floor: int,
    start_hi: np.ndarray,
) -> np.ndarray:
    """Fewest n per interval with weighted share >= goal (share non-decreasing in n)."""
    w = weights.reshape(-1, k)
    tot = w.sum(axis=1)
    busy = tot > 0

    def meets(n: np.ndarray) -> np.ndarray:
        share = share_fn(np.repeat(n, k)).reshape(-1, k)
        got = np.where(busy, (share * w).sum(axis=1) / np.where(busy, tot, 1.0), 1.0)
        return got >= goal - 1e-12

    hi = np.maximum(start_hi.astype(np.int64), lo_floor)
    for _ in range(20):  # grow until every interval is met (bounded)
        bad = ~meets(hi)
        if not bad.any():
            break
        hi = np.where(bad, hi * 2, hi)
    lo = np.full(hi.shape, lo_floor - 1, dtype=np.int64)  # lo never meets (or is below floor)
    while (hi - lo > 1).any():
        mid = np.where(hi - lo > 1, (lo + hi) // 2, hi)
        ok = meets(np.maximum(mid, lo_floor))
        hi = np.where((hi - lo > 1) & ok, mid, hi)
        lo = np.where((hi - lo > 1) & ~ok, mid, lo)
    return np.where(busy, hi, lo_floor)


def oracle_needs(
    demand: SimDemand,
    curves: Any,
    config: PlannerConfig,
    goal: float = 0.995,
    decode_curves: Any | None = None,
) -> OracleNeeds:
    """Per interval and pool, the fewest replicas meeting `goal` of the attainable requests
    (each pool to `goal`; 0.995 each gives >= ~0.99 for both). Intervals judged alone."""
    dc = curves if decode_curves is None else decode_curves
    k = bins_per_interval(demand, config.interval_s)
    nb = (demand.bins // k) * k
    dm = demand.slice(0, nb) if nb != demand.bins else demand
    ttft, itl = config.sla.ttft_ms, config.sla.itl_ms
    scv = dm.prompt_scv()

    def ttft_share(n: np.ndarray) -> np.ndarray:
        return ttft_share_per_bin(curves, dm, n, ttft, reset_every=k, scv=scv)

    def itl_share(n: np.ndarray) -> np.ndarray:
        return itl_share_per_bin(dc, dm, n, itl)

    # What infinite replicas would reach (long prompts may miss the TTFT target idle).
    w = dm.counts
    att_t = _interval_share(ttft_attainable_share(curves, dm, ttft), w, k)
    att_i = _interval_share(itl_attainable_share(dc, dm, itl), w, k)
    lam = (w / dm.bin_s).reshape(-1, k).max(axis=1)
    tok = np.nan_to_num(dm.isl_mean * w, nan=0.0).reshape(-1, k).sum(axis=1)
    tot = w.reshape(-1, k).sum(axis=1)
    isl = np.where(tot > 0, tok / np.where(tot > 0, tot, 1.0), 1.0)
    cap = np.array([float(curves.prefill_capacity_tps(max(x, 1.0))) for x in isl])
    start_p = np.ceil(lam * isl / cap * 1.5) + 1
    start_d = np.ceil(start_p) + 1
    need_p = _bisect_need(ttft_share, w, goal * att_t, k, config.prefill.min_replicas or 1, start_p)
    need_d = _bisect_need(itl_share, w, goal * att_i, k, config.decode.min_replicas or 1, start_d)
    return OracleNeeds(dm.start, config.interval_s, need_p, need_d)


def _interval_share(share: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    tot = w.reshape(-1, k).sum(axis=1)
    got = (share * w).reshape(-1, k).sum(axis=1)
    return np.where(tot > 0, got / np.where(tot > 0, tot, 1.0), 1.0)


def forward_max(x: np.ndarray, steps: int) -> np.ndarray:
    """out[j] = max(x[j .. j + steps]) (clipped at the end)."""
    out = np.asarray(x).copy()
    for s in range(1, steps + 1):
        out[:-s] = np.maximum(out[:-s], x[s:]) if s < x.size else out[:-s]
    return out


def oracle_schedule(
    needs: OracleNeeds, startup_s: float, gpus: tuple[int, int] = (1, 1)
) -> Schedule:
    """Replicas requested exactly startup_s before they are needed, kept while needed."""
    steps = math.ceil(startup_s / needs.interval_s - 1e-9)
    return Schedule(
        needs.start,
        needs.interval_s,
        forward_max(needs.prefill, steps),
        forward_max(needs.decode, steps),
        *gpus,
    )


class SchedulePolicy:
    """Replays a precomputed schedule (the oracle, static peak) through the same harness."""

    def __init__(self, config: PlannerConfig, schedule: Schedule, name: str = "oracle") -> None:
        self.config = config
        self.schedule = schedule
        self.name = name

    def observe(self, sample: DemandSample, deployment: str | None = None) -> None:
        return None

    def decide(self, now: float) -> FleetDecision:
        s = self.schedule
        j = int(round((now - s.start) / s.interval_s))
        j = min(max(j, 0), s.intervals - 1)
        return make_decision(
            self.config,
            now,
            int(s.prefill[j]),
            int(s.decode[j]),
            (s.gpus_prefill, s.gpus_decode),
            self.name,
        )


def static_peak(
    needs: OracleNeeds, config: PlannerConfig, gpus: tuple[int, int] = (1, 1)
) -> StaticPolicy:
    """Enough replicas for the trace's peak need, all the time."""
    return StaticPolicy(
        config,
        int(needs.prefill.max(initial=1)),
        int(needs.decode.max(initial=1)),
        gpus,
        "static_peak",
    )
