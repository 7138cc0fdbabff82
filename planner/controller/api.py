"""The planner's HTTP API (FastAPI): /metrics, /healthz, /readyz, /api/v1/decision, /openapi.json.

`/api/v1/decision` is shaped for KEDA's metrics-api scaler: a JSON object whose
`prefill.desiredReplicas` / `decode.desiredReplicas` are plain JSON numbers, addressed with
the GJSON path in the trigger's `valueLocation`. With `metricType: AverageValue` and
`targetValue: "1"`, KEDA/HPA then run exactly that many replicas.
"""

from __future__ import annotations

import errno
import math
import socket
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sla_planner.controller.clock import Clock
from sla_planner.controller.exporter import CONTENT_TYPE_LATEST, PlannerMetrics
from sla_planner.controller.snapshot import ControllerSnapshot, PoolSnapshot
from sla_planner.errors import SlaPlannerError


class MetricsLike(Protocol):
    """What /metrics needs of an exporter (PlannerMetrics, or the fleet's)."""

    def set_leader(self, leader: bool) -> None: ...

    def render(self) -> bytes: ...


def finite_or_none(x: float | None) -> float | None:
    """JSON has no Infinity/NaN: an overloaded (inf) or unknown (NaN) value becomes null."""
    return x if x is not None and math.isfinite(x) else None


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


def pool_out(ps: PoolSnapshot) -> PoolDecisionOut:
    assert ps.desired is not None
    return PoolDecisionOut(
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


def base_app(
    *,
    metrics: MetricsLike,
    is_leader: Callable[[], bool],
    health: Callable[[], str] | None = None,
    description: str = "SLA-driven autoscaling planner for disaggregated LLM inference.",
) -> FastAPI:
    """The routes every mode serves: /metrics and /healthz (`health()` says why the control
    loop is not alive, "" when it is)."""
    app = FastAPI(title="sla-planner", version="0.1.0", description=description)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics (text exposition format)",
    )
    def get_metrics() -> Response:
        metrics.set_leader(is_leader())
        return Response(content=metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/healthz",
        response_model=HealthOut,
        responses={503: {"model": UnhealthyOut}},
        summary="Liveness: the control loop completes ticks (a hung loop fails it)",
    )
    def healthz() -> HealthOut | JSONResponse:
        problem = health() if health is not None else ""
        if problem:
            return JSONResponse(status_code=503, content=UnhealthyOut(reason=problem).model_dump())
        return HealthOut()

    return app


def create_app(
    *,
    snapshot: Callable[[], ControllerSnapshot | None],
    metrics: PlannerMetrics,
    clock: Clock,
    is_leader: Callable[[], bool],
    stale_after_s: float,
    health: Callable[[], str] | None = None,
) -> FastAPI:
    """The API over a running controller. `stale_after_s`: /readyz fails when the last
    successful metrics read is older than this (e.g. Prometheus down for 3 intervals).
    `health()` says why the control loop is not alive ("" when it is): /healthz fails then."""
    app = base_app(metrics=metrics, is_leader=is_leader, health=health)

    @app.get(
        "/readyz",
        response_model=ReadyOut,
        responses={503: {"model": ReadyOut}},
        summary="Readiness: a decision exists and the metrics source answered recently",
    )
    def readyz() -> ReadyOut | JSONResponse:
        leader = is_leader()
        reason = not_ready_reason(snapshot(), clock.now(), stale_after_s)
        if reason:
            body = ReadyOut(ready=False, leader=leader, reason=reason)
            return JSONResponse(status_code=503, content=body.model_dump())
        return ReadyOut(ready=True, leader=leader, reason="ok")

    @app.get(
        "/api/v1/decision",
        response_model=DecisionOut,
        responses={503: {"model": ErrorOut, "description": "no decision yet"}},
        summary="Current decision (KEDA metrics-api: valueLocation prefill.desiredReplicas)",
    )
    def decision() -> DecisionOut | JSONResponse:
        snap = snapshot()
        out = decision_out(snap) if snap is not None else None
        if out is None:
            why = "no decision yet: the planner has not completed a tick with cluster state"
            return JSONResponse(status_code=503, content={"detail": why})
        return out

    return app


class ApiServerError(SlaPlannerError):
    """The HTTP API cannot be served (e.g. its port is taken); the message names the fix."""


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is one clear error, not uvicorn's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ApiServerError(
            f"cannot serve the HTTP API on {host}:{port}: {why}; set server.port in the run "
            "config to a free port (0 picks one), or stop the process that holds it"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class ApiServer:
    """uvicorn in a background thread (the control loop owns the main thread and signals)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 8080) -> None:
        self._server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        )
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.host = host

    @property
    def port(self) -> int:
        servers = getattr(self._server, "servers", None) or []
        for srv in servers:
            for sock in srv.sockets:
                return int(sock.getsockname()[1])
        return int(self._server.config.port)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> ApiServer:
        """Serve in a background thread. Raises ApiServerError when the port is taken."""
        self._socket = _bind(self.host, int(self._server.config.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise ApiServerError(
                    f"the HTTP API could not start on {self.host}:{self._server.config.port}; "
                    "run with --debug and check the log above"
                )
            if time.monotonic() > deadline:
                raise ApiServerError(f"the HTTP API did not start within {timeout_s:.0f} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
