"""Expected TTFT and ITL of a deployment's allocated replicas at its planned demand (pure): what
the dry run's decisions.csv and the fleet controller's decision endpoint show beside the SLO."""

from __future__ import annotations

import math

from sla_planner.model.fleet.planning import VariantEngines
from sla_planner.model.fleet.types import DeploymentAllocation, DeploymentNeed
from sla_planner.model.size import latency_model as lm


def expected_latency_ms(
    a: DeploymentAllocation, need: DeploymentNeed, engines: VariantEngines
) -> tuple[float, float]:
    """(TTFT, ITL) in ms of the allocated variant's replicas at the planned demand: NaN with no
    demand history, +inf when demand meets a pool at zero replicas."""
    v = need.variants[a.variant]
    dp, dd = v.prefill.demand, v.decode.demand
    ttft = itl = math.nan
    if dp is not None:
        n = a.prefill.replicas
        ttft = (
            lm.expected_ttft_ms(
                engines.prefill.curves, dp.rate_rps, dp.isl, n, v.prefill.service_scv
            )
            if n > 0
            else (math.inf if dp.rate_rps > 0 else math.nan)
        )
    if dd is not None:
        n = a.decode.replicas
        itl = (
            lm.expected_itl_ms(engines.decode.curves, dd.decode_rate_rps, dd.isl, dd.osl, n)
            if n > 0
            else (math.inf if dd.decode_rate_rps > 0 else math.nan)
        )
    return ttft, itl
