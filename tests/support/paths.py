"""Where the tests find the repository, the bundled data and ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# ../shared/data beside the checkout, or $SLA_PLANNER_SHARED_DATA.
SHARED_DATA = Path(os.environ.get("SLA_PLANNER_SHARED_DATA", REPO.parent / "shared" / "data"))
SHARED_TRACES = SHARED_DATA / "traces"
BUNDLED_PROFILE = "dynamo-h200-llama3.1-8b-fp8-tp1"
BUNDLED_TRACE = REPO / "planner" / "data" / "AzureLLMInferenceTrace_conv.csv"


def real_trace(name: str) -> Path:
    """A real trace by file name: the bundled copy when it is the bundled one, else from
    ../shared/data (skipping the test when that is absent)."""
    if name == BUNDLED_TRACE.name:
        return BUNDLED_TRACE
    path = SHARED_TRACES / name
    if not path.exists():
        pytest.skip(f"{path} not available (set SLA_PLANNER_SHARED_DATA)")
    return path
