"""Profiles without hardware, the parts that need no aiconfigurator: Dynamo's grids, the sweep
and assembly of estimated points into a native profile, the `generate` command's argument
errors and the one-line error when the optional extra is missing.

The sweep is driven here by `_AnalyticEngine`, a small latency model with the shape of a real
engine (a saw-tooth in prefill, ITL growing with batch and context); the real estimator is
tested against the real package in test_profiles_aiconfigurator.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sla_planner.profiles.__main__ import main
from sla_planner.profiles.errors import AiconfiguratorNotInstalled, ProfileError
from sla_planner.profiles.generate import generate
from sla_planner.profiles.model import EngineProfile
from sla_planner.profiles.native import load_native, save_profile
from sla_planner.profiles.sweep import (
    SweepSettings,
    assemble_profile,
    concurrency_sweep,
    decode_row_isls,
    prefill_isl_grid,
    run_sweep,
)

PIP = "pip install 'sla-planner[aiconfigurator]'"


class _AnalyticEngine:
    """TTFT = 5 ms + 20 us/token, with a 3 ms dip at 300-499 tokens (a table saw-tooth);
    ITL = 3 ms + 20 us/sequence + 0.1 us/context token x sequences. Records each call."""

    def __init__(self) -> None:
        self.prefill_calls: list[tuple[int, int | None]] = []
        self.decode_batches: list[int] = []

    def prefill_ms(self, isl: int, chunk_tokens: int | None = None) -> float:
        self.prefill_calls.append((isl, chunk_tokens))
        dip = 3.0 if 300 <= isl < 500 else 0.0
        return 5.0 + 0.02 * isl - dip

    def decode_itl_ms(self, batch: int, isl: int, osl: int) -> float:
        self.decode_batches.append(batch)
        return 3.0 + 0.02 * batch + 1e-4 * batch * (isl + osl / 2)


# --- grids ----------------------------------------------------------------------------------


def test_default_grids_are_the_measured_profiles(bundled: EngineProfile) -> None:
    # Dynamo's profiler measured the bundled H200 profile on these grids.
    assert [float(x) for x in prefill_isl_grid()] == bundled.prefill.isl
    contexts = [isl + 250 for isl in decode_row_isls()]
    assert contexts == sorted(set(bundled.decode.context_length))


def test_concurrency_sweep_is_dynamos_range() -> None:
    assert concurrency_sweep(2700) == list(range(1, 2700, 450))
    assert concurrency_sweep(1) == [1]
    assert concurrency_sweep(0) == []
    assert concurrency_sweep(5, 6) == [1, 2, 3, 4]


def test_prefill_margin_and_granularity() -> None:
    grid = prefill_isl_grid(16384, 4, margin=512)
    assert grid == list(range(100, 16384 - 512, (16384 - 512 - 100) // 4))


@pytest.mark.parametrize(
    "settings, pattern",
    [
        (dict(isl_grid=(100, 50)), r"isl_grid must be strictly increasing"),
        (dict(isl_grid=()), r"isl_grid must be strictly increasing"),
        (dict(kv_usage=(0.5, 1.5)), r"kv_usage fractions must lie in \(0, 1\]"),
        (dict(context_rows=(200.0,)), r"context row 200 is too short for decode_osl 500"),
        (dict(context_rows=(float("nan"),)), r"context_rows must be finite token counts"),
        (dict(max_context_length=150), r"max_context_length 150 .*too small"),
        (dict(prefill_granularity=0), r"prefill_granularity must be a positive integer"),
        (dict(decode_osl=1), r"decode_osl must be >= 2"),
        (dict(max_batched_tokens=0), r"max_batched_tokens must be a positive integer"),
        (dict(max_num_seqs=-3), r"max_num_seqs must be a positive integer"),
    ],
)
def test_bad_settings_are_one_line(settings: dict, pattern: str) -> None:
    with pytest.raises(ProfileError, match=pattern) as info:
        SweepSettings(**settings)
    assert "\n" not in str(info.value)


# --- the sweep and assembly -----------------------------------------------------------------


def _profile(settings: SweepSettings, kv_tokens: int = 200_000) -> tuple[EngineProfile, object]:
    engine = _AnalyticEngine()
    points = run_sweep(engine, settings, kv_tokens)
    profile = assemble_profile(
        points,
        name="toy",
        gpu="TOY",
        model="toy/model",
        backend="vllm",
        gpus_per_replica=2,
        max_batched_tokens=settings.max_batched_tokens,
        max_kv_tokens=kv_tokens,
        source="analytic",
        license="Apache-2.0",
    )
    return profile, (engine, points)


def test_sweep_assembles_a_valid_native_profile(tmp_path: Path) -> None:
    profile, _ = _profile(SweepSettings())
    for suffix in (".yaml", ".json"):
        path = save_profile(profile, tmp_path / f"toy{suffix}", header="estimated")
        assert load_native(path) == profile
    # Throughputs follow the profiler's definitions, per GPU (TP 2 here).
    p, d = profile.prefill, profile.decode
    assert np.allclose(np.asarray(p.isl) / p.ttft_ms * 1000 / 2, p.throughput_per_gpu, rtol=1e-6)
    n = np.asarray(d.kv_usage) * d.max_kv_tokens / np.asarray(d.context_length)
    assert np.allclose(n, np.round(n), atol=1e-6)  # whole sequences
    running = np.minimum(np.round(n), 1024)
    assert np.allclose(running / np.asarray(d.itl_ms) * 1000 / 2, d.throughput_per_gpu, rtol=1e-6)


def test_prefill_is_chunked_at_max_batched_tokens() -> None:
    _, (engine, _) = _profile(SweepSettings(isl_grid=(100, 9000), max_batched_tokens=4096))
    assert engine.prefill_calls == [(100, 4096), (9000, 4096)]
    _, (engine, _) = _profile(SweepSettings(isl_grid=(100, 200), chunked_prefill=False))
    assert engine.prefill_calls == [(100, None), (200, None)]  # (one point is no profile)


def test_monotone_envelope_hides_the_saw_tooth() -> None:
    grid = tuple(range(100, 1000, 50))
    raw, _ = _profile(SweepSettings(isl_grid=grid, monotone=False))
    env, (_, points) = _profile(SweepSettings(isl_grid=grid))
    assert any(b < a for a, b in zip(raw.prefill.ttft_ms, raw.prefill.ttft_ms[1:], strict=False))
    assert env.prefill.ttft_ms == list(np.maximum.accumulate(raw.prefill.ttft_ms))
    raised = zip(env.prefill.ttft_ms, raw.prefill.ttft_ms, strict=True)
    assert points.raised == sum(e > r for e, r in raised)


def test_sequences_above_the_cap_add_kv_usage_but_no_throughput() -> None:
    # 1, 29, 57, 143 and 166 (the most whole requests that fit) sequences, capped at 64
    kv_usage = (0.001, 0.1, 0.2, 0.5, 1.0)
    settings = SweepSettings(context_rows=(350.0,), kv_usage=kv_usage, max_num_seqs=64)
    profile, (engine, _) = _profile(settings, kv_tokens=100_000)
    assert engine.decode_batches == [1, 29, 57, 64, 64]
    d = profile.decode
    # 0.5 and 1.0 of the cache both run 64 sequences: same ITL, same throughput
    assert d.itl_ms[3] == d.itl_ms[4] and d.throughput_per_gpu[3] == d.throughput_per_gpu[4]
    assert d.kv_usage[4] > d.kv_usage[3] > d.kv_usage[2]


def test_kv_usage_fractions_are_clipped_to_whole_requests() -> None:
    settings = SweepSettings(context_rows=(1000.0,), kv_usage=(0.25, 0.9))
    profile, _ = _profile(settings, kv_tokens=100_000)
    d = profile.decode
    assert d.kv_usage[0] == pytest.approx(0.25)
    # 0.9 of the cache is 90 requests at 1000 tokens, but a request holds isl + osl = 1250
    # tokens at its end: 80 whole requests fit.
    assert d.kv_usage[1] == pytest.approx(80 * 1000 / 100_000)


def test_rows_whose_request_does_not_fit_are_skipped_with_a_warning() -> None:
    settings = SweepSettings(context_rows=(350.0, 8000.0))
    with pytest.warns(UserWarning, match=r"decode context rows \[8000.0\] skipped"):
        profile, (_, points) = _profile(settings, kv_tokens=5000)
    assert set(profile.decode.context_length) == {350.0} and points.skipped_rows == [8000.0]
    with pytest.raises(ProfileError, match="holds no request at any decode context row"):
        _profile(SweepSettings(context_rows=(8000.0,)), kv_tokens=5000)


# --- the optional extra and the command line ------------------------------------------------


def test_missing_package_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiconfigurator_core", None)
    with pytest.raises(AiconfiguratorNotInstalled) as info:
        generate("h200_sxm", "LLAMA3.1_8B")
    assert isinstance(info.value, ProfileError)
    assert str(info.value).endswith(PIP) and "\n" not in str(info.value)


def test_cli_without_the_package_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "aiconfigurator_core", None)
    out = tmp_path / "aic.yaml"
    assert main(["generate", "--system", "h200_sxm", "--model", "LLAMA3.1_8B", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: aiconfigurator-core is not installed") and PIP in err
    assert err.count("\n") == 1 and not out.exists()
    assert main(["generate", "--list"]) == 2
    assert PIP in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--model", "LLAMA3.1_8B", "x.yaml"], "generate needs --system"),
        (["--system", "h200_sxm", "x.yaml"], "generate needs --model"),
        (["--system", "h200_sxm", "--model", "LLAMA3.1_8B"], "generate needs OUT"),
        (["--system", "h200_sxm", "--model", "M", "x.txt"], "unknown suffix '.txt'"),
        (["--system", "h200_sxm", "--model", "M", "--isl", "100,50", "x.yaml"], "isl_grid"),
    ],
)
def test_cli_argument_errors_are_one_line(
    args: list[str],
    needle: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["generate", *args]) == 2
    assert not list(tmp_path.iterdir())
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--tp", "two"], "argument --tp: invalid int value: 'two'"),
        (["--isl", "100,x"], "argument --isl: expected comma-separated numbers: 100,x"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_cli_flag_errors_are_one_line_too(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--system", "h200_sxm", "--model", "M", *args, "x.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1


@pytest.mark.slow  # a subprocess: a fresh interpreter shows what importing pulls in
def test_importing_the_profiles_package_does_not_import_aiconfigurator() -> None:
    code = (
        "import sys\n"
        "import sla_planner.profiles, sla_planner.profiles.__main__\n"
        "import sla_planner.profiles.generate, sla_planner.profiles.sweep\n"
        "print(sorted(m for m in sys.modules if m.startswith('aiconfigurator')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
