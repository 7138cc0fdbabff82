"""deploy/Dockerfile, checked statically (no Docker engine on the test machines): multi-stage on
python:3.11-slim, every COPY source exists in the build context and is not ignored, the image
installs the package and runs its console script as a non-root user with the chart's config."""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass

import pytest
import yaml
from support.deploy_manifests import CHART, DEPLOY, REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    op: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped."""
    out: list[Instruction] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1].rstrip() + " "
            continue
        buf += line
        op, _, args = buf.partition(" ")
        out.append(Instruction(op.upper(), args.strip()))
        buf = ""
    assert not buf, "Dockerfile ends inside a line continuation"
    return out


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def _ignored(rel: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore matching for the pattern forms we use (no `!` exceptions): a path
    is excluded when it or one of its parent directories matches a pattern."""
    parts = rel.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for pat in patterns:
            p = pat.rstrip("/")
            if p.startswith("**/"):
                if fnmatch.fnmatchcase(parts[i - 1], p[3:]):
                    return True
            elif fnmatch.fnmatchcase(prefix, p):
                return True
    return False


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    pats = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    assert not any(p.startswith("!") for p in pats), "exceptions are not modelled by this test"
    return pats


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_parser_handles_continuations_and_comments():
    ins = parse_dockerfile("# c\nFROM a AS b\nRUN x \\\n  && y\n\nUSER 1\n")
    assert ins == [
        Instruction("FROM", "a AS b"),
        Instruction("RUN", "x && y"),
        Instruction("USER", "1"),
    ]


def test_dockerignore_matcher():
    pats = ["tests", "**/__pycache__", "*.egg-info"]
    assert _ignored("tests/deploy/x.py", pats)
    assert _ignored("planner/__pycache__/a.pyc", pats)
    assert _ignored("sla_planner.egg-info", pats)
    assert not _ignored("planner/data/x.csv", pats)


def test_multi_stage_on_python_311_slim(instructions):
    froms = [i.args.split() for i in instructions if i.op == "FROM"]
    assert len(froms) >= 2, "expected a build stage and a runtime stage"
    assert all(f[0] == "python:3.11-slim" for f in froms)
    stages = {f[2] for f in froms if len(f) == 3 and f[1].upper() == "AS"}
    for i in instructions:
        if i.op == "COPY" and i.args.startswith("--from="):
            assert i.args.split()[0].split("=", 1)[1] in stages


def test_every_copy_source_exists_and_is_in_the_build_context(instructions, ignore_patterns):
    sources = []
    for i in instructions:
        if i.op != "COPY" or i.args.startswith("--from="):
            continue
        *srcs, _dest = shlex.split(i.args)
        sources += srcs
    assert sources
    for src in sources:
        path = REPO / src
        assert path.exists(), f"COPY source {src} does not exist in the repository"
        assert not _ignored(src, ignore_patterns), f"COPY source {src} is excluded by .dockerignore"


def test_the_image_holds_every_package_and_file_the_build_needs(
    instructions, ignore_patterns, pyproject
):
    copied = {
        s.rstrip("/")
        for i in instructions
        if i.op == "COPY" and not i.args.startswith("--from=")
        for s in shlex.split(i.args)[:-1]
    }
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    # The source folders mapped into the one import name (sla_planner <- planner/, ...).
    packages = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    assert packages <= copied, f"packages not copied: {packages - copied}"
    # package data (bundled profiles, planner data) must survive .dockerignore
    for pkg in packages:
        for f in (REPO / pkg).rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                assert not _ignored(str(f.relative_to(REPO)), ignore_patterns), f


def test_entrypoint_is_the_console_script_run_as_non_root(instructions, pyproject):
    assert "sla-planner" in pyproject["project"]["scripts"]
    final = instructions[max(i for i, ins in enumerate(instructions) if ins.op == "FROM") :]
    entry = [i for i in final if i.op == "ENTRYPOINT"]
    assert entry and _exec_form(entry[-1].args) == ["sla-planner"]
    users = [i.args for i in final if i.op == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, (
        "use a numeric non-zero UID (runAsNonRoot can verify it)"
    )
    run = " ".join(i.args for i in final if i.op == "RUN")
    assert "pip install" in run and "sla-planner" in run


def test_image_defaults_match_the_chart(instructions):
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    final = instructions[max(i for i, ins in enumerate(instructions) if ins.op == "FROM") :]
    cmd = _exec_form(next(i for i in final if i.op == "CMD").args)
    assert cmd == ["run", "--config", "/etc/sla-planner/config.yaml"]
    expose = [i.args for i in final if i.op == "EXPOSE"]
    assert expose == [str(values["containerPort"])]
    uid = next(i for i in final if i.op == "USER").args.split(":")[0]
    assert int(uid) == values["podSecurityContext"]["runAsUser"]
