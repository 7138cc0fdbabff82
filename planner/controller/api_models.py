"""The HTTP API's bodies (pydantic) and how a snapshot becomes one: the single-deployment
decision (`decision_out`: `prefill.desiredReplicas`, what KEDA's metrics-api scaler reads with
`valueLocation`), one deployment's decision in a fleet (`deployment_out`:
`variants.<variant>.<pool>.desiredReplicas` too), the whole fleet's (`fleet_out`), and why the
planner is not ready."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sla_planner.controller.snapshot import (
    ControllerSnapshot,
    DeploymentSnapshot,
    FleetPoolSnapshot,
    FleetSnapshot,
    PoolSnapshot,
)


def finite_or_none(x: float | None) -> float | None:
    """JSON has no Infinity/NaN: an overloaded (inf) or unknown (NaN) value becomes null."""
    return x if x is not None and math.isfinite(x) else None


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DrainingReplicaOut(ApiModel):
    id: str = Field(description="the pod, or the group index (LWS, PCSG)")
    inFlight: float | None = Field(description="requests it holds; null: unknown")
    since: float = Field(description="unix seconds: when its drain began")


class DrainOut(ApiModel):
    replicas: list[DrainingReplicaOut] = Field(description="the replicas being drained")
    lowerTo: int | None = Field(description="the replicas the pool is lowered to once drained")
    timeoutS: float = Field(description="drain_timeout_s: longest a replica is waited for")
    blocked: str | None = Field(description="why the removed replicas cannot be chosen yet")


class PoolDecisionOut(ApiModel):
    desiredReplicas: int = Field(
        description="replicas the planner wants (applied, or published for KEDA/HPA)"
    )
    currentReplicas: int | None = Field(description="spec.replicas as last read from the cluster")
    readyReplicas: int | None = Field(description="ready replicas as last read")
    wantedReplicas: int | None = Field(description="SLA sizing alone, before budget/stabilisation")
    expectedLatencyMs: float | None = Field(
        description="TTFT (prefill) or ITL (decode) expected at desiredReplicas; null = overloaded"
    )
    targetMs: float | None = Field(description="SLA target: TTFT for prefill, ITL for decode")
    reason: str
    reasonCode: str = Field(
        description="controller.reasons.ReasonCode: scale_up, scale_down, steady, standby, "
        "partial, hold_<why>"
    )
    held: bool = Field(description="true when the pool is held at its last good state")
    binding: str | None = Field(
        None, description="what set sizing's size (model.reasons.Binding), e.g. latency"
    )
    limit: str | None = Field(
        None, description="what overrode sizing (model.reasons.Limit), e.g. budget, none"
    )
    drain: DrainOut | None = Field(
        None,
        description="present only while a drain-aware scale-down is in progress (metrics.drain)",
    )


class GpusOut(ApiModel):
    used: int
    budget: int | None = Field(description="null when no global GPU budget is set")


class ForecastOut(ApiModel):
    requests: float | None = Field(description="forecast requests in the next interval")
    isl: float | None = Field(description="forecast mean input tokens per request")
    osl: float | None = Field(description="forecast mean output tokens per request")


class DecisionOut(ApiModel):
    timestamp: float = Field(description="unix seconds: start of the interval decided for")
    prefill: PoolDecisionOut
    decode: PoolDecisionOut
    gpus: GpusOut
    forecast: ForecastOut | None
    leader: bool = Field(description="false on a standby replica (it decides but never actuates)")
    partial: bool = Field(description="one pool was scaled and the other could not be")
    notes: list[str]


class HealthOut(ApiModel):
    status: Literal["ok"] = "ok"


class UnhealthyOut(ApiModel):
    status: Literal["unhealthy"] = "unhealthy"
    reason: str = Field(description="why the control loop is not alive (e.g. a hung tick)")


class ReadyOut(ApiModel):
    ready: bool
    leader: bool
    reason: str


class ErrorOut(ApiModel):
    detail: str


def drain_out(ps: PoolSnapshot) -> dict[str, DrainOut]:
    """`{"drain": ...}` while a drain is in progress, else {} (the key is left out, so the
    decision JSON of a pool without one is what it was before drains existed)."""
    d = ps.drain
    if d is None or not (d.replicas or d.blocked):
        return {}
    replicas = [
        DrainingReplicaOut(id=r.id, inFlight=r.in_flight, since=r.since) for r in d.replicas
    ]
    out = DrainOut(replicas=replicas, lowerTo=d.lower_to, timeoutS=d.timeout_s, blocked=d.blocked)
    return {"drain": out}


def pool_out(ps: PoolSnapshot) -> PoolDecisionOut:
    assert ps.desired is not None
    return PoolDecisionOut(
        **drain_out(ps),
        desiredReplicas=ps.desired,
        currentReplicas=ps.current,
        readyReplicas=ps.ready,
        wantedReplicas=ps.wanted,
        expectedLatencyMs=finite_or_none(ps.expected_latency_ms),
        targetMs=finite_or_none(ps.target_ms),
        reason=ps.reason,
        reasonCode=str(ps.reason_code),
        held=ps.held,
        binding=None if ps.binding is None else str(ps.binding),
        limit=None if ps.limit is None else str(ps.limit),
    )


def decision_out(snap: ControllerSnapshot) -> DecisionOut | None:
    """The JSON view of a snapshot; None until both pools have a desired count and a decision."""
    if snap.timestamp is None or snap.prefill.desired is None or snap.decode.desired is None:
        return None
    fc = snap.forecast
    return DecisionOut(
        timestamp=snap.timestamp,
        prefill=pool_out(snap.prefill),
        decode=pool_out(snap.decode),
        gpus=GpusOut(used=snap.gpus_used, budget=snap.gpu_budget),
        forecast=None
        if fc is None
        else ForecastOut(
            requests=finite_or_none(fc.requests),
            isl=finite_or_none(fc.isl),
            osl=finite_or_none(fc.osl),
        ),
        leader=snap.is_leader,
        partial=snap.partial,
        notes=list(snap.notes),
    )


def not_ready_reason(snap: ControllerSnapshot | None, now: float, stale_after_s: float) -> str:
    """Why the planner is not ready ("" when it is): no decision yet, stale or incomplete
    metrics."""
    if snap is None or snap.timestamp is None:
        return "no decision yet"
    if snap.last_metrics_ok_at is None:
        return "metrics source has not answered yet"
    age = now - snap.last_metrics_ok_at
    if age > stale_after_s:
        return f"metrics source last answered {age:.0f} s ago (limit {stale_after_s:.0f} s)"
    if snap.data_incomplete:
        return f"{snap.data_incomplete}; not scaling down until it is complete"
    return ""


class FleetPoolOut(PoolDecisionOut):
    role: Literal["active", "held", "idle"]
    gpuType: str
    fleetReasons: list[str]


class VariantOut(ApiModel):
    prefill: FleetPoolOut
    decode: FleetPoolOut


class DeploymentDecisionOut(ApiModel):
    deployment: str
    timestamp: float
    priority: int | str
    variant: str
    switchingFrom: str | None
    prefill: FleetPoolOut
    decode: FleetPoolOut
    variants: dict[str, VariantOut]
    gpus: dict[str, int]
    expectedAttainment: float | None
    slo: dict[str, float]
    reasons: list[str]
    reason: str
    forecast: ForecastOut | None
    leader: bool
    partial: bool
    dataIncomplete: str | None
    holdReason: str | None
    notes: list[str]


class TypeGpusOut(ApiModel):
    used: int
    budget: int


class FleetDecisionOut(ApiModel):
    timestamp: float
    deployments: dict[str, DeploymentDecisionOut]
    gpus: dict[str, TypeGpusOut]
    leader: bool


class FleetReadyOut(ApiModel):
    ready: bool
    leader: bool
    reason: str
    deployments: dict[str, str]  # deployment -> why its data cannot be trusted ("" when fine)


def _pool(fp: FleetPoolSnapshot) -> FleetPoolOut:
    base = pool_out(fp.pool).model_dump(exclude_unset=True)
    return FleetPoolOut(
        **base, role=fp.role, gpuType=fp.gpu_type, fleetReasons=list(fp.fleet_reasons)
    )


def deployment_out(d: DeploymentSnapshot, snap: FleetSnapshot) -> DeploymentDecisionOut | None:
    """None until the deployment's pools have a desired count and the fleet a decision."""
    if snap.timestamp is None or d.variant is None:
        return None
    pools = [fp.pool for ps in d.pools.values() for fp in ps.values()]
    if any(ps.desired is None for ps in pools):
        return None
    variants = {
        v: VariantOut(prefill=_pool(ps["prefill"]), decode=_pool(ps["decode"]))
        for v, ps in d.pools.items()
    }
    fc = d.forecast
    active = variants[d.variant]
    return DeploymentDecisionOut(
        deployment=d.name,
        timestamp=snap.timestamp,
        priority=d.priority,
        variant=d.variant,
        switchingFrom=d.held_variant,
        prefill=active.prefill,
        decode=active.decode,
        variants=variants,
        gpus=d.gpus(),
        expectedAttainment=finite_or_none(d.expected_attainment),
        slo=dict(d.slo),
        reasons=list(d.reasons),
        reason=d.reason,
        forecast=None
        if fc is None
        else ForecastOut(
            requests=finite_or_none(fc.requests),
            isl=finite_or_none(fc.isl),
            osl=finite_or_none(fc.osl),
        ),
        leader=snap.is_leader,
        partial=d.partial,
        dataIncomplete=d.data_incomplete,
        holdReason=d.failure,
        notes=list(d.notes),
    )


