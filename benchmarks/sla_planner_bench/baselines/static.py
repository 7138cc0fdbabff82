"""A fixed replica count, all the time (static peak is one of these)."""

from __future__ import annotations

from dataclasses import dataclass

from sla_planner.model.config import PlannerConfig
from sla_planner.model.types import DemandSample, FleetDecision
from sla_planner_bench.baselines.common import make_decision


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

    def observe(
        self, sample: DemandSample, deployment: str | None = None
    ) -> None:  # static: demand is ignored
        return None

    def decide(self, now: float) -> FleetDecision:
        return make_decision(self.config, now, self.prefill, self.decode, self.gpus, self.name)
