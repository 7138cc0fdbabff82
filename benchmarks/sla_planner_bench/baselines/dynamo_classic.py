"""Dynamo's classic SLA planner rule (ai-dynamo 1.6), re-implemented as a baseline policy (see baselines)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sla_planner.model.config import PlannerConfig
from sla_planner.model.types import DemandSample, FleetDecision, Pool
from sla_planner_bench.baselines.common import make_decision, pool_limits, scale_to_budget


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
        from sla_planner.forecasters.registry import make_forecaster
        from sla_planner.model.forecast.demand_forecaster import DemandForecaster

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

    def observe(self, sample: DemandSample, deployment: str | None = None) -> None:
        self._demand.observe(sample)
        self._seen = True

    def decide(self, now: float) -> FleetDecision:
        cfg = self.config
        if not self._seen:
            return make_decision(cfg, now, 1, 1, self.gpus, "dynamo: no data yet")
        f = self._demand.forecast(1, 0.5)[0]  # means only, as Dynamo
        p = dynamo_prefill_replicas(
            self.curves.profile, f.requests, f.isl, cfg.interval_s, self.gpus[0]
        )
        d = dynamo_decode_replicas(
            self.curves, f.requests, f.isl, f.osl, cfg.interval_s, cfg.sla.itl_ms
        )
        p = pool_limits(cfg, Pool.PREFILL, p)
        d = pool_limits(cfg, Pool.DECODE, d)
        p, d = scale_to_budget(p, d, *self.gpus, cfg.budget.max_gpus)
        return make_decision(cfg, now, p, d, self.gpus, f"dynamo classic ({self.predictor})", f)
