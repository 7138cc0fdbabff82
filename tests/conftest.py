"""Fixtures shared by every test folder (the folders mirror the sla_planner packages).

- `tests/` goes on sys.path so `support` (fake API server, real Prometheus, paths, curves,
  harnesses) imports; pytest runs with --import-mode=importlib, which does not do that.
- The `sla_planner` under test must be this checkout's: an editable install of another checkout
  in the same environment would otherwise be tested silently.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from support.curves import LinearCurves, h200_curves  # noqa: E402
from support.paths import BUNDLED_TRACE, REPO, real_trace  # noqa: E402

import sla_planner  # noqa: E402

pytest_plugins = ["support.controller_fixtures"]

_IMPORTED = Path(sla_planner.__file__).resolve().parent
if _IMPORTED != REPO / "planner":
    raise pytest.UsageError(
        f"sla_planner is imported from {_IMPORTED}, not from this checkout ({REPO / 'planner'}); "
        f"run `pip install -e .` in {REPO} (or use a virtualenv per checkout)"
    )


@pytest.fixture(scope="session")
def h200():
    """ProfileCurves of the bundled, measured H200 Llama-3.1-8B FP8 profile."""
    return h200_curves()


@pytest.fixture()
def linear() -> LinearCurves:
    return LinearCurves()


@pytest.fixture()
def make_linear() -> type[LinearCurves]:
    return LinearCurves


@pytest.fixture(scope="session")
def conv_trace():
    """The bundled Azure 2023 conversation trace (the same file as ../shared/data's)."""
    from sla_planner.sources.trace_files import RequestTrace, load_trace

    tr = load_trace(BUNDLED_TRACE)
    assert isinstance(tr, RequestTrace)
    return tr


@pytest.fixture
def real() -> Callable[[str], Path]:
    """Path of a real trace by file name (skips when ../shared/data is absent)."""
    return real_trace


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


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """The CLI as a user runs it: a separate process, `python -m sla_planner.cli.main ARGS`."""
    return subprocess.run(
        [sys.executable, "-m", "sla_planner.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    return run_cli


@pytest.fixture(scope="session")
def bundled_10s() -> pd.DataFrame:
    """Bundled Azure 2023 hour as 10 s bins: requests, isl_mean, osl_mean (NaN when empty)."""
    df = pd.read_csv(BUNDLED_TRACE)
    t = pd.to_datetime(df["TIMESTAMP"])
    binned = df.assign(t=t).set_index("t").resample("10s")
    return pd.DataFrame(
        {
            "requests": binned.size().astype(float),
            "isl_mean": binned["ContextTokens"].mean(),
            "osl_mean": binned["GeneratedTokens"].mean(),
        }
    ).reset_index(drop=True)
