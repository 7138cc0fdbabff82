"""The planner's two files, validated with pydantic (strict: an unknown key is rejected with its
path, every number finite):

- the run config (`RunConfig`): one deployment, `sla-planner run --config FILE`;
- the fleet file (`FleetFile`): many deployments and GPU types under one budget, for
  `sla-planner fleet dry-run` (demand from traces or Prometheus) and `sla-planner run`
  (demand from Prometheus, `targets` per variant).

A run config is shorthand for a fleet of one (`sla_planner.config.resolve`). Profiles are
referenced by bundled name or path and loaded there; checks that need a profile (GPU type, TP
size, minimums within the budget) run there too.

planner: {slo: {ttft_ms: 200, itl_ms: 25}, interval_s: 60, startup_s: 120,
          budget: {max_gpus: 16}, prefill: {min_replicas: 1}, decode: {min_replicas: 1}}
profile: dynamo-h200-llama3.1-8b-fp8-tp1          # bundled name or path
metrics: {prometheus: {url: "http://prometheus:9090", preset: dynamo, selector: 'model="llama"'}}
targets:
  prefill: {kind: PodCliqueScalingGroup, namespace: llm, name: llama-0-prefill}
  decode:  {kind: PodCliqueScalingGroup, namespace: llm, name: llama-0-decode}
"""

from __future__ import annotations

import math
import os
import socket
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sla_planner.actuators.config import TargetConfig
from sla_planner.config.drain import DrainConfig
from sla_planner.model.config import (
    Budget,
    ErrorBudgetSettings,
    Hysteresis,
    PlannerConfig,
    PoolLimits,
    ReactiveSettings,
    check_time,
)
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_queues import QueueConfig

DEFAULT_PROFILE = "dynamo-h200-llama3.1-8b-fp8-tp1"
# Deployment and variant names end up in file names, metric labels and Kubernetes names.
_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsConfig(_Strict):
    prometheus: PrometheusConfig
    # Where the reactive path reads the engines' queues (planner.reactive); unset: it is off.
    queues: QueueConfig | None = None
    # The engines' in-flight gauges per pod: set, a scale-down drains first (config.drain).
    drain: DrainConfig | None = None


class TargetsConfig(_Strict):
    prefill: TargetConfig
    decode: TargetConfig

    @model_validator(mode="after")
    def _distinct(self) -> TargetsConfig:
        # Two pools writing one object would flap it between their two sizes every tick.
        obj = self.prefill.written_object()
        if obj is not None and obj == self.decode.written_object():
            kind, ns, name = obj
            raise ValueError(
                f"prefill and decode both scale the same object, {kind} {ns}/{name}; each pool "
                "needs its own (for one aggregated pool, make the other kind: MetricsOnly)"
            )
        return self


class LeaderElectionConfig(_Strict):
    enabled: bool = False
    namespace: str | None = Field(
        None, description="namespace of the Lease; default $POD_NAMESPACE, else 'default'"
    )
    lease_name: str = "sla-planner"
    identity: str | None = Field(None, description="default $POD_NAME, else the hostname")
    lease_duration_s: float = Field(15.0, gt=0, allow_inf_nan=False)
    renew_deadline_s: float = Field(10.0, gt=0, allow_inf_nan=False)
    retry_period_s: float = Field(2.0, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _order(self) -> LeaderElectionConfig:
        if not (self.retry_period_s < self.renew_deadline_s < self.lease_duration_s):
            raise ValueError(
                "need retry_period_s < renew_deadline_s < lease_duration_s (got "
                f"{self.retry_period_s}, {self.renew_deadline_s}, {self.lease_duration_s}); "
                "the defaults 2 < 10 < 15 are safe"
            )
        return self

    def resolved_namespace(self) -> str:
        return self.namespace or os.environ.get("POD_NAMESPACE") or "default"

    def resolved_identity(self) -> str:
        return self.identity or os.environ.get("POD_NAME") or socket.gethostname()


class ServerConfig(_Strict):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port")


class LoopConfig(_Strict):
    prefill_interval_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="prefill loop interval; default planner.interval_s",
    )
    decode_interval_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="decode loop interval; default planner.interval_s",
    )
    retry_interval_s: float = Field(
        10.0, gt=0, allow_inf_nan=False, description="how soon a held pool is retried"
    )
    startup_grace_s: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="wait this long for a scale-up to become ready before stacking another; default planner.startup_s",
    )
    latency_correction: bool = Field(
        True,
        description="scale the profile by observed/expected latency when the metrics have it",
    )
    backfill_intervals: int = Field(60, ge=1, description="history read on start")
    ready_stale_intervals: float = Field(
        3.0,
        gt=0,
        allow_inf_nan=False,
        description="/readyz fails when metrics are older than this many intervals",
    )
    tick_deadline_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="wall-clock limit of a tick's planning (fetch, forecast, size); past it "
        "the pools hold. Default: the shortest pool interval",
    )
    liveness_stale_intervals: float = Field(
        3.0,
        gt=0,
        allow_inf_nan=False,
        description="/healthz fails, and a leader gives up its Lease, when no tick has "
        "completed for this many (shortest) intervals",
    )
    max_step_factor: float | None = Field(
        100.0,
        gt=1,
        allow_inf_nan=False,
        description="a decision growing a pool beyond this factor in one step is refused as "
        "absurd (growth by up to 8 replicas always passes); null disables the check",
    )


