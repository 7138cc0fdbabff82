"""Config file -> `Fleet`: profiles loaded (bundled names or paths, relative ones beside the
file), each deployment's variants resolved to engines, and the checks that need a profile: GPU
types exist in the cluster, minimums fit the budget, the decode profile of a run config loads.
A run config is a fleet of one. Everything wrong is one `ConfigError` naming the field."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sla_planner.config.fleet import DeploymentSpec, Fleet, engine, fleet_of_one
from sla_planner.config.load import ConfigError, load_fleet_file, load_run_config
from sla_planner.config.schema import Deployment, FleetFile, PoolProfile, RunConfig
from sla_planner.model.allocate.plan import FleetSettings
from sla_planner.model.config import SLO, PlannerConfig
from sla_planner.model.size.latency_curves import Curves
from sla_planner.model.size.variant import VariantEngines
from sla_planner.model.types import DEFAULT_VARIANT
from sla_planner.sources.prometheus_config import PrometheusConfig

DEMO_FLEET = "fleet-demo.yaml"


def demo_fleet_path() -> Path:
    """The bundled demo fleet (three deployments over the bundled traces)."""
    return Path(str(resources.files("sla_planner") / "data" / DEMO_FLEET))


@dataclass(frozen=True)
class Loaded:
    profile: Any  # EngineProfile
    curves: Curves


def load_profile_ref(ref: str, base: Path | None, where: str, warns: list[str]) -> Loaded:
    """A bundled profile name or a path (relative to `base`); ConfigError naming `where`."""
    from sla_planner.profiles.errors import ProfileError
    from sla_planner.profiles.interpolation import ProfileCurves
    from sla_planner.profiles.registry import bundled_path, list_bundled, load_profile

    local = ref
    if base is not None and bundled_path(ref) is None:
        p = Path(ref).expanduser()
        local = str(p if p.is_absolute() else base / p)
        if not Path(local).exists():
            raise ConfigError(
                f"{where}: profile {ref!r} not found: not a bundled profile "
                f"({', '.join(list_bundled())}) nor a file or directory ({local}); "
                "fix the name or the path (relative paths are beside the config)"
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prof = load_profile(local)
            return Loaded(prof, ProfileCurves(prof, warn=warns.append))
    except (ProfileError, OSError, ValueError) as e:
        raise ConfigError(f"{where} {ref!r}: {' '.join(str(e).split())}") from None


# -- the fleet file --------------------------------------------------------------------------
def load_fleet(path: str | os.PathLike[str], *, for_run: bool = False) -> Fleet:
    """A fleet file resolved; `for_run`: also what `sla-planner run` needs (targets, demand
    from Prometheus)."""
    p = Path(path)
    cfg = load_fleet_file(p)
    if for_run and (problems := cfg.for_run()):
        raise ConfigError(f"{p}: invalid config: {'; '.join(problems)}")
    try:
        return fleet_from_file(cfg, p.resolve().parent)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None


def fleet_from_file(cfg: FleetFile, base: Path) -> Fleet:
    warns: list[str] = []
    cache: dict[str, Loaded] = {}
    specs = []
    for d in cfg.deployments:
        variants, profiles = [], {}
        for v in d.variants:
            where = f"deployments.{d.name}.variants.{v.name}"
            pools = []
            for pool, ref in (("prefill", v.prefill), ("decode", v.decode)):
                if ref.profile not in cache:
                    cache[ref.profile] = load_profile_ref(
                        ref.profile, base, f"{where}.{pool}.profile", warns
                    )
                pools.append(_engine(cfg, d, ref, cache[ref.profile], f"{where}.{pool}", pool))
            variants.append(VariantEngines(v.name, pools[0][0], pools[1][0]))
            profiles[v.name] = (pools[0][1], pools[1][1])
        specs.append(_spec(cfg, d, tuple(variants), profiles))
    fleet = Fleet(
        tuple(specs),
        FleetSettings(
            gpus={t: g.count for t, g in cfg.cluster.gpus.items()},
            prices={t: g.price_per_gpu_hour for t, g in cfg.cluster.gpus.items()},
            startup_s=cfg.startup_s,
            hysteresis=cfg.hysteresis,
        ),
        source=cfg,
        base_dir=base,
        profile_warnings=tuple(dict.fromkeys(warns)),
    )
    _check_minimums(fleet)
    return fleet


def _engine(
    cfg: FleetFile, d: Deployment, ref: PoolProfile, loaded: Loaded, where: str, pool: str
) -> tuple[Any, Any]:
    prof = loaded.profile
    gpu = ref.gpu_type or prof.gpu
    if gpu not in cfg.cluster.gpus:
        raise ConfigError(
            f"{where}: profile {prof.name!r} runs on GPU type {gpu!r}, which is not a cluster "
            f"GPU pool ({', '.join(cfg.cluster.gpus)}); add it under cluster.gpus or set "
            f"{where}.gpu_type"
        )
    e = engine(loaded.curves, prof, gpu)
    limits = getattr(d, pool)
    need, have = limits.min_replicas * e.gpus_per_replica, cfg.cluster.gpus[gpu].count
    if need > have:
        raise ConfigError(
            f"{where}: min_replicas {limits.min_replicas} x {e.gpus_per_replica} GPU(s) need "
            f"{need} {gpu} GPUs; the cluster has {have}: lower deployments.{d.name}.{pool}."
            f"min_replicas or raise cluster.gpus.{gpu}.count"
        )
    return e, prof


def _spec(
    cfg: FleetFile, d: Deployment, variants: tuple[VariantEngines, ...], profiles: dict
) -> DeploymentSpec:
    try:
        config = PlannerConfig(
            slo=SLO(**d.slo.model_dump()),
            interval_s=cfg.interval_s,
            startup_s=cfg.startup_s,
            budget=d.budget,
            prefill=d.prefill,
            decode=d.decode,
            forecaster=d.forecaster or cfg.forecaster,
            scale_down_window_s=cfg.scale_down_window_s,
            error_budget=d.error_budget,
            reactive=d.reactive,
        )
    except ValidationError as e:
        msg = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        raise ConfigError(f"deployments.{d.name}: {msg}") from None
    prom = d.demand.prometheus
    return DeploymentSpec(
        d.name,
        config,
        variants,
        profiles,
        rank=cfg.rank(d),
        priority=d.priority,
        idle_window_s=cfg.idle_window(d),
        demand=d.demand,
        targets={v.name: v.targets for v in d.variants if v.targets is not None},
        queues=prom.queues if prom is not None else None,
        drain=prom.drain if prom is not None else None,
        prometheus=deployment_prometheus(cfg, d) if prom is not None else None,
    )


def deployment_prometheus(cfg: FleetFile, d: Deployment) -> PrometheusConfig:
    """The Prometheus settings one deployment reads demand with: the file's server, with the
    deployment's selector (and preset, when it gives one)."""
    server, spec = cfg.prometheus, d.demand.prometheus
    assert server is not None and spec is not None  # FleetFile checks it
    update: dict[str, Any] = {"selector": spec.selector}
    if spec.preset is not None:
        update["preset"] = spec.preset
    try:
        return type(server).model_validate({**server.model_dump(), **update})
    except ValueError as e:
        where = f"deployments.{d.name}.demand.prometheus"
        raise ConfigError(f"{where}: {' '.join(str(e).split())}") from None


