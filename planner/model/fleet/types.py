"""What flows between the fleet planner's parts: needs in, state carried, allocations out (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from sla_planner.model.config import PoolLimits
from sla_planner.model.reasons import FleetReason
from sla_planner.model.size.planning_demand import PlanningDemand
from sla_planner.model.stabilise.stabilization import Recommendation
from sla_planner.model.types import DemandForecast


@dataclass(frozen=True, eq=False)
class PoolNeed:
    """One pool of one variant this tick: where it runs, what sizing wants, what each replica
    count is expected to attain at the planned demand (index = replicas, 0..cap)."""

    gpu_type: str
    gpus_per_replica: int
    sized: int  # replicas SLA sizing asked for (already at least min_replicas)
    attainment: np.ndarray  # non-decreasing in replicas, 0..1
    served: np.ndarray  # share of demand the replicas can serve at all, 0..1
    binding: str  # what set the size (sizing's `binding`)
    reason: str  # sizing's explanation
    limits: PoolLimits
    demand: PlanningDemand | None = None  # the planned step that set the size (None: cold)
    service_scv: float = 1.0  # prefill's prompt-length SCV used for it
    # Attainment at the forecast's mean demand (the planned one is at an upper quantile):
    # what a squeezed pool can still be expected to attain. None: same as `attainment`.
    attainment_mean: np.ndarray | None = None

    def expected(self, n: int) -> float:
        a = self.attainment if self.attainment_mean is None else self.attainment_mean
        return float(a[n])

    @property
    def cap(self) -> int:
        """Most replicas this pool can get (max_replicas and the GPU type's count)."""
        return int(self.attainment.size - 1)


@dataclass(frozen=True)
class VariantNeed:
    name: str
    prefill: PoolNeed
    decode: PoolNeed

    @property
    def meets_slo(self) -> bool:
        """Sizing finds a size meeting both latency targets within the pools' caps."""
        ok = all(p.binding != "unattainable" for p in (self.prefill, self.decode))
        return (
            ok and self.prefill.sized <= self.prefill.cap and self.decode.sized <= self.decode.cap
        )


@dataclass(frozen=True)
class DeploymentNeed:
    """A deployment's demand this tick, sized on every variant (first = the default)."""

    name: str
    rank: int  # priority rank, 0 first
    target: float  # SLO attainment target
    weight: float  # planned requests/s: the value of meeting its SLO
    variants: Mapping[str, VariantNeed]
    has_history: bool  # False: no demand seen yet (cold)
    last_request_at: float | None  # end of the last observed interval with requests
    recent_requests: float  # requests in the last observed interval
    idle_window_s: float
    notes: tuple[str, ...] = ()
    forecast: DemandForecast | None = None  # first step's forecast (None: cold)

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))


@dataclass(frozen=True)
class Held:
    """An old variant's replicas kept serving during a switch, until the new ones are ready."""

    variant: str
    prefill: int
    decode: int
    prefill_type: str
    decode_type: str
    prefill_gpus: int  # GPUs, not replicas
    decode_gpus: int
    until: float

    def gpus_by_type(self) -> dict[str, int]:
        out = {self.prefill_type: self.prefill_gpus}
        out[self.decode_type] = out.get(self.decode_type, 0) + self.decode_gpus
        return out


@dataclass(frozen=True)
class DeploymentState:
    """What the allocator carries from tick to tick for one deployment (a fleet controller
    overwrites `prefill`/`decode` with what the cluster runs)."""

    variant: str
    prefill: int = 0
    decode: int = 0
    held: Held | None = None
    candidate: str | None = None  # a better variant waiting out the hysteresis
    candidate_since: float | None = None
    prefill_history: tuple[Recommendation, ...] = ()
    decode_history: tuple[Recommendation, ...] = ()


@dataclass(frozen=True)
class FleetState:
    deployments: Mapping[str, DeploymentState] = field(default_factory=dict)

    def get(self, name: str) -> DeploymentState | None:
        return self.deployments.get(name)

    def with_cluster(self, name: str, variant: str, prefill: int, decode: int) -> FleetState:
        """The replicas the cluster runs now for one deployment (a controller's seed)."""
        old = self.deployments.get(name)
        new = (
            DeploymentState(variant, int(prefill), int(decode))
            if old is None or old.variant != variant
            else replace(old, prefill=int(prefill), decode=int(decode))
        )
        return FleetState({**self.deployments, name: new})


@dataclass(frozen=True)
class PoolAllocation:
    replicas: int
    gpus: int
    gpu_type: str
    gpus_per_replica: int
    sized: int  # what SLA sizing asked for
    wanted: int  # after stabilisation, limits and scale-to-zero rules
    reasons: tuple[FleetReason, ...]
    text: str


@dataclass(frozen=True)
class DeploymentAllocation:
    name: str
    rank: int
    variant: str
    prefill: PoolAllocation
    decode: PoolAllocation
    held: Held | None  # old variant's replicas still counted (a switch in progress)
    expected_attainment: float  # the model's, at the planned demand and these replicas
    cost_per_hour: float  # every GPU it holds, old variant included
    reasons: tuple[FleetReason, ...]
    text: str = ""

    def gpus_by_type(self) -> dict[str, int]:
        out: dict[str, int] = dict(self.held.gpus_by_type()) if self.held else {}
        for pool in (self.prefill, self.decode):
            out[pool.gpu_type] = out.get(pool.gpu_type, 0) + pool.gpus
        return out


@dataclass(frozen=True)
class Preemption:
    victim: str
    gpu_type: str
    gpus: int  # GPUs it gave up this tick
    beneficiaries: tuple[str, ...]  # higher-class deployments that grew on that type


@dataclass(frozen=True)
class FleetAllocation:
    timestamp: float
    deployments: tuple[DeploymentAllocation, ...]
    budget: Mapping[str, int]  # GPUs per type
    preemptions: tuple[Preemption, ...] = ()

    def used(self) -> dict[str, int]:
        out = {t: 0 for t in self.budget}
        for d in self.deployments:
            for t, g in d.gpus_by_type().items():
                out[t] = out.get(t, 0) + g
        return out

    def by_name(self, name: str) -> DeploymentAllocation:
        return next(d for d in self.deployments if d.name == name)