class RunConfig(_Strict):
    planner: PlannerConfig = PlannerConfig()
    profile: str = DEFAULT_PROFILE
    decode_profile: str | None = Field(
        None,
        description="engine profile of the decode pool (bundled name or path), e.g. another "
        "TP size; default: profile",
    )
    metrics: MetricsConfig
    targets: TargetsConfig
    leader_election: LeaderElectionConfig = LeaderElectionConfig()
    server: ServerConfig = ServerConfig()
    loop: LoopConfig = LoopConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def _finite(v: float | None, what: str) -> float | None:
    if v is not None and not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number, got {v}")
    return v


def _unique(names: list[str], what: str) -> None:
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(dup)}")


class FleetSLO(_Strict):
    # The bounds of model.config.SLO, which each deployment's planner is built with: checked
    # here so the file's error names the field (an attainment below 0.5 ended in 'internal
    # error' from the error budget).
    ttft_ms: float = Field(gt=0, le=600_000, description="time-to-first-token target, ms")
    itl_ms: float = Field(gt=0, le=60_000, description="inter-token latency target, ms")
    attainment: float = Field(
        0.99, ge=0.5, lt=1, description="share of requests that must meet both targets"
    )

    @field_validator("ttft_ms", "itl_ms")
    @classmethod
    def _fin(cls, v: float) -> float:
        return float(_finite(v, "a latency target") or v)


class TraceDemand(_Strict):
    """Demand replayed from a trace file (dry runs)."""

    path: str = Field(description="trace file (Azure CSV, Mooncake JSONL, aggregate or count CSV)")
    tokens_from: str | None = Field(None, description="per-request trace for a count-only trace")
    rate_scale: float = Field(1.0, gt=0, description="multiplies the request counts")
    time_offset_s: float = Field(0.0, description="seconds added to the trace's timestamps")
    start_at: float | None = Field(
        None, description="shift the trace so it starts at this unix time (instead of an offset)"
    )
    duration_s: float | None = Field(
        None, gt=0, description="keep only this many seconds from the trace's start"
    )
    seed: int = Field(0, description="token draws for count-only traces")

    @model_validator(mode="after")
    def _check(self) -> TraceDemand:
        for name in ("rate_scale", "time_offset_s", "start_at", "duration_s"):
            _finite(getattr(self, name), name)
        if self.start_at is not None:
            check_time(self.start_at, "start_at")
        if self.start_at is not None and self.time_offset_s != 0.0:
            raise ValueError("give start_at or time_offset_s, not both")
        return self


class PrometheusDemand(_Strict):
    """Demand read from Prometheus (the server is the fleet file's `prometheus:` settings)."""

    selector: str = Field("", description='label matchers of this deployment, e.g. model="llama"')
    preset: Literal["dynamo", "vllm"] | None = Field(None, description="overrides the server's")
    # Where the reactive path reads this deployment's engine queues (`sla-planner run`).
    queues: QueueConfig | None = None
    # Its engines' in-flight gauges: set, its scale-downs drain first (`sla-planner run`).
    drain: DrainConfig | None = None


