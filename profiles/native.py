"""sla-planner's own profile files: YAML or JSON holding exactly the EngineProfile fields.

Floats are written with Python's shortest round-trip repr, so load(save(p)) == p exactly.
YAML keeps number lists on one line each, so a file reads as a table per section.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.model import EngineProfile
from sla_planner.profiles.validation import validate_profile

YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)
NATIVE_SUFFIXES = YAML_SUFFIXES + JSON_SUFFIXES

_FIXES = {
    "max_kv_tokens": "set it to the engine's KV cache size in tokens (a positive integer)",
    "gpus_per_replica": "set it to the GPUs of one engine (its tensor-parallel size), >= 1",
    "max_batched_tokens": "set it to the engine's max batched tokens per step (vLLM "
    "--max-num-batched-tokens), >= 1",
}


class _FlowListDumper(yaml.SafeDumper):
    """Block mappings, but lists of scalars inline: one measured series per line."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(x, int | float | str) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_FlowListDumper.add_representer(list, _represent_list)


def dumps_yaml(profile: EngineProfile, header: str = "") -> str:
    body = yaml.dump(
        profile.model_dump(mode="json"),
        Dumper=_FlowListDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) if header else ""
    return comment + body


def dumps_json(profile: EngineProfile) -> str:
    return json.dumps(profile.model_dump(mode="json"), indent=2) + "\n"


def check_suffix(path: str | Path) -> Path:
    """`path`, if its suffix names a native format (checked before costly work to save)."""
    target = Path(path)
    if target.suffix.lower() not in NATIVE_SUFFIXES:
        raise ProfileError(
            f"profile file {target}: unknown suffix '{target.suffix}'. Fix: name it .yaml, .yml "
            "or .json."
        )
    return target


def save_profile(profile: EngineProfile, path: str | Path, header: str = "") -> Path:
    """Write `profile` as YAML or JSON by the file's suffix. `header` becomes YAML comments."""
    target = check_suffix(path)
    if target.suffix.lower() in YAML_SUFFIXES:
        text = dumps_yaml(profile, header)
    else:
        text = dumps_json(profile)
    # Write then rename, so a failed save never leaves half a profile behind.
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


def parse_profile(data: object, where: str) -> EngineProfile:
    """Build and validate an EngineProfile from parsed YAML/JSON."""
    if not isinstance(data, dict):
        raise ProfileError(
            f"{where}: the top level is {type(data).__name__}, not a mapping. Fix: write a "
            "profile as keys name, gpu, model, backend, prefill, decode (see profiles/bundled/)."
        )
    try:
        profile = EngineProfile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        fix = _FIXES.get(
            str(err["loc"][-1]) if err["loc"] else "",
            "follow the layout of the bundled profiles in profiles/bundled/",
        )
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise ProfileError(f"{where}: key '{key}': {err['msg']}{more}. Fix: {fix}.") from None
    validate_profile(profile, where)
    return profile


def load_native(path: str | Path) -> EngineProfile:
    source = Path(path)
    where = f"profile file {source}"
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{where}: cannot be read ({exc}). Fix: check the path.") from None
    try:
        if source.suffix.lower() in JSON_SUFFIXES:
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        kind = "JSON" if source.suffix.lower() in JSON_SUFFIXES else "YAML"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ProfileError(
            f"{where}: not valid {kind} ({first}). Fix: correct the syntax."
        ) from None
    return parse_profile(data, where)
