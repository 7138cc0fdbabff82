"""Bad profile data is rejected with one message naming the file, the key and the fix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from sla_planner.profiles.dynamo_import import DECODE_DIR, PREFILL_DIR, import_dynamo_dir
from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.interpolation import ProfileCurves
from sla_planner.profiles.registry import load_profile

# (dynamo key, native section, native key, edit of the real array, expected words)
CASES = [
    ("prefill_ttft", "prefill", "ttft_ms", lambda a: a[:0], "is empty"),
    (
        "z_itl",
        "decode",
        "itl_ms",
        lambda a: _set(a, 2, math.nan),
        "non-finite value (nan) at index 2",
    ),
    (
        "prefill_thpt_per_gpu",
        "prefill",
        "throughput_per_gpu",
        lambda a: _set(a, 4, math.inf),
        "non-finite value (inf) at index 4",
    ),
    (
        "prefill_ttft",
        "prefill",
        "ttft_ms",
        lambda a: _set(a, 1, -3.0),
        "holds -3 at index 1; latencies (ms) must be > 0",
    ),
    (
        "z_itl",
        "decode",
        "itl_ms",
        lambda a: _set(a, 0, 0.0),
        "holds 0 at index 0; latencies (ms) must be > 0",
    ),
    (
        "z_thpt_per_gpu",
        "decode",
        "throughput_per_gpu",
        lambda a: _set(a, 5, 0.0),
        "throughputs (tokens/s/GPU) must be > 0",
    ),
    (
        "prefill_thpt_per_gpu",
        "prefill",
        "throughput_per_gpu",
        lambda a: _set(a, 5, -1.0),
        "throughputs (tokens/s/GPU) must be > 0",
    ),
    (
        "y_context_length",
        "decode",
        "context_length",
        lambda a: _set(a, 0, -350.0),
        "context lengths (tokens) must be > 0",
    ),
    ("z_itl", "decode", "itl_ms", lambda a: a[:-1], "has 40 points but"),
    (
        "prefill_isl",
        "prefill",
        "isl",
        lambda a: _swap(a, 3, 4),
        "is not strictly increasing (4168 at index 3, then 3151)",
    ),
    ("prefill_isl", "prefill", "isl", lambda a: _set(a, 1, 100.0), "is not strictly increasing"),
    (
        "x_kv_usage",
        "decode",
        "kv_usage",
        lambda a: _set(a, 6, 58.2),
        "holds 58.2 at index 6, outside 0..1",
    ),
    ("x_kv_usage", "decode", "kv_usage", lambda a: _set(a, 0, -0.1), "outside 0..1"),
    ("max_kv_tokens", "decode", "max_kv_tokens", lambda a: a * 0, "is 0"),
    ("max_kv_tokens", "decode", "max_kv_tokens", lambda a: -a, "is -945029"),
    # Degenerate profiles (issue 10, defect 4): accepted before, they sized pools to 1e6.
    ("x_kv_usage", "decode", "kv_usage", lambda a: a * 0, "holds no load at context 350"),
    ("x_kv_usage", "decode", "kv_usage", lambda a: a * 1e-6, "never held one whole sequence"),
    ("z_itl", "decode", "itl_ms", lambda a: np.full(np.shape(a), 20.0), "does not rise with load"),
    ("prefill_ttft", "prefill", "ttft_ms", lambda a: np.asarray(a)[::-1], "does not grow with"),
    (
        "max_kv_tokens",
        "decode",
        "max_kv_tokens",
        lambda a: a * 0 + 1000,
        "is below the longest measured context",
    ),
    ("max_kv_tokens", "decode", "max_kv_tokens", lambda a: a * 0 + 10**12, "beyond any engine"),
]
FIXES = {
    "is empty": "at least one measured point",
    "non-finite": "re-measure that point",
    "must be > 0": "re-measure that point",
    "has 40 points": "one value per measured point",
    "strictly increasing": "sort the prefill points",
    "outside 0..1": "fraction of the KV cache",
    "is 0": "KV cache size in tokens",
    "is -945029": "KV cache size in tokens",
    "holds no load": "measure each context at increasing load",
    "one whole sequence": "check max_kv_tokens, and that kv_usage is a fraction",
    "does not rise with load": "are paired point by point and re-measure that row",
    "does not grow with": "are paired point by point and re-measure",
    "longest measured context": "KV cache size in tokens",
    "beyond any engine": "KV cache size in tokens",
}


def _set(a: np.ndarray, i: int, value: float) -> np.ndarray:
    out = np.asarray(a, dtype=float).copy()
    out[i] = value
    return out


def _swap(a: np.ndarray, i: int, j: int) -> np.ndarray:
    out = np.asarray(a).copy()
    out[[i, j]] = out[[j, i]]
    return out


def _fix_for(words: str) -> str:
    return next(fix for key, fix in FIXES.items() if key in words)


def _ids(case):
    return f"{case[0]}:{case[4][:20]}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_dynamo_import_rejects(case, make_dynamo_dir, raw):
    key, _, _, edit, words = case
    sub = PREFILL_DIR if key.startswith("prefill") else DECODE_DIR
    root = make_dynamo_dir(**{key: edit(raw[sub][key])})
    with pytest.raises(ProfileError) as err:
        import_dynamo_dir(root)
    message = str(err.value)
    assert str(root / sub / "raw_data.npz") in message
    assert f"key '{key}'" in message or f"'{key}' has" in message or "points but" in message
    assert words in message
    assert _fix_for(words) in message.split("Fix:")[1]
    assert "\n" not in message


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_native_file_rejects(case, bundled, tmp_path):
    _, section, key, edit, words = case
    data = bundled.model_dump()
    value = np.asarray(data[section][key])
    edited = edit(value)
    data[section][key] = edited.tolist() if edited.ndim else edited.item()
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    message = str(err.value)
    assert f"profile file {path}" in message
    assert f"{section}.{key}" in message
    if key != "max_kv_tokens":  # pydantic words that one (gt=0) before our checks run
        assert words in message
        assert _fix_for(words) in message.split("Fix:")[1]
    else:
        assert "KV cache size in tokens" in message


def test_in_memory_profile_rejected_by_curves(bundled):
    broken = bundled.model_copy(deep=True)
    broken.decode.itl_ms[7] = -1.0
    with pytest.raises(
        ProfileError, match=rf"profile '{bundled.name}': key 'decode.itl_ms' holds -1 at index 7"
    ):
        ProfileCurves(broken)


def test_decode_throughput_in_wrong_units(bundled):
    broken = bundled.model_copy(deep=True)
    broken.decode.throughput_per_gpu = [x * 1000 for x in broken.decode.throughput_per_gpu]
    with pytest.raises(ProfileError, match=r"decode.throughput_per_gpu' implies 97\d\.\d\dx"):
        ProfileCurves(broken)


def test_non_numeric_values(make_dynamo_dir, raw):
    root = make_dynamo_dir("json")
    path = root / PREFILL_DIR / "raw_data.json"
    path.write_text(path.read_text().replace('"prefill_ttft": [', '"prefill_ttft": ["fast", '))
    with pytest.raises(ProfileError, match="key 'prefill_ttft' is not a list of numbers"):
        import_dynamo_dir(root)


def _one_point_per_row(ctx: np.ndarray) -> np.ndarray:
    """Index of the first point of each context row."""
    return np.unique(np.asarray(ctx), return_index=True)[1]


@pytest.mark.parametrize("section", ["prefill", "decode"])
def test_a_single_measured_point_is_refused_naming_the_file_and_key(section, bundled, tmp_path):
    """Issue 18 item 5: a prefill of one point reached the judge, whose ValueError ('profile
    prefill.isl needs >= 2 distinct points') ended the dry run as an internal error. A decode
    measured at one load per context says nothing of how ITL grows with the batch."""
    data = bundled.model_dump()
    sec = data[section]
    keep = [0] if section == "prefill" else _one_point_per_row(sec["context_length"]).tolist()
    for k, v in sec.items():
        if isinstance(v, list):
            sec[k] = [v[i] for i in keep]
    path = tmp_path / "thin.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    message = str(err.value)
    key = "prefill.isl" if section == "prefill" else "decode.kv_usage"
    assert f"profile file {path}: key '{key}'" in message, message
    assert "at least two" in message.split("Fix:")[1] and "\n" not in message


def test_a_dynamo_prefill_of_one_point_names_its_file(make_dynamo_dir, raw):
    arrays = raw[PREFILL_DIR]
    root = make_dynamo_dir(**{k: np.asarray(v)[:1] for k, v in arrays.items() if np.ndim(v)})
    with pytest.raises(ProfileError, match=r"raw_data.npz: key 'prefill_isl' has 1 measured"):
        import_dynamo_dir(root)
