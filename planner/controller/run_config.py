"""The YAML file of `sla-planner run --config FILE`, validated with pydantic (unknown keys rejected).

planner: {sla: {ttft_ms: 200, itl_ms: 25}, interval_s: 60, startup_s: 120,
          budget: {max_gpus: 16}, prefill: {min_replicas: 1}, decode: {min_replicas: 1}}
profile: dynamo-h200-llama3.1-8b-fp8-tp1          # bundled name or path
# decode_profile: /etc/sla-planner/profiles/decode-tp2.yaml  # decode pool's own engine config
metrics: {prometheus: {url: "http://prometheus:9090", preset: dynamo, selector: 'model="llama"'}}
targets:
  prefill: {kind: PodCliqueScalingGroup, namespace: llm, name: llama-0-prefill}
  decode:  {kind: PodCliqueScalingGroup, namespace: llm, name: llama-0-decode}
leader_election: {enabled: true, namespace: llm, lease_name: sla-planner}
server: {host: 0.0.0.0, port: 8080}
loop: {prefill_interval_s: 30, decode_interval_s: 60}   # optional per-pool intervals
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sla_planner.actuators.config import TargetConfig
from sla_planner.controller.strict_yaml import DuplicateKeyError, load_strict
from sla_planner.errors import SlaPlannerError
from sla_planner.model.config import PlannerConfig
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_queues import QueueConfig

DEFAULT_PROFILE = "dynamo-h200-llama3.1-8b-fp8-tp1"


class RunConfigError(SlaPlannerError, ValueError):
    """The run config cannot be used; the message names the file, the field and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsConfig(_Strict):
    prometheus: PrometheusConfig
    # Where the reactive path reads the engines' queues (planner.reactive); unset: it is off.
    queues: QueueConfig | None = None


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
    lease_duration_s: float = Field(15.0, gt=0)
    renew_deadline_s: float = Field(10.0, gt=0)
    retry_period_s: float = Field(2.0, gt=0)

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
        None, gt=0, description="prefill loop interval; default planner.interval_s"
    )
    decode_interval_s: float | None = Field(
        None, gt=0, description="decode loop interval; default planner.interval_s"
    )
    retry_interval_s: float = Field(10.0, gt=0, description="how soon a held pool is retried")
    startup_grace_s: float | None = Field(
        None,
        ge=0,
        description="wait this long for a scale-up to become ready before stacking another; default planner.startup_s",
    )
    latency_correction: bool = Field(
        True,
        description="scale the profile by observed/expected latency when the metrics have it",
    )
    backfill_intervals: int = Field(60, ge=1, description="history read on start")
    ready_stale_intervals: float = Field(
        3.0, gt=0, description="/readyz fails when metrics are older than this many intervals"
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


def _format(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e.get("loc", ())) or "(top level)"
        msg = e.get("msg", "")
        if e.get("type") == "extra_forbidden":
            msg = "unknown key (check the spelling; see the example in the README)"
        elif e.get("type") == "missing":
            msg = "required key is missing"
        got = e.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
        parts.append(f"{loc}: {msg}{shown}")
    return "; ".join(parts)


def parse_run_config(data: object, source: str = "run config") -> RunConfig:
    if not isinstance(data, dict):
        raise RunConfigError(
            f"{source}: expected a mapping with keys planner, profile, metrics, targets, ...; "
            f"got {type(data).__name__}"
        )
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise RunConfigError(f"{source}: invalid config: {_format(err)}") from None


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunConfigError(f"config file {p} does not exist; pass --config PATH") from None
    except OSError as exc:
        raise RunConfigError(f"config file {p} cannot be read: {exc.strerror or exc}") from None
    try:
        data = load_strict(text)
    except DuplicateKeyError as exc:
        raise RunConfigError(f"config file {p}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RunConfigError(f"config file {p} is not valid YAML{where}: {problem}") from None
    return parse_run_config(data, source=str(p))
