"""Importing Dynamo profiler output (npz and JSON) unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from sla_planner.profiles.dynamo_import import DECODE_DIR, PREFILL_DIR, import_dynamo_dir
from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.registry import load_profile


def test_npz_import_keeps_every_measured_value(dynamo_dir, raw):
    profile = import_dynamo_dir(dynamo_dir)
    pre, dec = raw[PREFILL_DIR], raw[DECODE_DIR]
    assert profile.prefill.isl == pre["prefill_isl"].astype(float).tolist()
    assert profile.prefill.ttft_ms == pre["prefill_ttft"].tolist()
    assert profile.prefill.throughput_per_gpu == pre["prefill_thpt_per_gpu"].tolist()
    assert profile.decode.kv_usage == dec["x_kv_usage"].tolist()
    assert profile.decode.context_length == dec["y_context_length"].tolist()
    assert profile.decode.itl_ms == dec["z_itl"].tolist()
    assert profile.decode.throughput_per_gpu == dec["z_thpt_per_gpu"].tolist()
    assert profile.decode.max_kv_tokens == int(dec["max_kv_tokens"][0]) == 945029
    assert len(profile.prefill.isl) == 17 and len(profile.decode.itl_ms) == 41


def test_import_infers_one_gpu_and_takes_metadata_from_arguments(dynamo_dir):
    default = import_dynamo_dir(dynamo_dir)
    assert default.gpus_per_replica == 1
    assert default.name == dynamo_dir.name
    assert (default.gpu, default.model, default.backend) == ("unknown", "unknown", "unknown")
    named = import_dynamo_dir(
        dynamo_dir, name="x", gpu="H200", model="m", backend="vllm", max_batched_tokens=4096
    )
    assert (named.name, named.gpu, named.model, named.backend) == ("x", "H200", "m", "vllm")
    assert named.max_batched_tokens == 4096


def test_gpus_per_replica_inferred_from_prefill_throughput(make_dynamo_dir, raw):
    # A TP2 engine: per-GPU throughputs are half of isl / ttft.
    pre, dec = raw[PREFILL_DIR], raw[DECODE_DIR]
    root = make_dynamo_dir(
        prefill_thpt_per_gpu=pre["prefill_thpt_per_gpu"] / 2,
        z_thpt_per_gpu=dec["z_thpt_per_gpu"] / 2,
    )
    assert import_dynamo_dir(root).gpus_per_replica == 2


def test_explicit_gpus_that_contradict_the_data_are_rejected(dynamo_dir):
    with pytest.raises(ProfileError, match=r"prefill_thpt_per_gpu.*gpus_per_replica=4"):
        import_dynamo_dir(dynamo_dir, gpus_per_replica=4)


def test_json_import_equals_npz_import(make_dynamo_dir, dynamo_dir):
    from_json = import_dynamo_dir(make_dynamo_dir("json"), name="same")
    from_npz = import_dynamo_dir(dynamo_dir, name="same")
    assert (make_dynamo_dir("json") / PREFILL_DIR / "raw_data.json").is_file()
    assert from_json.model_dump(exclude={"source"}) == from_npz.model_dump(exclude={"source"})


def test_json_accepts_scalar_max_kv_tokens(make_dynamo_dir):
    profile = import_dynamo_dir(make_dynamo_dir("json", max_kv_tokens=945029))
    assert profile.decode.max_kv_tokens == 945029


def test_load_profile_accepts_the_profiler_directory(dynamo_dir, bundled):
    profile = load_profile(dynamo_dir)
    assert profile.decode == bundled.decode and profile.prefill == bundled.prefill


def test_bundled_profile_is_the_profiler_output_unchanged(dynamo_dir, bundled):
    imported = import_dynamo_dir(dynamo_dir)
    assert imported.prefill == bundled.prefill and imported.decode == bundled.decode


def test_missing_data_file_names_the_expected_files(tmp_path):
    (tmp_path / PREFILL_DIR).mkdir()
    (tmp_path / DECODE_DIR).mkdir()
    with pytest.raises(ProfileError) as err:
        import_dynamo_dir(tmp_path)
    assert "selected_prefill_interpolation/raw_data.npz" in str(err.value)
    assert "Fix:" in str(err.value)


def test_not_a_profiler_directory(tmp_path):
    with pytest.raises(ProfileError, match="not a profiler output directory"):
        import_dynamo_dir(tmp_path)
    with pytest.raises(ProfileError, match="not a Dynamo profiler output"):
        load_profile(tmp_path)


def test_missing_key_names_file_and_key(make_dynamo_dir):
    root = make_dynamo_dir(z_itl=None)
    with pytest.raises(ProfileError) as err:
        import_dynamo_dir(root)
    message = str(err.value)
    assert str(root / DECODE_DIR / "raw_data.npz") in message
    assert "'z_itl' is missing" in message and "Fix:" in message


def test_corrupt_npz_is_a_clear_error(make_dynamo_dir):
    root = make_dynamo_dir()
    (root / PREFILL_DIR / "raw_data.npz").write_bytes(b"not a zip file")
    with pytest.raises(ProfileError, match="cannot be read"):
        import_dynamo_dir(root)


def test_imported_arrays_are_plain_floats(dynamo_dir):
    profile = import_dynamo_dir(dynamo_dir)
    assert all(type(x) is float for x in profile.prefill.isl)
    assert np.isclose(profile.prefill.isl[0], 100.0)
