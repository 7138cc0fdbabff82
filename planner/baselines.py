"""Baseline scaling policies, with the Planner's interface (observe(sample); decide(now)).

One harness (planner.dryrun.run_dry_run + planner.simulator) runs them all next to ours:

- StaticPolicy: fixed replicas, e.g. enough for the trace's peak all the time
  (`static_peak`, sized with the oracle's per-interval need, so it is clairvoyant about the peak).
- HPAPolicy: Kubernetes HPA rule on the last observed interval: desired = ceil(ready x
  utilisation / target), no change within the tolerance, scale-up at once, scale-down to the
  highest recommendation of the stabilisation window. Utilisation (a generous, SLA-aware metric):
  prefill = offered prompt tokens/s / (ready x batched prefill capacity at the observed ISL);
  decode = output tokens/s / (ready x the highest decode throughput meeting the ITL target at
  context ISL + OSL/2). Ready replicas are those decided at least startup_s ago.
- DynamoClassicPolicy: Dynamo's classic SLA planner rule (ai-dynamo 1.6): predict the next
  interval's request count, ISL and OSL (ARIMA by default, our statsmodels ARIMA; or "constant" =
  last value); prefill = ceil(req x ISL / interval / profiled prefill tokens/s/GPU at that ISL /
  GPUs per replica) with the raw profile's one-prompt throughput; decode = ceil(req x OSL /
  interval / best profiled decode tokens/s/GPU meeting the ITL target at context ISL + OSL/2 /
  GPUs per replica); at least one each; over budget both shrink by the same factor (prefill
  first, decode takes the rest). No correction factor (traces carry no observed latency).
- OraclePolicy + oracle_needs/oracle_schedule: each interval's true need -- the fewest replicas
  per pool whose simulated attainment on that interval (judged alone, no carried backlog)
  reaches `goal` of the requests that can meet the SLA at all -- requested exactly startup_s
  ahead (paid from then). The GPU-hours lower bound.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.config import PlannerConfig
from planner.simulator import (
    Schedule,
    SimDemand,
    bins_per_interval,
    itl_attainable_share,
    itl_share_per_bin,
    ttft_attainable_share,
    ttft_share_per_bin,
)
from planner.types import Decision, DemandForecast, DemandSample, Pool, PoolDecision

_NAN = math.nan


def _decision(
    cfg: PlannerConfig,
    now: float,
    prefill: int,
    decode: int,
    gpus: tuple[int, int],
    reason: str,
    forecast: DemandForecast | None = None,
) -> Decision:
    fc = forecast or DemandForecast(_NAN, _NAN, _NAN)
    return Decision(
        timestamp=now,
        prefill=PoolDecision(
            Pool.PREFILL, prefill, prefill * gpus[0], prefill, _NAN, cfg.sla.ttft_ms, reason
        ),
        decode=PoolDecision(
            Pool.DECODE, decode, decode * gpus[1], decode, _NAN, cfg.sla.itl_ms, reason
        ),
        forecast=fc,
        budget_gpus=cfg.budget.max_gpus,
    )


def _limits(cfg: PlannerConfig, pool: Pool, n: int) -> int:
    lim = cfg.prefill if pool is Pool.PREFILL else cfg.decode
    n = max(n, lim.min_replicas)
    return min(n, lim.max_replicas) if lim.max_replicas is not None else n


def scale_to_budget(
    prefill: int, decode: int, gp: int, gd: int, max_gpus: int | None
) -> tuple[int, int]:
    """Dynamo's budget rule: both pools shrink by the same factor; prefill first (at least
    one), decode takes what is left (at least one)."""
    if max_gpus is None or prefill * gp + decode * gd <= max_gpus:
        return prefill, decode
    factor = max_gpus / (prefill * gp + decode * gd)
    p = max(1, math.floor(prefill * factor))
    d = max(1, math.floor((max_gpus - p * gp) / gd))
    return p, d


# ------------------------------------------------------------------------------------------
# Static
# ------------------------------------------------------------------------------------------
@dataclass
class StaticPolicy:
    config: PlannerConfig
    prefill: int
    decode: int
    gpus: tuple[int, int] = (1, 1)
    name: str = "static"

    def observe(self, sample: DemandSample) -> None:  # static: demand is ignored
        return None

    def decide(self, now: float) -> Decision:
        return _decision(self.config, now, self.prefill, self.decode, self.gpus, self.name)


# ------------------------------------------------------------------------------------------
# HPA
# ------------------------------------------------------------------------------------------
class HPAPolicy:
    """Kubernetes HPA's replica rule per pool, on the last observed interval."""

    name = "hpa"

    def __init__(
        self,
        config: PlannerConfig,
        curves: Any,
        target: float = 0.7,
        tolerance: float = 0.1,
        scale_down_window_s: float = 300.0,
    ) -> None:
        self.config = config
        self.curves = curves
        self.target = target
        self.tolerance = tolerance
        self.window_s = scale_down_window_s
        g = int(getattr(curves, "gpus_per_replica", 1))
        self.gpus = (g, g)
        self._last: DemandSample | None = None
        self._current = {
            Pool.PREFILL: config.prefill.min_replicas,
            Pool.DECODE: config.decode.min_replicas,
        }
        # (time, replicas decided) for ready counts; (time, recommendation) for stabilisation
        self._decided: dict[Pool, deque[tuple[float, int]]] = {p: deque() for p in Pool}
        self._recs: dict[Pool, deque[tuple[float, int]]] = {p: deque() for p in Pool}

    def observe(self, sample: DemandSample) -> None:
        if sample.requests == sample.requests:  # not NaN
            self._last = sample

    def utilisation(self, pool: Pool, sample: DemandSample, ready: int) -> float:
        """Share of the ready replicas' capacity the observed demand used."""
        if ready <= 0:
            return math.inf if sample.requests > 0 else 0.0
        rate = sample.rate
        if not (rate > 0):
            return 0.0
        isl = sample.isl_mean if sample.isl_mean > 0 else 1.0
        osl = sample.osl_mean if sample.osl_mean > 0 else 1.0
        if pool is Pool.PREFILL:
            return rate * isl / (ready * float(self.curves.prefill_capacity_tps(isl)))
        ctx = isl + osl / 2.0
        best = float(self.curves.decode_max_throughput_tps(ctx, self.config.sla.itl_ms))
        return math.inf if best <= 0 else rate * osl / (ready * best)

    def _ready(self, pool: Pool, now: float) -> int:
        hist = self._decided[pool]
        startup = self.config.startup_s
        seen = [n for t, n in hist if t >= now - startup]
        older = [n for t, n in hist if t < now - startup]
        if older:
            seen.append(older[-1])  # the decision in force startup_s ago
        return min(seen) if seen else self._current[pool]

    def _desired(self, pool: Pool, now: float) -> int:
        current = self._current[pool]
        if self._last is None:
            return current
        util = self.utilisation(pool, self._last, self._ready(pool, now))
        ratio = util / self.target
        if abs(ratio - 1.0) <= self.tolerance:
            return current
        ready = self._ready(pool, now)
        if not math.isfinite(ratio):
            return max(current * 2, 1)
        return max(1, math.ceil(ready * ratio - 1e-9)) if ready > 0 else max(current, 1)

    def decide(self, now: float) -> Decision:
        out: dict[Pool, int] = {}
        for pool in Pool:
            rec = _limits(self.config, pool, self._desired(pool, now))
            recs = self._recs[pool]
            recs.append((now, rec))
            while recs and recs[0][0] <= now - self.window_s:
                recs.popleft()
            current = self._current[pool]
            n = rec if rec >= current else max(r for _, r in recs)  # up at once, down stabilised
            n = _limits(self.config, pool, n)
            self._current[pool] = n
            dec = self._decided[pool]
            dec.append((now, n))
            while len(dec) > 2 and dec[1][0] < now - self.config.startup_s:
                dec.popleft()
            out[pool] = n
        p, d = scale_to_budget(
            out[Pool.PREFILL], out[Pool.DECODE], *self.gpus, self.config.budget.max_gpus
        )
        return _decision(self.config, now, p, d, self.gpus, "hpa: utilisation rule")


