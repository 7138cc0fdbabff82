"""The planner's HTTP API (FastAPI): /metrics, /healthz, /readyz, /api/v1/decision,
/api/v1/deployments/NAME/decision, /openapi.json (bodies: `api_models`).

`/api/v1/decision` is shaped for KEDA's metrics-api scaler: a JSON object whose
`prefill.desiredReplicas` / `decode.desiredReplicas` are plain JSON numbers, addressed with
the GJSON path in the trigger's `valueLocation`. With `metricType: AverageValue` and
`targetValue: "1"`, KEDA/HPA then run exactly that many replicas.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import uvicorn
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse, Response

from sla_planner.controller.api_models import (
    DecisionOut,
    DeploymentDecisionOut,
    ErrorOut,
    FleetDecisionOut,
    FleetReadyOut,
    HealthOut,
    ReadyOut,
    UnhealthyOut,
    data_problems,
    decision_out,
    deployment_out,
    fleet_out,
    not_ready_reason,
)
from sla_planner.controller.clock import Clock
from sla_planner.controller.exporter import CONTENT_TYPE_LATEST
from sla_planner.controller.snapshot import FleetSnapshot
from sla_planner.errors import SlaPlannerError


class MetricsLike(Protocol):
    """What /metrics needs of an exporter (PlannerMetrics, or the fleet's)."""

    def set_leader(self, leader: bool) -> None: ...

    def render(self) -> bytes: ...


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
    snapshot: Callable[[], FleetSnapshot | None],
    metrics: MetricsLike,
    clock: Clock,
    is_leader: Callable[[], bool],
    stale_after_s: float,
    health: Callable[[], str] | None = None,
    single: bool = True,
) -> FastAPI:
    """The API over a running controller. `stale_after_s`: /readyz fails when the last
    successful metrics read is older than this (e.g. Prometheus down for 3 intervals).
    `health()` says why the control loop is not alive ("" when it is): /healthz fails then.
    `single`: a single deployment's planner (a run config): /api/v1/decision and /readyz keep
    the single-deployment shapes; else the fleet's (every deployment's decision; ready while
    some deployment's demand data can be trusted, naming the others)."""
    app = base_app(metrics=metrics, is_leader=is_leader, health=health)
    no_decision = {"detail": "no decision yet: the planner has not completed a tick with cluster state"}  # fmt: skip
    errors: Mapping[int | str, dict] = {
        404: {"model": ErrorOut, "description": "no such deployment"},
        503: {"model": ErrorOut, "description": "no decision yet"},
    }

    ready_model = ReadyOut if single else FleetReadyOut
    decision_model = DecisionOut if single else FleetDecisionOut | DeploymentDecisionOut

    @app.get(
        "/readyz",
        response_model=ready_model,
        responses={503: {"model": ready_model}},
        summary="Readiness: a decision exists and the demand data can be trusted",
    )
    def readyz() -> ReadyOut | FleetReadyOut | JSONResponse:
        snap, leader, now = snapshot(), is_leader(), clock.now()
        body = single_ready(snap, leader, now, stale_after_s) if single else fleet_ready(snap, leader, now, stale_after_s)  # fmt: skip
        return body if body.ready else JSONResponse(status_code=503, content=body.model_dump())

    def one(name: str) -> DeploymentDecisionOut | JSONResponse:
        snap = snapshot()
        if snap is None or snap.timestamp is None:
            return JSONResponse(status_code=503, content=no_decision)
        d = snap.deployments.get(name)
        if d is None:
            known = ", ".join(snap.deployments)
            why = f"no deployment {name!r}; known: {known}"
            return JSONResponse(status_code=404, content={"detail": why})
        out = deployment_out(d, snap)
        return out if out is not None else JSONResponse(status_code=503, content=no_decision)

    @app.get(
        "/api/v1/deployments/{name}/decision",
        response_model=DeploymentDecisionOut,
        response_model_exclude_unset=True,  # `drain` only while one is in progress
        responses=dict(errors),
        summary="One deployment's decision (KEDA metrics-api: valueLocation "
        "variants.<variant>.prefill.desiredReplicas)",
    )
    def deployment_decision(name: str) -> DeploymentDecisionOut | JSONResponse:
        return one(name)

    @app.get(
        "/api/v1/decision",
        response_model=decision_model,
        response_model_exclude_unset=True,  # `drain` only while one is in progress
        responses=dict(errors),
        summary="The decision (KEDA metrics-api: valueLocation prefill.desiredReplicas); a "
        "fleet's: every deployment's, or with ?deployment=NAME that deployment's",
    )
    def decision(
        deployment: str | None = Query(None, description="one deployment's decision"),
    ) -> DecisionOut | FleetDecisionOut | DeploymentDecisionOut | JSONResponse:
        if deployment is not None:
            return one(deployment)
        snap = snapshot()
        out: DecisionOut | FleetDecisionOut | None = None
        if snap is not None:
            out = decision_out(snap.single()) if single else fleet_out(snap)
        return out if out is not None else JSONResponse(status_code=503, content=no_decision)

    return app


def single_ready(
    snap: FleetSnapshot | None, leader: bool, now: float, stale_after_s: float
) -> ReadyOut:
    reason = not_ready_reason(snap.single() if snap is not None else None, now, stale_after_s)
    return ReadyOut(ready=not reason, leader=leader, reason=reason or "ok")


def fleet_ready(
    snap: FleetSnapshot | None, leader: bool, now: float, stale_after_s: float
) -> FleetReadyOut:
    if snap is None or snap.timestamp is None:
        return FleetReadyOut(ready=False, leader=leader, reason="no decision yet", deployments={})
    problems = data_problems(snap, now, stale_after_s)
    bad = {n: why for n, why in problems.items() if why}
    if problems and len(bad) == len(problems):
        why = "no deployment's demand data can be trusted"
        return FleetReadyOut(ready=False, leader=leader, reason=why, deployments=problems)
    reason = "ok" if not bad else f"ok; held for their data: {', '.join(sorted(bad))}"
    return FleetReadyOut(ready=True, leader=leader, reason=reason, deployments=problems)


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
