"""What the fleet controller publishes after each tick (for /metrics, the decision endpoints and
the logs): per pool of every variant of every deployment, per deployment, and per GPU type."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sla_planner.controller.snapshot import PoolSnapshot
from sla_planner.model.fleet.types import FleetReason
from sla_planner.model.reasons import Binding, Limit, ReasonCode
from sla_planner.model.types import DemandForecast


@dataclass(frozen=True)
class FleetPoolSnapshot:
    variant: str
    pool: PoolSnapshot  # replicas, reason code, binding/limit: as a single deployment's pool
    role: str  # active (the variant it runs), held (old side of a switch), idle
    gpu_type: str
    gpus_per_replica: int
    fleet_reasons: tuple[str, ...] = ()  # FleetReason values from the allocator


@dataclass(frozen=True)
class DeploymentSnapshot:
    name: str
    priority: int | str
    rank: int
    variant: str | None  # the variant it runs (None before its first decision)
    held_variant: str | None  # the old side of a switch, still serving
    pools: Mapping[str, Mapping[str, FleetPoolSnapshot]]  # variant -> pool -> snapshot
    slo: Mapping[str, float]  # ttft_ms, itl_ms, attainment
    forecast: DemandForecast | None
    expected_attainment: float | None  # the model's, at the planned demand
    reasons: tuple[str, ...]  # the deployment's FleetReason values
    reason: str
    partial: bool
    notes: tuple[str, ...]
    last_metrics_ok_at: float | None
    data_incomplete: str | None  # why its newest demand data is incomplete
    failure: str | None  # why its last planning held it (metrics, forecast), None: planned

    def gpus(self) -> dict[str, int]:
        """GPUs per type its desired replicas use (every variant, the old side included)."""
        out: dict[str, int] = {}
        for pools in self.pools.values():
            for fp in pools.values():
                n = fp.pool.desired or 0
                out[fp.gpu_type] = out.get(fp.gpu_type, 0) + n * fp.gpus_per_replica
        return out

    def active(self, pool: str) -> FleetPoolSnapshot | None:
        if self.variant is None:
            return None
        return self.pools.get(self.variant, {}).get(pool)


@dataclass(frozen=True)
class FleetSnapshot:
    timestamp: float | None  # time of the last fleet decision
    deployments: Mapping[str, DeploymentSnapshot]
    gpus_used: Mapping[str, int]  # desired replicas' GPUs per type, every pool
    gpu_budget: Mapping[str, int]
    is_leader: bool
    last_tick_at: float | None


def binding_of(code: str | None) -> Binding | None:
    """Sizing's binding (a PoolNeed's `binding` string) as the single planner's enum."""
    if code is None:
        return None
    return Binding.NO_HISTORY if code == "cold" else Binding(code)


_LIMITS = (
    (FleetReason.PREEMPTED, Limit.BUDGET),
    (FleetReason.PRIORITY_LIMITED, Limit.BUDGET),
    (FleetReason.BUDGET_LIMITED, Limit.BUDGET),
    (FleetReason.MAXIMUM, Limit.MAX_REPLICAS),
    (FleetReason.STABILIZED, Limit.STABILISATION),
)


def limit_of(reasons: tuple[FleetReason, ...]) -> Limit:
    """What overrode sizing, in the single planner's terms (budget covers priorities)."""
    for reason, limit in _LIMITS:
        if reason in reasons:
            return limit
    return Limit.NONE


def log_pool_decision(
    logger: logging.Logger, name: str, fp: FleetPoolSnapshot, snap: FleetSnapshot
) -> None:
    ps = fp.pool
    lat = ps.expected_latency_ms
    error_hold = ps.held and ReasonCode(ps.reason_code).is_error_hold
    used, budget = snap.gpus_used.get(fp.gpu_type, 0), snap.gpu_budget.get(fp.gpu_type)
    logger.log(
        logging.WARNING if error_hold else logging.INFO,
        "decision deployment=%s variant=%s pool=%s role=%s t=%s desired=%s current=%s "
        "ready=%s wanted=%s expected_ms=%s gpu_type=%s gpus=%d/%s leader=%s code=%s held=%s "
        "reason=%r",
        name,
        fp.variant,
        ps.pool,
        fp.role,
        f"{snap.timestamp:.0f}" if snap.timestamp is not None else "-",
        ps.desired,
        ps.current,
        ps.ready,
        ps.wanted,
        "-" if lat is None else f"{lat:.1f}",
        fp.gpu_type,
        used,
        budget,
        str(snap.is_leader).lower(),
        ps.reason_code,
        str(ps.held).lower(),
        ps.reason,
    )
