"""Fixtures for the profiles tests: the real Dynamo H200 profiler output in ../shared/data.

A clean clone without ../shared still runs: the profiler arrays are then rebuilt from the bundled
profile, which holds the same measured values unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.paths import SHARED_DATA

from sla_planner.profiles.dynamo_import import DECODE_DIR, PREFILL_DIR
from sla_planner.profiles.interpolation import ProfileCurves
from sla_planner.profiles.model import EngineProfile
from sla_planner.profiles.registry import load_profile

BUNDLED = "dynamo-h200-llama3.1-8b-fp8-tp1"
SHARED_DIR = SHARED_DATA
DYNAMO_DIR = SHARED_DIR / "profiles" / BUNDLED

Raw = dict[str, dict[str, np.ndarray]]


def _write(root: Path, raw: Raw, fmt: str) -> Path:
    for sub, arrays in raw.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        if fmt == "npz":
            np.savez(root / sub / "raw_data.npz", **arrays)
        else:
            as_json = {k: np.asarray(v).tolist() for k, v in arrays.items()}
            (root / sub / "raw_data.json").write_text(json.dumps(as_json), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def bundled() -> EngineProfile:
    return load_profile(BUNDLED)


@pytest.fixture(scope="session")
def raw(bundled: EngineProfile) -> Raw:
    """The profiler's arrays, exactly as stored."""
    if DYNAMO_DIR.is_dir():
        out = {}
        for sub in (PREFILL_DIR, DECODE_DIR):
            with np.load(DYNAMO_DIR / sub / "raw_data.npz") as data:
                out[sub] = {k: data[k] for k in data.files}
        return out
    p, d = bundled.prefill, bundled.decode
    return {
        PREFILL_DIR: {
            "prefill_isl": np.asarray(p.isl, dtype=np.int64),
            "prefill_ttft": np.asarray(p.ttft_ms),
            "prefill_thpt_per_gpu": np.asarray(p.throughput_per_gpu),
        },
        DECODE_DIR: {
            "x_kv_usage": np.asarray(d.kv_usage),
            "y_context_length": np.asarray(d.context_length),
            "z_itl": np.asarray(d.itl_ms),
            "z_thpt_per_gpu": np.asarray(d.throughput_per_gpu),
            "max_kv_tokens": np.asarray([d.max_kv_tokens], dtype=np.int64),
        },
    }


@pytest.fixture(scope="session")
def dynamo_dir(raw: Raw, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if DYNAMO_DIR.is_dir():
        return DYNAMO_DIR
    return _write(tmp_path_factory.mktemp("dynamo"), raw, "npz")


@pytest.fixture()
def make_dynamo_dir(raw: Raw, tmp_path: Path) -> Callable[..., Path]:
    """Write a profiler output dir (npz or json) with keys replaced (key=value) or removed (None)."""

    def make(fmt: str = "npz", **edits: object) -> Path:
        edited: Raw = {}
        for sub, arrays in raw.items():
            data = dict(arrays)
            for key, value in edits.items():
                if key in data:
                    if value is None:
                        del data[key]
                    else:
                        data[key] = np.asarray(value)
            edited[sub] = data
        return _write(tmp_path / f"dynamo-{fmt}", edited, fmt)

    return make


class Warnings:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: str) -> None:
        self.messages.append(message)


@pytest.fixture()
def warned() -> Warnings:
    return Warnings()


@pytest.fixture()
def curves(bundled: EngineProfile, warned: Warnings) -> ProfileCurves:
    return ProfileCurves(bundled, warn=warned)
