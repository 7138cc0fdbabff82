"""describe() and the `python -m sla_planner.profiles` maintainer tool."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sla_planner.profiles.__main__ import main
from sla_planner.profiles.describe import describe
from sla_planner.profiles.registry import load_profile

BUNDLED = "dynamo-h200-llama3.1-8b-fp8-tp1"


def test_describe_summarises_ranges_and_capacity(bundled):
    text = describe(bundled, isls=(500,), contexts=(4000,), itl_targets_ms=(25,))
    assert "nvidia/Llama-3.1-8B-Instruct-FP8 on 1x H200 per replica (vllm)" in text
    assert "ISL 100..16,372 tokens (17 points)" in text
    assert "context 350..13,585 tokens (6 rows, 41 points)" in text
    assert "KV cache 945,029 tokens" in text
    cap = f"{load_profile(BUNDLED).max_batched_tokens:,}"
    assert f"batches up to {cap} tokens" in text
    # Prefill capacity at ISL 500 and decode capacity at 4000 tokens / 25 ms, as computed.
    from sla_planner.profiles.interpolation import ProfileCurves

    c = ProfileCurves(bundled)
    assert f"{c.prefill_capacity_tps(500):,.0f} tokens/s" in text
    assert f"{c.decode_max_concurrency(4000, 25):7.0f} seq" in text


def test_cli_list_and_describe(capsys):
    assert main(["list"]) == 0
    assert BUNDLED in capsys.readouterr().out
    assert main(["describe", BUNDLED]) == 0
    assert "prefill: ISL" in capsys.readouterr().out


def test_cli_unknown_profile_is_one_error_line(capsys):
    assert main(["describe", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: profile 'nope' not found") and err.count("\n") == 1


def test_cli_import_dynamo_writes_a_loadable_profile(dynamo_dir, tmp_path, bundled):
    out = tmp_path / "h200.yaml"
    args = ["import-dynamo", str(dynamo_dir), str(out), "--name", "h200", "--gpu", "H200"]
    assert main(args + ["--header", "hello"]) == 0
    profile = load_profile(out)
    assert out.read_text().startswith("# hello\n")
    assert (profile.name, profile.gpu, profile.gpus_per_replica) == ("h200", "H200", 1)
    assert profile.decode == bundled.decode


@pytest.mark.slow  # a subprocess
def test_module_runs_as_a_program():
    done = subprocess.run(
        [sys.executable, "-m", "sla_planner.profiles", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and BUNDLED in done.stdout
