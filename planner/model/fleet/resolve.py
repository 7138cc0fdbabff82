"""Fleet config + loaded profiles -> each deployment's variant engines, with the checks that
need a profile: GPU types exist in the cluster, minimums fit the budget (pure).

The caller loads the profiles (bundled names or files) and passes them keyed by the config's
reference string; nothing here reads a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sla_planner.errors import UsageError
from sla_planner.model.fleet.config import FleetConfig, PoolProfile
from sla_planner.model.fleet.planning import PoolEngine, VariantEngines


class FleetConfigError(UsageError):
    """The fleet config cannot work: names the field path and the fix (exit code 2)."""


@dataclass(frozen=True)
class LoadedProfile:
    curves: Any  # ProfileCurves
    gpu: str  # the profile's GPU type
    gpus_per_replica: int
    name: str


def resolve_variants(
    cfg: FleetConfig, profiles: Mapping[str, LoadedProfile]
) -> dict[str, list[VariantEngines]]:
    """Variant engines per deployment name, in config order."""
    out: dict[str, list[VariantEngines]] = {}
    for d in cfg.deployments:
        engines = []
        for v in d.variants:
            where = f"deployments.{d.name}.variants.{v.name}"
            prefill = _engine(cfg, v.prefill, profiles, f"{where}.prefill")
            decode = _engine(cfg, v.decode, profiles, f"{where}.decode")
            for engine, limits, pool in (
                (prefill, d.prefill, "prefill"),
                (decode, d.decode, "decode"),
            ):
                need = limits.min_replicas * engine.gpus_per_replica
                have = cfg.cluster.gpus[engine.gpu_type].count
                if need > have:
                    raise FleetConfigError(
                        f"{where}.{pool}: min_replicas {limits.min_replicas} x "
                        f"{engine.gpus_per_replica} GPU(s) need {need} {engine.gpu_type} GPUs; "
                        f"the cluster has {have}: lower deployments.{d.name}.{pool}.min_replicas "
                        f"or raise cluster.gpus.{engine.gpu_type}.count"
                    )
            engines.append(VariantEngines(v.name, prefill, decode))
        out[d.name] = engines
    check_minimums(cfg, out)
    return out


def _engine(
    cfg: FleetConfig, ref: PoolProfile, profiles: Mapping[str, LoadedProfile], where: str
) -> PoolEngine:
    prof = profiles[ref.profile]
    gpu = ref.gpu_type or prof.gpu
    if gpu not in cfg.cluster.gpus:
        raise FleetConfigError(
            f"{where}: profile {prof.name!r} runs on GPU type {gpu!r}, which is not a cluster "
            f"GPU pool ({', '.join(cfg.cluster.gpus)}); add it under cluster.gpus or set "
            f"{where}.gpu_type"
        )
    return PoolEngine(prof.curves, gpu, prof.gpus_per_replica, prof.name)


def minimum_gpus(cfg: FleetConfig, variants: Mapping[str, list[VariantEngines]]) -> dict[str, int]:
    """GPUs per type the deployments' minimums take on their first variants."""
    need = {t: 0 for t in cfg.cluster.gpus}
    for d in cfg.deployments:
        v = variants[d.name][0]
        for engine, limits in ((v.prefill, d.prefill), (v.decode, d.decode)):
            need[engine.gpu_type] += limits.min_replicas * engine.gpus_per_replica
    return need


def check_minimums(cfg: FleetConfig, variants: Mapping[str, list[VariantEngines]]) -> None:
    for t, need in minimum_gpus(cfg, variants).items():
        have = cfg.cluster.gpus[t].count
        if need > have:
            raise FleetConfigError(
                f"cluster.gpus.{t}.count: the deployments' minimums on their first variants need "
                f"{need} {t} GPUs but the cluster has {have}; raise the count or lower "
                "min_replicas"
            )