# ------------------------------------------------------------------------------------------
# Dynamo classic
# ------------------------------------------------------------------------------------------
def dynamo_prefill_replicas(
    profile: Any, requests: float, isl: float, interval_s: float, gpus_per_replica: int
) -> int:
    """ceil(req x ISL / interval / profiled prefill tokens/s/GPU at ISL / GPUs per replica)."""
    if not (requests > 0 and isl > 0):
        return 1
    tps_gpu = float(np.interp(isl, profile.prefill.isl, profile.prefill.throughput_per_gpu))
    return max(1, math.ceil(requests * isl / interval_s / tps_gpu / gpus_per_replica - 1e-9))


def dynamo_decode_replicas(
    curves: Any, requests: float, isl: float, osl: float, interval_s: float, itl_ms: float
) -> int:
    """ceil(req x OSL / interval / best decode tokens/s/GPU meeting ITL at ISL + OSL/2 / GPUs)."""
    if not (requests > 0 and osl > 0):
        return 1
    g = int(getattr(curves, "gpus_per_replica", 1))
    best_replica = float(curves.decode_max_throughput_tps(max(isl, 0.0) + osl / 2.0, itl_ms))
    if best_replica <= 0:
        return 1  # Dynamo falls back to the minimum when no point meets the target
    tps_gpu = best_replica / g
    return max(1, math.ceil(requests * osl / interval_s / tps_gpu / g - 1e-9))


