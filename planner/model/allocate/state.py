"""What the allocator carries from tick to tick (pure): per deployment the variant it runs, its
replicas, its stabilisation histories and a switch in progress."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sla_planner.model.stabilise.stabilization import Recommendation
from sla_planner.model.types import Held


@dataclass(frozen=True)
class DeploymentState:
    """What the allocator carries from tick to tick for one deployment (a controller
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

    def seeded(self, name: str, variant: str, prefill: int, decode: int, now: float) -> FleetState:
        """What runs counts as a recommendation at `now` (the stabilisation window holds it):
        a restart, a gain of leadership or a reactive scale-up never scales down at once."""
        old = self.deployments.get(name)
        if old is None or old.variant != variant:
            old = DeploymentState(variant)
        new = replace(
            old,
            prefill=int(prefill),
            decode=int(decode),
            prefill_history=(*old.prefill_history, Recommendation(now, int(prefill))),
            decode_history=(*old.decode_history, Recommendation(now, int(decode))),
        )
        return FleetState({**self.deployments, name: new})
