"""The fleet file of `sla-planner run --config FILE`: the fleet config (`FleetFileBase`: cluster,
deployments, priorities, variants, the Prometheus server), plus, per variant, the objects its
two pools scale, and the controller's settings (leader election, server, loop).

cluster: {gpus: {H200: {count: 6, price_per_gpu_hour: 3.5}, H100: {count: 4, ...}}}
priority_classes: [critical, batch]
prometheus: {url: "http://prometheus:9090", preset: dynamo}
deployments:
  - name: chat
    priority: critical
    slo: {ttft_ms: 200, itl_ms: 25, attainment: 0.99}
    demand: {prometheus: {selector: 'model="chat"'}}
    variants:
      - name: h200
        profile: dynamo-h200-llama3.1-8b-fp8-tp1
        targets:
          prefill: {kind: PodCliqueScalingGroup, namespace: llm, podCliqueSet: chat, group: prefill}
          decode:  {kind: PodCliqueScalingGroup, namespace: llm, podCliqueSet: chat, group: decode}
leader_election: {enabled: true, namespace: llm}
server: {port: 8080}
loop: {retry_interval_s: 10}

Every variant's pool scales its own object: a variant switch runs the old and the new side by
side (make-before-break), so two pools sharing one object would fight over its size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, field_validator, model_validator

from sla_planner.controller.run_config import (
    LeaderElectionConfig,
    LoopConfig,
    ServerConfig,
    TargetsConfig,
)
from sla_planner.controller.strict_yaml import load_strict
from sla_planner.model.fleet.config import DemandSource, Deployment, Variant
from sla_planner.sources.fleet_file import FleetFileBase, LoadedFleet, load_fleet_file

# Loop settings of the single-deployment controller that a fleet does not use: every
# deployment is planned together on the fleet's interval_s, and latency correction is per
# engine config (not yet learnt per variant).
_SINGLE_ONLY = {
    "prefill_interval_s": "a fleet runs every deployment on interval_s",
    "decode_interval_s": "a fleet runs every deployment on interval_s",
    "latency_correction": "not applied in fleet mode yet",
}


class RunVariant(Variant):
    targets: TargetsConfig = Field(description="the objects this variant's pools scale")


class RunDeployment(Deployment):
    variants: list[RunVariant] = Field(min_length=1)  # type: ignore[assignment]

    @field_validator("demand")
    @classmethod
    def _live_demand(cls, demand: DemandSource) -> DemandSource:
        if demand.prometheus is None:
            raise ValueError(
                "sla-planner run reads demand from Prometheus; give demand: "
                "{prometheus: {selector: ...}} (trace files are for `fleet dry-run`)"
            )
        return demand


class FleetRunConfig(FleetFileBase):
    deployments: list[RunDeployment] = Field(min_length=1)  # type: ignore[assignment]
    leader_election: LeaderElectionConfig = LeaderElectionConfig()
    server: ServerConfig = ServerConfig()
    loop: LoopConfig = LoopConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _run_checks(self) -> FleetRunConfig:
        for key in sorted(self.loop.model_fields_set & set(_SINGLE_ONLY)):
            raise ValueError(f"loop.{key}: {_SINGLE_ONLY[key]}; remove it")
        seen: dict[tuple[str, str, str], str] = {}
        for d in self.deployments:
            for v in d.variants:
                for pool in ("prefill", "decode"):
                    obj = getattr(v.targets, pool).written_object()
                    where = f"deployments.{d.name}.variants.{v.name}.targets.{pool}"
                    if obj is None:
                        continue
                    if obj in seen:
                        kind, ns, name = obj
                        raise ValueError(
                            f"{kind} {ns}/{name} is scaled by two pools ({seen[obj]} and "
                            f"{where}); give each pool of each variant its own object (a "
                            "variant switch runs both side by side)"
                        )
                    seen[obj] = where
        return self


def is_fleet_file(path: str | os.PathLike[str]) -> bool:
    """True for a fleet file (it has `deployments:`). Anything unreadable is False, so the
    single-deployment loader reports the problem as it always has."""
    try:
        data = load_strict(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "deployments" in data


def load_fleet_run_config(path: str | os.PathLike[str]) -> LoadedFleet[FleetRunConfig]:
    """The fleet file with its profiles loaded; a FleetConfigError (exit 2) names what is
    wrong."""
    return load_fleet_file(path, FleetRunConfig)