class DynamoClassicPolicy:
    name = "dynamo_classic"

    def __init__(self, config: PlannerConfig, curves: Any, predictor: str = "arima") -> None:
        from forecasters.demand import DemandForecaster
        from forecasters.registry import make_forecaster

        self.config = config
        self.curves = curves
        # Dynamo's "constant" predictor repeats the last value; ours is "last".
        model = "last" if predictor == "constant" else predictor
        self.predictor = predictor
        self._demand = DemandForecaster(
            lambda: make_forecaster(model, interval_s=config.interval_s)
        )
        self._seen = False
        g = int(getattr(curves, "gpus_per_replica", 1))
        self.gpus = (g, g)

    def observe(self, sample: DemandSample) -> None:
        self._demand.observe(sample)
        self._seen = True

    def decide(self, now: float) -> Decision:
        cfg = self.config
        if not self._seen:
            return _decision(cfg, now, 1, 1, self.gpus, "dynamo: no data yet")
        f = self._demand.forecast(1, 0.5)[0]  # means only, as Dynamo
        p = dynamo_prefill_replicas(
            self.curves.profile, f.requests, f.isl, cfg.interval_s, self.gpus[0]
        )
        d = dynamo_decode_replicas(
            self.curves, f.requests, f.isl, f.osl, cfg.interval_s, cfg.sla.itl_ms
        )
        p = _limits(cfg, Pool.PREFILL, p)
        d = _limits(cfg, Pool.DECODE, d)
        p, d = scale_to_budget(p, d, *self.gpus, cfg.budget.max_gpus)
        return _decision(cfg, now, p, d, self.gpus, f"dynamo classic ({self.predictor})", f)


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

    def observe(self, sample: DemandSample) -> None:
        return None

    def decide(self, now: float) -> Decision:
        s = self.schedule
        j = int(round((now - s.start) / s.interval_s))
        j = min(max(j, 0), s.intervals - 1)
        return _decision(
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


def policy_names() -> Sequence[str]:
    return ("static_peak", "hpa", "dynamo_classic", "oracle")
