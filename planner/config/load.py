"""Reading the planner's files: YAML that refuses duplicate keys, validation errors that name the
field path (a list item by its `name`) and the fix, a file told apart by its shape (a fleet
file has `deployments:`). Everything wrong is one `ConfigError` (exit code 2)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sla_planner.config.schema import FleetFile, RunConfig
from sla_planner.errors import UsageError

M = TypeVar("M", bound=BaseModel)


class ConfigError(UsageError, ValueError):
    """A config file cannot be used; the message names the file, the field and the fix."""


class DuplicateKeyError(UsageError, yaml.constructor.ConstructorError):
    """A mapping repeats a key; `key`, `line` (1-based) and `first_line` say where."""

    def __init__(self, key: object, line: int, first_line: int, mark: yaml.Mark) -> None:
        super().__init__(
            None,
            None,
            f"duplicate key {key!r} at line {line} (first at line {first_line}); keep one",
            mark,
        )
        self.key, self.line, self.first_line = key, line, first_line


class _StrictLoader(yaml.SafeLoader):
    # PyYAML's safe_load keeps the last of two equal keys silently: a config edited in two
    # places would run with whichever came last.
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: safe_load's own error follows
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise DuplicateKeyError(key, line, first, key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_strict(text: str) -> Any:
    """yaml.safe_load, except that a repeated mapping key raises DuplicateKeyError."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist; pass --config PATH") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not UTF-8 text; give a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"config file {p} cannot be read: {exc.strerror or exc}") from None
    try:
        return load_strict(text)
    except DuplicateKeyError as exc:
        raise ConfigError(f"config file {p}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {p} is not valid YAML{where}: {problem}") from None


def is_fleet_file(path: str | os.PathLike[str]) -> bool:
    """True for a fleet file (it has `deployments:`). Anything unreadable is False, so the
    run-config loader reports the problem as it always has."""
    try:
        data = load_strict(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "deployments" in data


def validate(model: type[M], data: object, source: str, what: str) -> M:
    """`data` as `model`; a ConfigError naming each bad field's path otherwise."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping ({what}); got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {validation_message(err, data)}") from None


def validation_message(err: ValidationError, data: dict[str, Any]) -> str:
    """'invalid config: deployments.chat.slo.ttft_ms: ...': list items by their name."""
    parts = []
    for e in err.errors():
        shown: list[str] = []
        node: Any = data
        for key in e.get("loc", ()):
            named = isinstance(key, int) and isinstance(node, list) and key < len(node)
            item = node[key] if named else (node.get(key) if isinstance(node, dict) else None)
            if named and isinstance(item, dict) and isinstance(item.get("name"), str):
                shown.append(item["name"])
            else:
                shown.append(str(key))
            node = item
        msg = e.get("msg", "")
        if e.get("type") == "extra_forbidden":
            msg = "unknown key (check the spelling; see the example in the README)"
        elif e.get("type") == "missing":
            msg = "required key is missing"
        got = e.get("input")
        shown_got = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
        parts.append(f"{'.'.join(shown) or '(top level)'}: {msg}{shown_got}")
    return "invalid config: " + "; ".join(parts)


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """A single deployment's run config (`sla-planner run --config FILE`)."""
    what = "keys planner, profile, metrics, targets, ..."
    return validate(RunConfig, read_yaml(path), str(path), what)


def parse_run_config(data: object, source: str = "run config") -> RunConfig:
    return validate(RunConfig, data, source, "keys planner, profile, metrics, targets, ...")


def load_fleet_file(path: str | os.PathLike[str]) -> FleetFile:
    """A fleet file (`sla-planner fleet dry-run --config FILE`, `sla-planner run`)."""
    return validate(FleetFile, read_yaml(path), str(path), "with cluster: and deployments:")
