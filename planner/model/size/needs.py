"""What sizing hands the allocator (pure): every deployment's need this tick, per variant and
pool: what sizing wants, and what each replica count is expected to attain."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sla_planner.model.config import Budget, PoolLimits
from sla_planner.model.reasons import Binding
from sla_planner.model.size.planning_demand import PlanningDemand
from sla_planner.model.size.pool_plan import Scorer
from sla_planner.model.size.sizing import SizingResult
from sla_planner.model.types import DemandForecast


def _flat(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    ones = np.ones(hi - lo + 1)
    return ones, ones


def _curve(x: Any) -> np.ndarray:
    # More replicas never attain less; enforced so the allocator's search is well posed.
    return np.maximum.accumulate(np.clip(np.nan_to_num(np.asarray(x, float)), 0.0, 1.0))


@dataclass(frozen=True, eq=False)
class PoolNeed:
    """One pool of one variant this tick: where it runs, what sizing wants, and (computed only
    when a budget binds) what each replica count 0..cap is expected to attain at the planned
    demand."""

    gpu_type: str
    gpus_per_replica: int
    result: SizingResult  # what sizing asked for and why
    limits: PoolLimits
    cap: int  # most replicas it can get: max_replicas and its GPU type's count
    scorer: Scorer | None = None  # at the planned demand (None: every count attains 1)
    scorer_mean: Scorer | None = None  # at the forecast's mean demand (None: as `scorer`)
    demand: PlanningDemand | None = None  # the planned step that set the size (None: cold)
    service_scv: float = 1.0  # prefill's prompt-length SCV used for it

    @property
    def sized(self) -> int:
        return self.result.replicas

    @property
    def binding(self) -> Binding:
        return self.result.binding

    @property
    def reason(self) -> str:
        return self.result.reason

    def score(self, lo: int, hi: int) -> tuple[Any, Any]:
        return (self.scorer or _flat)(lo, hi)

    @functools.cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        att, served = self.score(0, max(self.cap, 0))
        return _curve(att), _curve(served)

    @property
    def attainment(self) -> np.ndarray:
        """Expected attainment of 0..cap replicas, non-decreasing."""
        return self._tables[0]

    @property
    def served(self) -> np.ndarray:
        """Share of demand 0..cap replicas can serve at all, non-decreasing."""
        return self._tables[1]

    @functools.cached_property
    def attainment_mean(self) -> np.ndarray:
        if self.scorer_mean is None:
            return self.attainment
        return _curve(self.scorer_mean(0, max(self.cap, 0))[0])

    def expected(self, n: int) -> float:
        """Attainment at the forecast's mean: what a squeezed pool can still expect."""
        return float(self.attainment_mean[min(n, self.cap)])

    def at(self, n: int) -> float:
        """Attainment of `n` replicas at the planned demand (computed for that count only)."""
        if "_tables" in self.__dict__:
            return float(self.attainment[min(n, self.cap)])
        return float(np.clip(np.nan_to_num(np.asarray(self.score(n, n)[0], float)), 0, 1)[0])


@dataclass(frozen=True)
class VariantNeed:
    name: str
    prefill: PoolNeed
    decode: PoolNeed
    plan: Any = None  # the deployment planner's own notes on how it sized (opaque here)

    @property
    def meets_slo(self) -> bool:
        """Sizing finds a size meeting both latency targets within the pools' caps."""
        ok = all(p.binding != Binding.UNATTAINABLE for p in (self.prefill, self.decode))
        return (
            ok and self.prefill.sized <= self.prefill.cap and self.decode.sized <= self.decode.cap
        )


@dataclass(frozen=True)
class DeploymentNeed:
    """A deployment's demand this tick, sized on every variant (first = the default)."""

    name: str
    rank: int  # priority rank, 0 first
    target: float  # SLO attainment target (1.0 for a fixed-margin planner)
    weight: float  # planned requests/s: the value of meeting its SLO
    variants: Mapping[str, VariantNeed]
    has_history: bool  # False: no demand seen yet (cold)
    last_request_at: float | None  # end of the last observed interval with requests
    recent_requests: float  # requests in the last observed interval
    idle_window_s: float | None  # scale-to-zero idle window (None: sizing alone decides)
    scale_down_window_s: float
    budget: Budget = Budget()  # the deployment's own GPU cap and prefill:decode ratio bounds
    notes: tuple[str, ...] = ()
    forecast: DemandForecast | None = None  # first step's forecast (None: cold)

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))
