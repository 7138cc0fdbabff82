"""A fleet tick's settings and each deployment's inputs to an allocation pass (pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sla_planner.model.allocate.variants import VariantChoice
from sla_planner.model.fleet.config import FleetConfig, Hysteresis
from sla_planner.model.fleet.types import DeploymentNeed, DeploymentState, Held
from sla_planner.model.stabilise.wants import PoolWant


@dataclass(frozen=True)
class FleetSettings:
    gpus: Mapping[str, int]  # GPUs per type
    prices: Mapping[str, float]  # per GPU-hour, per type
    startup_s: float
    scale_down_window_s: float
    hysteresis: Hysteresis = Hysteresis()

    @classmethod
    def from_config(cls, cfg: FleetConfig) -> FleetSettings:
        return cls(
            gpus={t: p.count for t, p in cfg.cluster.gpus.items()},
            prices={t: p.price_per_gpu_hour for t, p in cfg.cluster.gpus.items()},
            startup_s=cfg.startup_s,
            scale_down_window_s=cfg.scale_down_window_s,
            hysteresis=cfg.hysteresis,
        )


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
