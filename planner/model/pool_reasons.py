"""Why the planner gave a pool its replicas, as closed sets (like HPA's condition reasons):
what set the size (the binding constraint of sizing) and what overrode it (budget, limits,
ratio bounds, stabilisation). The free-text reason next to them is for people."""

from __future__ import annotations

from enum import Enum


class _Code(str, Enum):
    def __str__(self) -> str:  # the code itself, in f-strings and log lines
        return self.value


class Binding(_Code):
    """What set the size sizing asked for."""

    IDLE = "idle"  # no demand: the minimum
    MINIMUM = "minimum"  # the demand fits the pool's minimum replicas
    LATENCY = "latency"  # the latency target (TTFT or ITL) at the planning quantile
    UTILISATION = "utilisation"  # prefill's utilisation cap
    KV = "kv"  # decode's KV-cache capacity
    UNATTAINABLE = "unattainable"  # the target cannot be met at any size: the most useful size
    NO_HISTORY = "no_history"  # no usable demand yet: what the cluster runs, or the minimums
    SLO = "slo"  # the SLO planner: the cheapest pair whose expected attainment reaches the goal
    OTHER = "other"  # a sizing policy this version does not know

    @classmethod
    def _missing_(cls, value: object) -> Binding:
        return cls.OTHER


class Limit(_Code):
    """What overrode sizing, most important first; NONE when sizing stood."""

    NONE = "none"
    BUDGET = "budget"  # the global GPU budget
    MAX_REPLICAS = "max_replicas"  # the pool's max_replicas
    RATIO_BOUNDS = "ratio_bounds"  # lowered to keep the prefill:decode ratio
    STABILISATION = "stabilisation"  # a scale-down held by the stabilisation window
    RATIO_RAISED = "ratio_raised"  # raised to keep the prefill:decode ratio
