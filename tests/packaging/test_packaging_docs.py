"""docs/architecture.md names real modules (of the product and of the benchmark package), and
every layer package it describes."""

from __future__ import annotations

import importlib
import importlib.util
import re

from support.paths import REPO

DOC = REPO / "docs" / "architecture.md"


def _named_modules(text: str) -> set[str]:
    # Fully qualified names, and the short ones in the diagram's boxes (model.sizing, ...).
    full = set(re.findall(r"\bsla_planner(?:_bench)?(?:\.[a-z_]+)+", text))
    short = {
        f"sla_planner.{m}"
        for m in re.findall(
            r"\b((?:model|sources|controller|offline|evaluation|cli|forecasters|profiles|actuators)"
            r"\.[a-z_]+)\b",
            text,
        )
    }
    return {m.rstrip(".") for m in full | short}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent is a module, not a package (config.fleet.fleet_of_one)
        return False


def test_every_module_the_architecture_page_names_exists() -> None:
    names = _named_modules(DOC.read_text())
    assert len(names) > 30
    missing = []
    for name in sorted(names):
        # A dotted name may end in a class (model.planner.Planner): the longest importable
        # prefix must hold the rest as attributes.
        parts = name.split(".")
        k = len(parts)
        while k > 1 and not _is_module(".".join(parts[:k])):
            k -= 1
        obj = importlib.import_module(".".join(parts[:k]))
        for attr in parts[k:]:
            obj = getattr(obj, attr, None)
        if k == 1 or obj is None:
            missing.append(name)
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_layer_package_is_on_the_page() -> None:
    text = DOC.read_text()
    for init in (REPO / "planner").glob("*/__init__.py"):
        assert f"sla_planner.{init.parent.name}" in text, init.parent.name
