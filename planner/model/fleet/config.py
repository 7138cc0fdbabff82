"""The fleet config: deployments with SLOs, demand, priorities, limits and variants; the cluster's
GPU pools with counts and prices (pydantic, strict: an unknown key is rejected with its path).

Profiles are referenced by bundled name or path and resolved by the caller (the dry run, or a
fleet controller): the pure core never reads files. Checks that need a profile (GPU type,
TP size, minimums within the budget) run at resolution, `sla_planner.model.fleet.resolve`.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sla_planner.model.config import Hysteresis, PoolLimits

# Deployment and variant names end up in file names, metric labels and Kubernetes names.
_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _finite(v: float | None, what: str) -> float | None:
    if v is not None and not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number, got {v}")
    return v


def _unique(names: list[str], what: str) -> None:
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(dup)}")


class FleetSLO(_Strict):
    ttft_ms: float = Field(gt=0, description="time-to-first-token target, ms")
    itl_ms: float = Field(gt=0, description="inter-token latency target, ms")
    attainment: float = Field(
        0.99, gt=0, lt=1, description="share of requests that must meet both targets"
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
        if self.start_at is not None and self.time_offset_s != 0.0:
            raise ValueError("give start_at or time_offset_s, not both")
        return self


class PrometheusDemand(_Strict):
    """Demand read from Prometheus (the server is the fleet file's `prometheus:` settings)."""

    selector: str = Field("", description='label matchers of this deployment, e.g. model="llama"')
    preset: Literal["dynamo", "vllm"] | None = Field(None, description="overrides the server's")


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


class FleetConfig(_Strict):
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

    @model_validator(mode="after")
    def _check(self) -> FleetConfig:
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
        return self

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
