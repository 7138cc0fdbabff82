"""Hand-made fleet needs for allocator tests: attainment per replica count written out, so each
case can be computed by hand."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sla_planner.model.config import PoolLimits
from sla_planner.model.fleet.config import Hysteresis
from sla_planner.model.fleet.plan import FleetSettings
from sla_planner.model.fleet.types import DeploymentNeed, PoolNeed, VariantNeed


def pool(
    gpu_type: str = "A",
    sized: int = 1,
    attainment: Sequence[float] | None = None,
    gpus_per_replica: int = 1,
    cap: int = 16,
    min_replicas: int = 1,
    max_replicas: int | None = None,
    served: Sequence[float] | None = None,
    binding: str = "latency",
) -> PoolNeed:
    """A pool whose attainment is `attainment` for 0, 1, 2, ... replicas, then 1.0 (or a step
    to 1.0 at `sized` replicas when not given), up to `cap` replicas."""
    if attainment is None:
        att = np.array([1.0 if n >= sized else 0.0 for n in range(cap + 1)])
    else:
        att = np.ones(cap + 1)
        att[: len(attainment)] = attainment[: cap + 1]
    if served is None:
        sv = np.minimum(1.0, np.arange(cap + 1) / max(sized, 1))
    else:
        sv = np.ones(cap + 1)
        sv[: len(served)] = served[: cap + 1]
    return PoolNeed(
        gpu_type,
        gpus_per_replica,
        sized,
        np.maximum.accumulate(att),
        np.maximum.accumulate(sv),
        binding,
        "test",
        PoolLimits(min_replicas=min_replicas, max_replicas=max_replicas),
    )


def variant(name: str, prefill: PoolNeed, decode: PoolNeed) -> VariantNeed:
    return VariantNeed(name, prefill, decode)


def need(
    name: str,
    *variants: VariantNeed,
    rank: int = 0,
    weight: float = 1.0,
    target: float = 0.99,
    last_request_at: float | None = 0.0,
    recent: float = 10.0,
    idle_window_s: float = 600.0,
    has_history: bool = True,
) -> DeploymentNeed:
    return DeploymentNeed(
        name=name,
        rank=rank,
        target=target,
        weight=weight,
        variants={v.name: v for v in variants},
        has_history=has_history,
        last_request_at=last_request_at,
        recent_requests=recent,
        idle_window_s=idle_window_s,
    )


def simple(
    name: str,
    want_p: int,
    want_d: int,
    gpu_type: str = "A",
    rank: int = 0,
    weight: float = 1.0,
    min_p: int = 1,
    min_d: int = 1,
    gpr: int = 1,
) -> DeploymentNeed:
    """One variant `v` on one GPU type, attaining 1.0 exactly at the wants."""
    return need(
        name,
        variant(
            "v",
            pool(gpu_type, want_p, gpus_per_replica=gpr, min_replicas=min_p),
            pool(gpu_type, want_d, gpus_per_replica=gpr, min_replicas=min_d),
        ),
        rank=rank,
        weight=weight,
    )


def settings(
    gpus: dict[str, int],
    prices: dict[str, float] | None = None,
    startup_s: float = 120.0,
    window_s: float = 0.0,
    hysteresis: Hysteresis | None = None,
) -> FleetSettings:
    return FleetSettings(
        gpus=gpus,
        prices=prices or {t: 1.0 for t in gpus},
        startup_s=startup_s,
        scale_down_window_s=window_s,
        hysteresis=hysteresis or Hysteresis(),
    )
