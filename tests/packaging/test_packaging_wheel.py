"""The built wheel installs exactly one top-level package, `sla_planner`, holding every source
file of the four top-level folders and, as data, exactly the files the demos read; the
benchmark-only code is in the other wheel (sla-planner-bench, benchmarks/) and not in this one;
and the import-linter contracts catch a layer violation and the product importing the benchmarks.
"""

from __future__ import annotations

import os
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


# What moved out of the product into sla_planner_bench (issue 15): none of it may come back.
MOVED = ("sla_planner/evaluation/baseline_", "sla_planner/evaluation/static_policy.py",
         "sla_planner/evaluation/oracle.py", "sla_planner/evaluation/fleet_baselines.py",
         "sla_planner/evaluation/dynamo_replay/", "sla_planner_bench/")  # fmt: skip

# Runs one demo with an audit hook and prints every file it opened (one per line).
_RECORD_OPENS = """
import sys
opened = set()
sys.addaudithook(lambda ev, a: opened.add(str(a[0])) if ev == "open" and not isinstance(a[0], int) else None)
from sla_planner.cli.main import main
try:
    code = main(sys.argv[1:])
finally:
    print("\\n".join(sorted(opened)))
sys.exit(code)
"""


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy so setuptools' build/ and egg-info never land in the checkout.
    copy = tmp_path_factory.mktemp("src") / "src"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info"))
    return copy


def _build(project: Path, out: Path, pattern: str) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(project)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (whl,) = out.glob(pattern)
    return whl


@pytest.fixture(scope="module")
def wheel(src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(src, tmp_path_factory.mktemp("wheel"), "sla_planner-*.whl")


@pytest.fixture(scope="module")
def bench_wheel(src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(src / "benchmarks", tmp_path_factory.mktemp("bench"), "sla_planner_bench-*.whl")


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


def test_the_benchmark_only_code_is_in_the_bench_wheel_not_the_product(
    wheel: Path, bench_wheel: Path
) -> None:
    product = zipfile.ZipFile(wheel).namelist()
    leaked = [n for n in product if n.startswith(MOVED)]
    assert not leaked, f"benchmark-only code in the product wheel: {leaked[:10]}"
    bench = zipfile.ZipFile(bench_wheel).namelist()
    tops = {n.split("/", 1)[0] for n in bench if ".dist-info/" not in n}
    assert tops == {"sla_planner_bench"}  # no sla_planner files, no benchmark scripts
    for module in ("baselines/hpa.py", "baselines/dynamo_classic.py", "baselines/static.py",
                   "baselines/oracle.py", "baselines/common.py", "baselines/fleet.py",
                   "dynamo_replay/replay.py", "dynamo_replay/ais_shim.py"):  # fmt: skip
        assert f"sla_planner_bench/{module}" in bench


def _opened_by(cmd: list[str], site: Path, cwd: Path) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", _RECORD_OPENS, *cmd], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return set(run.stdout.splitlines())


def test_the_wheels_data_files_are_exactly_what_the_demos_read(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    data = site / "sla_planner" / "data"
    shipped = {f.name for f in data.iterdir()}
    read: set[str] = set()
    for cmd in (["dry-run"], ["fleet", "dry-run"]):  # the README's demos, with no flags
        cwd = tmp_path / "-".join(cmd)
        cwd.mkdir()
        opened = _opened_by(cmd, site, cwd)
        # The demos ran on the wheel's copy, not on an installed checkout.
        assert any(f.startswith(str(site / "sla_planner")) for f in opened), sorted(opened)[:20]
        read |= {Path(f).name for f in opened if Path(f).parent == data}
    # README.md: the files' provenance and licences (CC-BY-4.0 asks for the attribution).
    assert shipped == read | {"README.md"}
    assert "AzureLLMInferenceTrace_conv.csv" in read and "fleet-demo.yaml" in read


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
    wheel: Path, bench_wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    zipfile.ZipFile(bench_wheel).extractall(site)  # the contracts' second root
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
    types.write_text(
        types.read_text().replace("\nimport sla_planner.controller.clock  # noqa\n", "")
    )
    # The product importing the benchmark package must break its contract.
    sim = site / "sla_planner" / "evaluation" / "simulator.py"
    sim.write_text(sim.read_text() + "\nimport sla_planner_bench.baselines.hpa  # noqa\n")
    bad = subprocess.run(lint, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert "sla_planner.evaluation.simulator -> sla_planner_bench.baselines.hpa" in bad.stdout