class DemandSource(_Strict):
    trace: TraceDemand | None = None
    prometheus: PrometheusDemand | None = None

    @model_validator(mode="after")
    def _one(self) -> DemandSource:
        if (self.trace is None) == (self.prometheus is None):
            raise ValueError("give exactly one demand source: trace or prometheus")
        return self


class PoolProfile(_Strict):
    """The engine one pool of a variant runs: its profile gives GPU type, TP size, backend."""

    profile: str = Field(min_length=1, description="bundled profile name or a profile path")
    gpu_type: str | None = Field(
        None, min_length=1, description="cluster GPU pool to use; default: the profile's `gpu`"
    )


class Variant(_Strict):
    """One way to serve a deployment: an engine profile per pool (GPU types may differ)."""

    name: str = Field(pattern=_NAME)
    prefill: PoolProfile
    decode: PoolProfile
    # The objects this variant's pools scale (`sla-planner run`; a dry run needs none).
    targets: TargetsConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        # `profile: NAME` serves both pools with one engine config.
        if isinstance(data, dict) and "profile" in data:
            data = dict(data)
            ref = data.pop("profile")
            gpu = data.pop("gpu_type", None)
            pool = {"profile": ref} if gpu is None else {"profile": ref, "gpu_type": gpu}
            for key in ("prefill", "decode"):
                if key in data:
                    raise ValueError(f"give `profile` (both pools) or `{key}`, not both")
                data[key] = pool
        return data


class Deployment(_Strict):
    name: str = Field(pattern=_NAME, description="DNS-label style: lower case, digits, '-'")
    slo: FleetSLO
    demand: DemandSource
    priority: int | str = Field(
        0, description="an integer (higher first) or a name from priority_classes"
    )
    prefill: PoolLimits = PoolLimits()
    decode: PoolLimits = PoolLimits()
    variants: list[Variant] = Field(min_length=1)
    idle_window_s: float | None = Field(
        None, gt=0, description="scale-to-zero idle window; default: scale_to_zero.idle_window_s"
    )
    forecaster: str | None = Field(None, description="default: the fleet's forecaster")
    # As a run config's planner: the deployment's own GPU cap across both pools and its
    # prefill:decode ratio bounds; the error-budget controller; the reactive fast path.
    budget: Budget = Budget()
    error_budget: ErrorBudgetSettings = ErrorBudgetSettings()
    reactive: ReactiveSettings = ReactiveSettings()

    @model_validator(mode="after")
    def _check(self) -> Deployment:
        _unique([v.name for v in self.variants], "variant names")
        _finite(self.idle_window_s, "idle_window_s")
        return self


class GpuPool(_Strict):
    count: int = Field(ge=0, description="GPUs of this type the fleet may use")
    price_per_gpu_hour: float = Field(gt=0, description="cost of one GPU for one hour")

    @field_validator("price_per_gpu_hour")
    @classmethod
    def _fin(cls, v: float) -> float:
        return float(_finite(v, "price_per_gpu_hour") or v)


class Cluster(_Strict):
    gpus: dict[str, GpuPool] = Field(min_length=1, description="GPU pools by type, e.g. H200")


class ScaleToZero(_Strict):
    idle_window_s: float = Field(
        900.0, gt=0, description="no requests for this long: a min-0 deployment releases its GPUs"
    )


