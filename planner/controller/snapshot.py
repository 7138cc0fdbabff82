"""What the controller publishes after each tick, for /metrics, the decision endpoints and the
logs: per pool of every variant of every deployment, per deployment, per GPU type; and the
single-deployment view of it (`FleetSnapshot.single`: one deployment's active pools, the
shape of the single-deployment decision endpoint)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sla_planner.controller.pool_state import PoolSnapshot, current_snapshot
from sla_planner.controller.pools import POOL_ORDER, DeploymentRuntime, running_variant
from sla_planner.model.reasons import ReasonCode
from sla_planner.model.types import Decision, DemandForecast, FleetDecision, Pool


@dataclass(frozen=True)
class ControllerSnapshot:
    timestamp: float | None  # time of the last decision
    prefill: PoolSnapshot
    decode: PoolSnapshot
    forecast: DemandForecast | None
    gpus_used: int
    gpu_budget: int | None
    is_leader: bool
    partial: bool
    notes: tuple[str, ...]
    last_metrics_ok_at: float | None
    last_tick_at: float | None
    data_incomplete: str | None = None  # why the newest demand data is incomplete

    def pool(self, pool: Pool | str) -> PoolSnapshot:
        return self.prefill if Pool(pool) is Pool.PREFILL else self.decode


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
    budget_gpus: int | None = None  # its own max_gpus (None: none)

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

    @property
    def only(self) -> DeploymentSnapshot:
        """The one deployment of a single-deployment planner."""
        if len(self.deployments) != 1:
            raise ValueError(f"{len(self.deployments)} deployments: name the one you want")
        return next(iter(self.deployments.values()))

    def single(self) -> ControllerSnapshot:
        """The single-deployment view: its active variant's pools, GPUs used against its
        budget (max_gpus), its forecast and notes."""
        d = self.only
        pools = d.pools[d.variant] if d.variant is not None else next(iter(d.pools.values()))
        return ControllerSnapshot(
            timestamp=self.timestamp,
            prefill=pools["prefill"].pool,
            decode=pools["decode"].pool,
            forecast=d.forecast,
            gpus_used=sum(d.gpus().values()),
            gpu_budget=d.budget_gpus,
            is_leader=self.is_leader,
            partial=d.partial,
            notes=d.notes,
            last_metrics_ok_at=d.last_metrics_ok_at,
            last_tick_at=self.last_tick_at,
            data_incomplete=d.data_incomplete,
        )


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


def build_snapshot(
    deployments: Mapping[str, DeploymentRuntime],
    decision: FleetDecision | None,
    ledger: Any,
    now: float,
    leader: bool,
    partial: Callable[[str], bool] = lambda _name: False,
) -> FleetSnapshot:
    """Every pool's last outcome refreshed with the cluster view; `ledger`: GPUs per type."""
    out = {name: _deployment(d, d.decision, partial(name)) for name, d in deployments.items()}
    used = {t: 0 for t in ledger.budget}
    for snap in out.values():
        for t, g in snap.gpus().items():
            used[t] = used.get(t, 0) + g
    return FleetSnapshot(
        timestamp=decision.timestamp if decision is not None else None,
        deployments=out,
        gpus_used=used,
        gpu_budget=dict(ledger.budget),
        is_leader=leader,
        last_tick_at=now,
    )


def _deployment(d: DeploymentRuntime, a: Decision | None, partial: bool) -> DeploymentSnapshot:
    held = a.held.variant if a is not None and a.held is not None else None
    # Held out of the allocation (its demand failed): it runs what the cluster runs.
    variant = a.variant if a is not None else running_variant(d)
    pools: dict[str, dict[str, FleetPoolSnapshot]] = {}
    for v in d.variants:
        pools[v] = {}
        for p in POOL_ORDER:
            fp = d.pool(v, p)
            ps = current_snapshot(fp.state)
            if fp.drain is not None:
                ps = replace(ps, drain=fp.drain.view)
            fp.state.snapshot = ps
            role = "idle"
            reasons: tuple[str, ...] = ()
            if v == variant:
                role = "active"
                if a is not None:
                    pa = a.prefill if p is Pool.PREFILL else a.decode
                    reasons = tuple(r.value for r in pa.reasons)
            elif v == held:
                role = "held"
            pools[v][p.value] = FleetPoolSnapshot(
                v, ps, role, fp.gpu_type, fp.gpus_per_replica, reasons
            )
    slo = d.spec.config.slo
    return DeploymentSnapshot(
        name=d.name,
        priority=d.spec.priority,
        rank=d.rank,
        variant=variant,
        held_variant=held,
        pools=pools,
        slo={"ttft_ms": slo.ttft_ms, "itl_ms": slo.itl_ms, "attainment": slo.attainment},
        forecast=a.forecast if a is not None else None,
        expected_attainment=a.expected_attainment if a is not None else None,
        reasons=tuple(r.value for r in a.reasons) if a is not None else (),
        reason=a.summary if a is not None else "",
        partial=partial,
        notes=tuple(a.notes) if a is not None else (),
        last_metrics_ok_at=d.feed.last_ok_at,
        data_incomplete=d.feed.incomplete,
        failure=d.failure[1] if d.failure is not None else None,
        budget_gpus=d.max_gpus,
    )