def _check_minimums(fleet: Fleet) -> None:
    """The deployments' minimums on their first variants fit every GPU type."""
    need: dict[str, int] = {}
    for d in fleet.deployments:
        v = d.variants[0]
        for e, limits in ((v.prefill, d.config.prefill), (v.decode, d.config.decode)):
            need[e.gpu_type] = need.get(e.gpu_type, 0) + limits.min_replicas * e.gpus_per_replica
    for t, n in need.items():
        have = fleet.settings.gpus.get(t)
        if have is not None and n > have:
            raise ConfigError(
                f"cluster.gpus.{t}.count: the deployments' minimums on their first variants need "
                f"{n} {t} GPUs but the cluster has {have}; raise the count or lower "
                "min_replicas"
            )


# -- the run config --------------------------------------------------------------------------
def fleet_from_run_config(cfg: RunConfig, warns: list[str] | None = None) -> Fleet:
    """A run config as a fleet of one (its profile, and decode_profile for the decode pool)."""
    w = warns if warns is not None else []
    p = load_profile_ref(cfg.profile, None, "profile", w)
    d = p if cfg.decode_profile is None else load_profile_ref(cfg.decode_profile, None, "decode_profile", w)  # fmt: skip
    fleet = fleet_of_one(
        cfg.planner,
        (p.profile, p.curves),
        (d.profile, d.curves),
        targets={DEFAULT_VARIANT: cfg.targets},
        queues=cfg.metrics.queues,
        drain=cfg.metrics.drain,
        prometheus=cfg.metrics.prometheus,
    )
    from dataclasses import replace

    return replace(fleet, source=cfg, profile_warnings=tuple(dict.fromkeys(w)))


def load_config(path: str | os.PathLike[str]) -> Fleet:
    """`sla-planner run --config FILE`: a fleet file or a run config, as a fleet."""
    from sla_planner.config.load import is_fleet_file

    if is_fleet_file(path):
        return load_fleet(path, for_run=True)
    return fleet_from_run_config(load_run_config(path))
