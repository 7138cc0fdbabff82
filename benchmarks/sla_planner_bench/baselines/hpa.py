"""Kubernetes HPA's rule on an SLA-aware utilisation metric, as a baseline policy (see baselines)."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from sla_planner.model.config import PlannerConfig
from sla_planner.model.types import DemandSample, FleetDecision, Pool
from sla_planner_bench.baselines.common import make_decision, pool_limits, scale_to_budget


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

    def observe(self, sample: DemandSample, deployment: str | None = None) -> None:
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

    def decide(self, now: float) -> FleetDecision:
        out: dict[Pool, int] = {}
        for pool in Pool:
            rec = pool_limits(self.config, pool, self._desired(pool, now))
            recs = self._recs[pool]
            recs.append((now, rec))
            while recs and recs[0][0] <= now - self.window_s:
                recs.popleft()
            current = self._current[pool]
            n = rec if rec >= current else max(r for _, r in recs)  # up at once, down stabilised
            n = pool_limits(self.config, pool, n)
            self._current[pool] = n
            dec = self._decided[pool]
            dec.append((now, n))
            while len(dec) > 2 and dec[1][0] < now - self.config.startup_s:
                dec.popleft()
            out[pool] = n
        p, d = scale_to_budget(
            out[Pool.PREFILL], out[Pool.DECODE], *self.gpus, self.config.budget.max_gpus
        )
        return make_decision(self.config, now, p, d, self.gpus, "hpa: utilisation rule")
