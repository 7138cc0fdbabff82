"""A tick's cluster-wide settings and each deployment's inputs to an allocation pass (pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sla_planner.model.allocate.state import DeploymentState
from sla_planner.model.allocate.variants import VariantChoice
from sla_planner.model.config import Hysteresis
from sla_planner.model.size.needs import DeploymentNeed
from sla_planner.model.stabilise.wants import PoolWant
from sla_planner.model.types import Held

# A GPU type with no budget counts as this many GPUs free (more than any pool can ask for:
# REPLICAS_LIMIT x the largest TP group), so the passes need no special case.
UNLIMITED = 10**9


@dataclass(frozen=True)
class FleetSettings:
    gpus: Mapping[str, int | None]  # GPUs per type (None: unlimited)
    prices: Mapping[str, float]  # per GPU-hour, per type
    startup_s: float  # a variant switch's new replicas are ready this long after it starts
    hysteresis: Hysteresis = Hysteresis()

    def free(self) -> dict[str, int]:
        return {t: UNLIMITED if n is None else int(n) for t, n in self.gpus.items()}

    def price(self, gpu_type: str) -> float:
        return self.prices.get(gpu_type, 1.0)


@dataclass(frozen=True)
class Plan:
    """One deployment's inputs to an allocation pass."""

    need: DeploymentNeed
    state: DeploymentState  # as it enters this tick
    choice: VariantChoice
    held: Held | None
    running: tuple[int, int]  # replicas running now on choice.variant
    want_p: PoolWant
    want_d: PoolWant
