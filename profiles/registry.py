"""Find a profile by bundled name or by path (native YAML/JSON file or Dynamo output dir)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from sla_planner.profiles.dynamo_import import import_dynamo_dir, is_dynamo_dir
from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.model import EngineProfile
from sla_planner.profiles.native import NATIVE_SUFFIXES, load_native


def bundled_dir() -> Path:
    return Path(str(resources.files("sla_planner.profiles") / "bundled"))


def list_bundled() -> list[str]:
    """Names of the profiles shipped with sla-planner."""
    return sorted(p.stem for p in bundled_dir().glob("*.yaml"))


def bundled_path(name: str) -> Path | None:
    path = bundled_dir() / f"{name}.yaml"
    return path if path.is_file() else None


def load_profile(name_or_path: str | os.PathLike[str]) -> EngineProfile:
    """A bundled profile by name, a native .yaml/.yml/.json file, or a Dynamo profiler dir."""
    text = os.fspath(name_or_path)
    bundled = bundled_path(text) if os.sep not in text and "/" not in text else None
    if bundled is not None:
        return load_native(bundled)
    path = Path(text).expanduser()
    if path.is_dir():
        if is_dynamo_dir(path):
            return import_dynamo_dir(path)
        raise ProfileError(
            f"profile {path}: a directory but not a Dynamo profiler output (no "
            "selected_prefill_interpolation/ and selected_decode_interpolation/). Fix: pass the "
            "profiler's output directory or a profile .yaml/.json file."
        )
    if path.is_file():
        if path.suffix.lower() not in NATIVE_SUFFIXES:
            raise ProfileError(
                f"profile file {path}: unknown suffix '{path.suffix}'. Fix: pass a .yaml, .yml "
                "or .json profile, or a Dynamo profiler output directory."
            )
        return load_native(path)
    names = ", ".join(list_bundled()) or "none"
    raise ProfileError(
        f"profile '{text}' not found: it is not a bundled profile name and no such file or "
        f"directory exists. Bundled profiles: {names}. Fix: pass one of those names, a profile "
        ".yaml/.json file, or a Dynamo profiler output directory."
    )
