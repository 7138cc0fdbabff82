"""Fixtures for the simulator/baseline tests: the real H200 profile and real trace slices."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from planner.traces import load_trace
from profiles import ProfileRangeWarning, load_profile
from profiles.interpolation import ProfileCurves

H200 = "dynamo-h200-llama3.1-8b-fp8-tp1"
TRACES = Path(__file__).resolve().parents[3] / "shared" / "data" / "traces"


@pytest.fixture(scope="session")
def h200() -> ProfileCurves:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileRangeWarning)
        return ProfileCurves(load_profile(H200), warn=lambda _msg: None)


@pytest.fixture(scope="session")
def conv_trace():
    path = TRACES / "AzureLLMInferenceTrace_conv.csv"
    if not path.exists():
        pytest.skip(f"real trace not found at {path}")
    return load_trace(path)
