"""The controller's timing settings and its mutable per-pool state between ticks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sla_planner.actuators.base import ReplicaStatus
from sla_planner.controller.drain_plan import DrainView
from sla_planner.model.reasons import Binding, Limit, ReasonCode
from sla_planner.model.types import Decision, Pool, PoolDecision

POOLS: tuple[Pool, Pool] = (Pool.PREFILL, Pool.DECODE)


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
    drain: DrainView | None = None  # its drain-aware scale-down (None: not configured)


@dataclass(frozen=True)
class LoopSettings:
    """Controller timing. Pool intervals default to the planner's decision interval."""

    prefill_interval_s: float | None = None
    decode_interval_s: float | None = None
    retry_interval_s: float = 10.0  # how soon a held pool is retried
    startup_grace_s: float | None = None  # default: PlannerConfig.startup_s
    backfill_intervals: int = 60  # history fetched on start to warm the forecaster
    # Wall-clock limit of a tick's planning (fetch, forecast, size); default: the shortest
    # pool interval. Past it the pools hold (hold_deadline).
    tick_deadline_s: float | None = None
    # The loop is unhealthy (/healthz fails, the Lease is given up) when no tick has completed
    # for this long; default: 3 x the shortest pool interval.
    liveness_stale_s: float | None = None
    # A decision growing a pool beyond this factor in one step is refused (None: no check).
    max_step_factor: float | None = 100.0


@dataclass
class PoolState:
    pool: Pool
    interval_s: float
    next_due: float
    retry_due: float | None = None
    retry_needs_decision: bool = False
    target: int | None = None  # last replicas we applied (or found on resume)
    status: ReplicaStatus | None = None
    starting_since: float | None = None  # a scale-up not yet ready, since when
    failing: str | None = None  # why the last attempt failed (error holds only)
    last_ok_at: float | None = None  # last time the pool matched its decision
    last_change_at: float | None = None  # last time we changed its replicas
    snapshot: PoolSnapshot | None = None


def pool_decision(decision: Decision, p: Pool) -> PoolDecision:
    return decision.prefill if p is Pool.PREFILL else decision.decode


def other_pool_gpus(pools: Mapping[Pool, PoolState], p: Pool, gpr: Mapping[Pool, int]) -> int:
    """GPUs the pool other than `p` holds right now: it may still run what it was asked for
    before, or more than it was asked (the budget cap of `p` must allow for both)."""
    other = Pool.DECODE if p is Pool.PREFILL else Pool.PREFILL
    o = pools[other]
    return max(o.status.desired if o.status is not None else 0, o.target or 0) * gpr[other]


def partial_pairs(pools: dict[Pool, PoolState]) -> list[tuple[Pool, Pool]]:
    """(moved, held) pairs: one pool changed while the other has been failing to follow since."""
    out: list[tuple[Pool, Pool]] = []
    for p in POOLS:
        q = Pool.DECODE if p is Pool.PREFILL else Pool.PREFILL
        sp, sq = pools[p], pools[q]
        if (
            sp.failing is not None
            and sq.failing is None
            and sq.last_change_at is not None
            and (sp.last_ok_at is None or sq.last_change_at > sp.last_ok_at)
        ):
            out.append((q, p))
    return out


def current_snapshot(s: PoolState) -> PoolSnapshot:
    """The pool's last snapshot (a pending one before any decision), refreshed with the cluster
    view even on ticks the pool was not due."""
    sn = s.snapshot or PoolSnapshot(
        pool=s.pool.value,
        desired=s.target,
        current=s.status.desired if s.status else None,
        ready=s.status.ready if s.status else None,
        wanted=None,
        expected_latency_ms=None,
        target_ms=None,
        reason="no decision yet",
        reason_code=ReasonCode.PENDING,
        held=True,
        updated_at=None,
    )
    if s.status is not None:
        sn = replace(sn, current=s.status.desired, ready=s.status.ready)
    return sn


def decided_snapshot(
    s: PoolState,
    pd: PoolDecision | None,
    desired: int | None,
    code: ReasonCode,
    reason: str,
    held: bool,
    now: float,
) -> PoolSnapshot:
    """What the pool publishes after this tick's outcome (`code`, `reason`)."""
    st = s.status
    return PoolSnapshot(
        pool=s.pool.value,
        desired=desired,
        current=st.desired if st else None,
        ready=st.ready if st else None,
        wanted=pd.wanted_replicas if pd else None,
        expected_latency_ms=pd.expected_latency_ms if pd else None,
        target_ms=pd.target_ms if pd else None,
        reason=reason,
        reason_code=code,
        held=held,
        updated_at=now,
        binding=pd.binding if pd else None,
        limit=pd.limit if pd else None,
    )
