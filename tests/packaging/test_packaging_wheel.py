"""The built wheel installs exactly one top-level package, `sla_planner`, holding every source
file of the four top-level folders, and the import-linter contracts catch a layer violation."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
from support.paths import REPO

pytestmark = pytest.mark.slow

FOLDERS = {"planner": "sla_planner", "profiles": "sla_planner/profiles",
           "forecasters": "sla_planner/forecasters", "actuators": "sla_planner/actuators"}  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build_dir = tmp_path_factory.mktemp("src")
    # Build from a copy so setuptools' build/ and egg-info never land in the checkout.
    src = build_dir / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (whl,) = out.glob("sla_planner-*.whl")
    return whl


def test_the_wheel_has_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"sla_planner"}
    (info,) = dist_info
    top_level = f"{info}/top_level.txt"
    if top_level in names:
        assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["sla_planner"]


def test_every_source_file_and_bundled_data_file_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, target in FOLDERS.items():
        for f in (REPO / folder).rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                expected.add(f"{target}/{f.relative_to(REPO / folder).as_posix()}")
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel: {missing[:10]}"
    assert "sla_planner/data/AzureLLMInferenceTrace_conv.csv" in names
    assert "sla_planner/profiles/bundled/dynamo-h200-llama3.1-8b-fp8-tp1.yaml" in names


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for folder, target in FOLDERS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join([*target.split("/"), *rel]))
    assert found == listed


def test_import_linter_contracts_hold_and_catch_a_lower_layer_importing_a_higher_one(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    lint = [sys.executable, "-c",
            "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())", str(REPO / "pyproject.toml")]  # fmt: skip
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(lint, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout[-2000:]
    # The pure core importing the controller must break the layers contract.
    types = site / "sla_planner" / "model" / "types.py"
    types.write_text(types.read_text() + "\nimport sla_planner.controller.clock  # noqa\n")
    bad = subprocess.run(lint, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert "sla_planner.model.types -> sla_planner.controller.clock" in bad.stdout