def fleet_out(snap: FleetSnapshot) -> FleetDecisionOut | None:
    """The whole fleet's decision; None before the first one."""
    if snap.timestamp is None:
        return None
    deps = {n: out for n, d in snap.deployments.items() if (out := deployment_out(d, snap))}
    return FleetDecisionOut(
        timestamp=snap.timestamp,
        deployments=deps,
        gpus={
            t: TypeGpusOut(used=snap.gpus_used.get(t, 0), budget=n)
            for t, n in snap.gpu_budget.items()
        },
        leader=snap.is_leader,
    )


def data_problems(snap: FleetSnapshot, now: float, stale_after_s: float) -> dict[str, str]:
    """Per deployment, why its demand data cannot be trusted ("" when it can)."""
    out: dict[str, str] = {}
    for name, d in snap.deployments.items():
        why = ""
        if d.last_metrics_ok_at is None:
            why = "metrics source has not answered yet"
        elif now - d.last_metrics_ok_at > stale_after_s:
            age = now - d.last_metrics_ok_at
            why = f"metrics source last answered {age:.0f} s ago (limit {stale_after_s:.0f} s)"
        elif d.data_incomplete:
            why = f"{d.data_incomplete}; not scaling down until it is complete"
        elif d.failure:
            why = d.failure
        out[name] = why
    return out
