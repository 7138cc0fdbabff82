"""Native YAML/JSON format, bundled profiles and load_profile."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from sla_planner import profiles
from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.model import EngineProfile
from sla_planner.profiles.native import dumps_json, dumps_yaml, load_native, save_profile
from sla_planner.profiles.registry import bundled_dir, list_bundled, load_profile

BUNDLED = "dynamo-h200-llama3.1-8b-fp8-tp1"


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_round_trip_is_exact(bundled, tmp_path, suffix):
    path = save_profile(bundled, tmp_path / f"p{suffix}", header="a header\nsecond line")
    again = load_profile(path)
    assert again == bundled
    # Every float bit-identical, not merely close.
    assert [x.hex() for x in again.decode.itl_ms] == [x.hex() for x in bundled.decode.itl_ms]
    save_profile(again, tmp_path / f"q{suffix}", header="a header\nsecond line")
    assert (tmp_path / f"q{suffix}").read_text() == path.read_text()


def test_round_trip_of_awkward_floats(bundled, tmp_path):
    tricky = bundled.model_copy(deep=True)
    tricky.prefill.ttft_ms[0] = 1e-05
    tricky.prefill.ttft_ms[1] = 0.1 + 0.2
    tricky.prefill.throughput_per_gpu[0] = 1.7976931348623157e308
    for suffix in (".yaml", ".json"):
        assert load_native(save_profile(tricky, tmp_path / f"t{suffix}")) == tricky


def test_yaml_is_readable(bundled):
    text = dumps_yaml(bundled, header="provenance line")
    assert text.startswith("# provenance line\n")
    lines = text.splitlines()
    assert "name: dynamo-h200-llama3.1-8b-fp8-tp1" in lines
    assert any(line.startswith("  isl: [100.0, 1117.0") for line in lines)  # one series per line
    assert len(lines) < 80
    assert json.loads(dumps_json(bundled))["decode"]["max_kv_tokens"] == 945029


def test_save_rejects_unknown_suffix_and_leaves_nothing(bundled, tmp_path):
    with pytest.raises(ProfileError, match=r"\.yaml, \.yml or \.json"):
        save_profile(bundled, tmp_path / "p.txt")
    assert list(tmp_path.iterdir()) == []


def test_bundled_by_name(bundled):
    assert BUNDLED in list_bundled()
    assert bundled.name == BUNDLED
    assert (bundled.gpu, bundled.backend, bundled.gpus_per_replica) == ("H200", "vllm", 1)
    assert "Llama-3.1-8B-Instruct-FP8" in bundled.model
    assert bundled.max_batched_tokens == 8192
    assert "ai-dynamo/dynamo" in bundled.source and "H200_TP1P_TP1D" in bundled.source
    assert bundled.license == "Apache-2.0"


def test_bundled_readme_carries_provenance_and_licence():
    readme = (bundled_dir() / "README.md").read_text()
    assert "ai-dynamo/dynamo" in readme and "H200_TP1P_TP1D" in readme and "Apache-2.0" in readme
    for name in list_bundled():
        assert f"`{name}`" in readme


def test_every_bundled_profile_loads_and_names_itself():
    for name in list_bundled():
        profile = load_profile(name)
        assert profile.name == name
        assert profile.source and profile.license
        profiles.ProfileCurves(profile)


def test_unknown_name_lists_bundled_profiles():
    with pytest.raises(ProfileError) as err:
        load_profile("no-such-profile")
    message = str(err.value)
    assert "'no-such-profile' not found" in message
    assert BUNDLED in message and "Fix:" in message


def test_load_by_path_string_and_pathlike(bundled, tmp_path):
    path = save_profile(bundled, tmp_path / "mine.yaml")
    assert load_profile(str(path)) == bundled
    assert load_profile(Path(path)) == bundled


def test_wrong_suffix_file_is_rejected(tmp_path):
    path = tmp_path / "profile.txt"
    path.write_text("name: x\n")
    with pytest.raises(ProfileError, match="unknown suffix '.txt'"):
        load_profile(path)


def test_invalid_yaml_and_json_syntax(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match=rf"{bad_yaml}: not valid YAML"):
        load_profile(bad_yaml)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{nope")
    with pytest.raises(ProfileError, match="not valid JSON"):
        load_profile(bad_json)


def _write_yaml(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_top_level_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ProfileError, match="not a mapping"):
        load_profile(path)


def test_missing_section_names_the_key(bundled, tmp_path):
    data = bundled.model_dump()
    del data["decode"]
    with pytest.raises(ProfileError, match=r"key 'decode': Field required"):
        load_profile(_write_yaml(tmp_path, data))


def test_unknown_key_is_rejected(bundled, tmp_path):
    data = bundled.model_dump()
    data["prefill"]["ttft_p99"] = [1.0]
    with pytest.raises(ProfileError, match=r"key 'prefill.ttft_p99'"):
        load_profile(_write_yaml(tmp_path, data))


def test_max_kv_tokens_zero_in_native_file(bundled, tmp_path):
    data = bundled.model_dump()
    data["decode"]["max_kv_tokens"] = 0
    with pytest.raises(ProfileError) as err:
        load_profile(_write_yaml(tmp_path, data))
    message = str(err.value)
    assert "edited.yaml" in message and "decode.max_kv_tokens" in message
    assert "KV cache size in tokens" in message


def test_nan_in_native_yaml(bundled, tmp_path):
    data = bundled.model_dump()
    data["decode"]["itl_ms"][3] = math.nan
    path = _write_yaml(tmp_path, data)
    assert ".nan" in path.read_text()
    with pytest.raises(
        ProfileError,
        match=r"edited.yaml: key 'decode.itl_ms' holds a non-finite value \(nan\) at index 3",
    ):
        load_profile(path)


def test_public_api():
    for name in ("load_profile", "list_bundled", "ProfileError", "ProfileCurves", "EngineProfile"):
        assert hasattr(profiles, name)
    assert issubclass(ProfileError, ValueError)
    assert isinstance(load_profile(BUNDLED), EngineProfile)
