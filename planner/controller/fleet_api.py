"""The fleet controller's HTTP API: /metrics and /healthz as for one deployment, and the
decisions per deployment.

- `/api/v1/deployments/{name}/decision` (or `/api/v1/decision?deployment=NAME`): one
  deployment, shaped for KEDA's metrics-api scaler like the single decision: `prefill` and
  `decode` are the pools of the variant it runs, and `variants.<variant>.<pool>` every
  variant's (a variant not in use asks for 0), so a ScaledObject per target reads
  `valueLocation: variants.h200.prefill.desiredReplicas`.
- `/api/v1/decision`: the whole fleet (every deployment, GPUs used and budget per type).
- `/readyz`: 503 until the first fleet decision, or while no deployment's demand data can be
  trusted; one deployment's stale or incomplete data is named in the body but does not take
  the others' numbers away from KEDA.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse

from sla_planner.controller.api import (
    ApiModel,
    ErrorOut,
    ForecastOut,
    MetricsLike,
    PoolDecisionOut,
    base_app,
    finite_or_none,
    pool_out,
)
from sla_planner.controller.clock import Clock
from sla_planner.controller.fleet_snapshot import (
    DeploymentSnapshot,
    FleetPoolSnapshot,
    FleetSnapshot,
)


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
    base = pool_out(fp.pool).model_dump()
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


def create_fleet_app(
    *,
    snapshot: Callable[[], FleetSnapshot | None],
    metrics: MetricsLike,
    clock: Clock,
    is_leader: Callable[[], bool],
    stale_after_s: float,
    health: Callable[[], str] | None = None,
) -> FastAPI:
    """The API over a running fleet controller; see the module docstring. (Long: one short
    closure per route, all over the same injected state.)"""
    app = base_app(metrics=metrics, is_leader=is_leader, health=health)
    no_decision = {"detail": "no decision yet: the planner has not completed a tick with cluster state"}  # fmt: skip

    @app.get(
        "/readyz",
        response_model=FleetReadyOut,
        responses={503: {"model": FleetReadyOut}},
        summary="Readiness: a fleet decision exists and some deployment's data can be trusted",
    )
    def readyz() -> FleetReadyOut | JSONResponse:
        snap, leader = snapshot(), is_leader()
        if snap is None or snap.timestamp is None:
            body = FleetReadyOut(ready=False, leader=leader, reason="no decision yet", deployments={})  # fmt: skip
            return JSONResponse(status_code=503, content=body.model_dump())
        problems = data_problems(snap, clock.now(), stale_after_s)
        bad = {n: why for n, why in problems.items() if why}
        if problems and len(bad) == len(problems):
            body = FleetReadyOut(ready=False, leader=leader, reason="no deployment's demand data can be trusted", deployments=problems)  # fmt: skip
            return JSONResponse(status_code=503, content=body.model_dump())
        reason = "ok" if not bad else f"ok; held for their data: {', '.join(sorted(bad))}"
        return FleetReadyOut(ready=True, leader=leader, reason=reason, deployments=problems)

    def one(name: str) -> DeploymentDecisionOut | JSONResponse:
        snap = snapshot()
        if snap is None or snap.timestamp is None:
            return JSONResponse(status_code=503, content=no_decision)
        d = snap.deployments.get(name)
        if d is None:
            known = ", ".join(snap.deployments)
            why = f"no deployment {name!r} in the fleet; known: {known}"
            return JSONResponse(status_code=404, content={"detail": why})
        out = deployment_out(d, snap)
        if out is None:
            return JSONResponse(status_code=503, content=no_decision)
        return out

    errors: Mapping[int | str, dict] = {
        404: {"model": ErrorOut, "description": "no such deployment"},
        503: {"model": ErrorOut, "description": "no decision yet"},
    }

    @app.get(
        "/api/v1/deployments/{name}/decision",
        response_model=DeploymentDecisionOut,
        responses=dict(errors),
        summary="One deployment's decision (KEDA metrics-api: valueLocation "
        "variants.<variant>.prefill.desiredReplicas)",
    )
    def deployment_decision(name: str) -> DeploymentDecisionOut | JSONResponse:
        return one(name)

    @app.get(
        "/api/v1/decision",
        response_model=FleetDecisionOut | DeploymentDecisionOut,
        responses=dict(errors),
        summary="The fleet's decision; with ?deployment=NAME, that deployment's",
    )
    def decision(
        deployment: str | None = Query(None, description="one deployment's decision"),
    ) -> FleetDecisionOut | DeploymentDecisionOut | JSONResponse:
        if deployment is not None:
            return one(deployment)
        snap = snapshot()
        out = fleet_out(snap) if snap is not None else None
        if out is None:
            return JSONResponse(status_code=503, content=no_decision)
        return out

    return app
