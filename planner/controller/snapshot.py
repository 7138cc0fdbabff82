"""What the controller publishes after each tick: per-pool and whole-planner snapshots, and
the one structured log line per pool decision."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sla_planner.model.reasons import Binding, Limit, ReasonCode
from sla_planner.model.types import DemandForecast, Pool


@dataclass(frozen=True)
class PoolSnapshot:
    pool: str
    desired: int | None  # what the controller applied / publishes for this pool
    current: int | None  # spec.replicas as last read
    ready: int | None
    wanted: int | None
    expected_latency_ms: float | None
    target_ms: float | None
    reason: str
    reason_code: ReasonCode
    held: bool
    updated_at: float | None
    binding: Binding | None = None  # the planner's: what set sizing's size
    limit: Limit | None = None  # the planner's: what overrode it


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


def log_decision(logger: logging.Logger, ps: PoolSnapshot, snap: ControllerSnapshot) -> None:
    lat = ps.expected_latency_ms
    # Error holds are warnings; deliberate holds (readiness, standby) are normal decisions.
    error_hold = ps.held and ReasonCode(ps.reason_code).is_error_hold
    logger.log(
        logging.WARNING if error_hold or snap.partial else logging.INFO,
        "decision pool=%s t=%s desired=%s current=%s ready=%s wanted=%s expected_ms=%s "
        "target_ms=%s gpus=%d/%s leader=%s code=%s held=%s partial=%s reason=%r",
        ps.pool,
        f"{snap.timestamp:.0f}" if snap.timestamp is not None else "-",
        ps.desired,
        ps.current,
        ps.ready,
        ps.wanted,
        "-" if lat is None else f"{lat:.1f}",
        ps.target_ms,
        snap.gpus_used,
        snap.gpu_budget if snap.gpu_budget is not None else "inf",
        str(snap.is_leader).lower(),
        ps.reason_code,
        str(ps.held).lower(),
        str(snap.partial).lower(),
        ps.reason,
    )
