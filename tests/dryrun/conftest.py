"""Fixtures for the dry-run tests: slices of the real traces in ../shared/data.

The Azure 2023 conversation trace is bundled (planner/data), so tests that need only it run on
a clean clone; the other traces come from ../shared/data (or $SLA_PLANNER_SHARED_DATA) and
their tests skip when it is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.dryrun_command import default_trace_path

SHARED_TRACES = (
    Path(
        os.environ.get(
            "SLA_PLANNER_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"
        )
    )
    / "traces"
)
REPO = Path(__file__).resolve().parents[2]


def real_trace(name: str) -> Path:
    if name == default_trace_path().name:
        return default_trace_path()
    path = SHARED_TRACES / name
    if not path.exists():
        pytest.skip(f"{path} not available (set SLA_PLANNER_SHARED_DATA)")
    return path


@pytest.fixture
def trace_slice(tmp_path: Path) -> Callable[..., Path]:
    """Copy the header + the first `rows` data rows (all when None) of a real trace."""

    def make(name: str, rows: int | None = None, skip_header: bool = False) -> Path:
        lines = real_trace(name).read_text().splitlines()
        is_jsonl = name.endswith(".jsonl")
        header, body = ([], lines) if is_jsonl else (lines[:1], lines[1:])
        body = body if rows is None else body[:rows]
        out = tmp_path / f"slice-{rows}-{name}"
        out.write_text("\n".join(header + body) + "\n")
        return out

    return make


def _run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "planner.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """The CLI as a user runs it: a separate process, `python -m planner.cli ARGS`."""
    return _run_cli


@pytest.fixture
def real() -> Callable[[str], Path]:
    """Path of a real trace by file name (skips when ../shared/data is absent)."""
    return real_trace
