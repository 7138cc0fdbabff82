"""The fleet config file: YAML of `FleetConfig` plus the Prometheus server (and, for a dry run,
the replay range), with paths resolved next to the file and every profile loaded and checked.

Both the fleet dry run (`sla_planner.offline`) and the in-cluster fleet controller
(`sla_planner.controller`, which adds targets per variant and the loop's settings by extending
`FleetFileBase`) read their files here: `load_fleet_file(path, model)`.

Everything wrong in the file, or in what it points to (a trace or profile that does not load),
is a `FleetConfigError` naming the field path and the fix: exit code 2 with one line.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sla_planner.model.fleet.config import Deployment, FleetConfig
from sla_planner.model.fleet.planning import VariantEngines
from sla_planner.model.fleet.resolve import FleetConfigError, LoadedProfile, resolve_variants
from sla_planner.sources.prometheus_config import PrometheusConfig

DEMO_FLEET = "fleet-demo.yaml"


def demo_fleet_path() -> Path:
    """The bundled demo fleet (three deployments over the bundled traces)."""
    return Path(str(resources.files("sla_planner") / "data" / DEMO_FLEET))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Replay(_Strict):
    """The time range to replay (unix seconds); default: the union of the traces."""

    start: float | None = Field(None, description="unix seconds; required with Prometheus")
    end: float | None = None

    @model_validator(mode="after")
    def _order(self) -> Replay:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"replay.end ({self.end}) is not after replay.start ({self.start})")
        return self


class FleetFileBase(FleetConfig):
    """A fleet config with the Prometheus server its deployments read demand from."""

    prometheus: PrometheusConfig | None = Field(
        None, description="the server deployments with `demand.prometheus` read from"
    )

    def prometheus_users(self) -> list[str]:
        return [d.name for d in self.deployments if d.demand.prometheus is not None]

    @model_validator(mode="after")
    def _prometheus(self) -> FleetFileBase:
        users = self.prometheus_users()
        if users and self.prometheus is None:
            raise ValueError(
                f"deployments {', '.join(users)} read demand from Prometheus: add a "
                "`prometheus:` section (url, preset, ...)"
            )
        return self


class FleetFile(FleetFileBase):
    """The fleet dry run's file: a replay range besides."""

    replay: Replay = Replay()

    @model_validator(mode="after")
    def _replay(self) -> FleetFile:
        if self.prometheus_users() and self.replay.start is None:
            raise ValueError("replay.start is required when demand comes from Prometheus")
        return self


C = TypeVar("C", bound=FleetFileBase)


@dataclass(frozen=True)
class LoadedFleet(Generic[C]):
    config: C
    path: Path
    base_dir: Path  # relative paths in the file are resolved here
    variants: dict[str, list[VariantEngines]]
    profile_warnings: list[str]  # range warnings, collected as profiles are read

    def resolve(self, p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else self.base_dir / path


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice (YAML would keep the last silently)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise FleetConfigError(f"line {line}: key {key!r} is given twice; keep one")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_fleet_file(
    path: str | os.PathLike[str],
    model: type[C] = FleetFile,  # type: ignore[assignment]
) -> LoadedFleet[C]:
    """The file at `path` validated as `model` (default: the dry run's `FleetFile`), with its
    profiles loaded and each deployment's variants resolved."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise FleetConfigError(
            f"--config {p}: cannot read ({e.strerror or e}); check the path"
        ) from None
    except UnicodeDecodeError:
        raise FleetConfigError(f"--config {p}: not UTF-8 text; give a YAML file") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except FleetConfigError as e:
        raise FleetConfigError(f"{p}: {e}") from None
    except yaml.YAMLError as e:
        raise FleetConfigError(f"{p}: not valid YAML ({' '.join(str(e).split())})") from None
    if not isinstance(data, dict):
        raise FleetConfigError(f"{p}: expected a mapping with cluster: and deployments:")
    try:
        cfg = model.model_validate(data)
    except ValidationError as e:
        raise FleetConfigError(f"{p}: {_validation_message(e, data)}") from None
    base = p.resolve().parent
    profiles, warns = _load_profiles(cfg, base, p)
    try:
        variants = resolve_variants(cfg, profiles)
    except FleetConfigError as e:
        raise FleetConfigError(f"{p}: {e}") from None
    return LoadedFleet(cfg, p, base, variants, warns)


def deployment_prometheus(cfg: FleetFileBase, d: Deployment) -> PrometheusConfig:
    """The Prometheus settings one deployment reads demand with: the file's server, with the
    deployment's selector (and preset, when it gives one)."""
    server, spec = cfg.prometheus, d.demand.prometheus
    assert server is not None and spec is not None  # FleetFileBase checks it
    update: dict[str, Any] = {"selector": spec.selector}
    if spec.preset is not None:
        update["preset"] = spec.preset
    try:
        return type(server).model_validate({**server.model_dump(), **update})
    except ValueError as e:
        where = f"deployments.{d.name}.demand.prometheus"
        raise FleetConfigError(f"{where}: {' '.join(str(e).split())}") from None


def _validation_message(err: ValidationError, data: dict[str, Any]) -> str:
    """'deployments.chat.slo.ttft_ms: ...': list indices of named items become their names."""
    parts = []
    for e in err.errors():
        loc = list(e.get("loc", ()))
        shown: list[str] = []
        node: Any = data
        for key in loc:
            named = isinstance(key, int) and isinstance(node, list) and key < len(node)
            item = node[key] if named else (node.get(key) if isinstance(node, dict) else None)
            if named and isinstance(item, dict) and isinstance(item.get("name"), str):
                shown.append(item["name"])
            else:
                shown.append(str(key))
            node = item
        got = f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else ""
        parts.append(f"{'.'.join(shown) or 'config'}: {e.get('msg', '')}{got}")
    return "invalid fleet config: " + "; ".join(parts)


def _load_profiles(
    cfg: FleetFileBase, base: Path, path: Path
) -> tuple[dict[str, LoadedProfile], list[str]]:
    from sla_planner.profiles.errors import ProfileError
    from sla_planner.profiles.interpolation import ProfileCurves
    from sla_planner.profiles.registry import bundled_path, list_bundled, load_profile

    out: dict[str, LoadedProfile] = {}
    warns: list[str] = []
    for d in cfg.deployments:
        for v in d.variants:
            for pool_name, pool in (("prefill", v.prefill), ("decode", v.decode)):
                ref = pool.profile
                if ref in out:
                    continue
                where = f"deployments.{d.name}.variants.{v.name}.{pool_name}.profile"
                local = ref if bundled_path(ref) is not None else str(_beside(base, ref))
                if local != ref and not Path(local).exists():
                    raise FleetConfigError(
                        f"{path}: {where}: profile {ref!r} not found: not a bundled profile "
                        f"({', '.join(list_bundled())}) nor a file or directory ({local}); "
                        "fix the name or the path (relative paths are beside the config)"
                    )
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        prof = load_profile(local)
                        curves = ProfileCurves(prof, warn=warns.append)
                except (ProfileError, OSError, ValueError) as e:
                    raise FleetConfigError(f"{path}: {where}: {' '.join(str(e).split())}") from None
                out[ref] = LoadedProfile(curves, prof.gpu, prof.gpus_per_replica, prof.name)
    return out, warns


def _beside(base: Path, ref: str) -> Path:
    p = Path(ref).expanduser()
    return p if p.is_absolute() else base / p