class Replay(_Strict):
    """The time range to replay (unix seconds); default: the union of the traces."""

    start: float | None = Field(None, description="unix seconds; required with Prometheus")
    end: float | None = None

    @model_validator(mode="after")
    def _order(self) -> Replay:
        for name in ("start", "end"):
            t = getattr(self, name)
            if t is not None:
                check_time(t, f"replay.{name}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"replay.end ({self.end}) is not after replay.start ({self.start})")
        return self


class FleetFile(_Strict):
    """The fleet file: deployments, the cluster's GPU pools, priorities, the Prometheus server
    their demand comes from, and the controller's settings."""

    cluster: Cluster
    deployments: list[Deployment] = Field(min_length=1)
    priority_classes: list[str] | None = Field(
        None, description="named priority classes, highest first"
    )
    interval_s: float = Field(60.0, gt=0, le=86400)
    startup_s: float = Field(120.0, ge=0, le=86400)
    scale_down_window_s: float = Field(300.0, ge=0, le=86400)
    forecaster: str = "default"
    hysteresis: Hysteresis = Hysteresis()
    scale_to_zero: ScaleToZero = ScaleToZero()
    prometheus: PrometheusConfig | None = Field(
        None, description="the server deployments with `demand.prometheus` read from"
    )
    replay: Replay = Replay()  # the dry run's time range
    leader_election: LeaderElectionConfig = LeaderElectionConfig()
    server: ServerConfig = ServerConfig()
    loop: LoopConfig = LoopConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _check(self) -> FleetFile:
        _unique([d.name for d in self.deployments], "deployment names")
        classes = self.priority_classes
        if classes is not None:
            _unique(classes, "priority_classes")
        kinds = {type(d.priority) for d in self.deployments}
        if len(kinds) > 1:
            raise ValueError(
                "priorities mix integers and class names; use one kind for every deployment"
            )
        for d in self.deployments:
            if isinstance(d.priority, str) and (classes is None or d.priority not in classes):
                known = ", ".join(classes) if classes else "none defined"
                raise ValueError(
                    f"deployment {d.name!r}: priority {d.priority!r} is not a priority class "
                    f"(priority_classes: {known})"
                )
            for v in d.variants:
                for pool in (v.prefill, v.decode):
                    if pool.gpu_type is not None and pool.gpu_type not in self.cluster.gpus:
                        raise ValueError(
                            f"deployment {d.name!r} variant {v.name!r}: gpu_type "
                            f"{pool.gpu_type!r} is not a cluster GPU pool "
                            f"({', '.join(self.cluster.gpus)})"
                        )
        users = self.prometheus_users()
        if users and self.prometheus is None:
            raise ValueError(
                f"deployments {', '.join(users)} read demand from Prometheus: add a "
                "`prometheus:` section (url, preset, ...)"
            )
        return self

    def prometheus_users(self) -> list[str]:
        return [d.name for d in self.deployments if d.demand.prometheus is not None]

    def for_run(self) -> list[str]:
        """What stops `sla-planner run` from running this file (empty: nothing): demand from
        Prometheus and targets for every variant, each pool's object its own (a variant switch
        runs the old and the new side by side, so two pools on one object would fight)."""
        problems: list[str] = []
        seen: dict[tuple[str, str, str], str] = {}
        for d in self.deployments:
            if d.demand.prometheus is None:
                problems.append(
                    f"deployments.{d.name}.demand: sla-planner run reads demand from Prometheus; "
                    "give demand: {prometheus: {selector: ...}} (trace files are for `fleet "
                    "dry-run`)"
                )
            for v in d.variants:
                where = f"deployments.{d.name}.variants.{v.name}.targets"
                if v.targets is None:
                    problems.append(f"{where}: required key is missing (the objects to scale)")
                    continue
                for pool in ("prefill", "decode"):
                    obj = getattr(v.targets, pool).written_object()
                    if obj is None:
                        continue
                    if obj in seen:
                        kind, ns, name = obj
                        problems.append(
                            f"{kind} {ns}/{name} is scaled by two pools ({seen[obj]} and "
                            f"{where}.{pool}); give each pool of each variant its own object (a "
                            "variant switch runs both side by side)"
                        )
                    seen[obj] = f"{where}.{pool}"
        return problems

    def rank(self, deployment: Deployment) -> int:
        """Priority rank: 0 is served first; equal ranks share a class."""
        p = deployment.priority
        if isinstance(p, str):
            assert self.priority_classes is not None
            return self.priority_classes.index(p)
        values = sorted({int(d.priority) for d in self.deployments}, reverse=True)
        return values.index(int(p))

    def idle_window(self, deployment: Deployment) -> float:
        return (
            deployment.idle_window_s
            if deployment.idle_window_s is not None
            else self.scale_to_zero.idle_window_s
        )
