"""Bad flags, traces and profiles: one `sla-planner: error:` line, the right exit code, and
never a traceback. The CLI runs as a separate process, as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses

CONV = "AzureLLMInferenceTrace_conv.csv"
COUNTS = "azure2024_conversation_10s_counts.csv"


def one_error_line(proc, code: int) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sla-planner: error: ")
    return lines[0]


def test_unknown_flag_is_a_usage_error(cli, tmp_path):
    line = one_error_line(cli("dry-run", "--frobnicate", "3"), 2)
    assert "unrecognized arguments: --frobnicate" in line and "--help" in line


def test_unknown_command_is_a_usage_error(cli):
    line = one_error_line(cli("fly"), 2)
    assert "invalid choice: 'fly'" in line


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--ttft-ms", "-5"], "--ttft-ms: '-5' is not a number > 0"),
        (["--itl-ms", "abc"], "--itl-ms: 'abc' is not a number > 0"),
        (["--max-gpus", "0"], "--max-gpus: '0' is not an integer > 0"),
        (["--min-prefill", "3", "--max-prefill", "1"], "--min-prefill/--max-prefill"),
        (["--start", "yesterday"], "--start 'yesterday' is not a time"),
        (["--start", "2020-01-01T00:00:00"], "--start 2020-01-01T00:00:00 is outside the data"),
        (["--end", "+1d"], "--end +1d is past the end of the data"),
        (["--prefill-gpus", "2"], "--prefill-gpus 2 does not match profile"),
        (["--attainment", "1.5"], "--attainment: '1.5' is not an attainment target"),
        (["--attainment", "100"], "--attainment: '100' is not an attainment target"),
        (["--attainment", "0.3"], "between 50% and 100%"),
        (["--attainment", "high"], "--attainment: 'high' is not an attainment target"),
    ],
)
def test_bad_settings_exit_2(cli, tmp_path, flags, needle):
    line = one_error_line(cli("dry-run", *flags, "--out", str(tmp_path / "o")), 2)
    assert needle in line
    assert not (tmp_path / "o" / "decisions.csv").exists()


def test_out_that_is_a_file_exits_2(cli, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    line = one_error_line(cli("dry-run", "--out", str(f)), 2)
    assert "is not a directory" in line


def test_missing_trace_exits_1(cli, tmp_path):
    line = one_error_line(
        cli("dry-run", "--trace", str(tmp_path / "nope.csv"), "--out", str(tmp_path)), 1
    )
    assert "nope.csv: no such file" in line


def test_malformed_trace_names_line_exits_1(cli, tmp_path, trace_slice):
    good = trace_slice(CONV, 20).read_text().splitlines()
    good[7] = "2023-11-16 18:16:00.1,lots,12"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(good))
    line = one_error_line(cli("dry-run", "--trace", str(bad), "--out", str(tmp_path / "o")), 1)
    assert f"{bad}:8: ContextTokens 'lots' is not a number" in line


def test_empty_trace_exits_1(cli, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    line = one_error_line(cli("dry-run", "--trace", str(empty), "--out", str(tmp_path / "o")), 1)
    assert "empty" in line


def test_count_trace_without_token_source_exits_1(cli, tmp_path, trace_slice):
    counts = trace_slice(COUNTS, 60)
    line = one_error_line(cli("dry-run", "--trace", str(counts), "--out", str(tmp_path / "o")), 1)
    assert "--tokens-from" in line


def test_unknown_profile_exits_1(cli, tmp_path):
    line = one_error_line(cli("dry-run", "--profile", "no-such-profile", "--out", str(tmp_path)), 1)
    assert "no-such-profile" in line


@pytest.mark.parametrize(
    ("name", "content"),
    [("broken.yaml", "name: [unclosed\n  gpu: H200\n"), ("partial.yaml", "name: x\ngpu: H200\n")],
)
def test_malformed_profile_exits_1(cli, tmp_path: Path, name: str, content: str):
    p = tmp_path / name
    p.write_text(content)
    line = one_error_line(cli("dry-run", "--profile", str(p), "--out", str(tmp_path / "o")), 1)
    assert name in line


def test_debug_shows_the_traceback(cli, tmp_path):
    proc = cli("--debug", "dry-run", "--trace", str(tmp_path / "nope.csv"))
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "TraceError" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("sla-planner: error: ")


def test_no_command_prints_help_and_exits_2(cli):
    proc = cli()
    assert proc.returncode == 2 and "dry-run" in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_trace_kinds_exit_1(cli, tmp_path):
    binary = tmp_path / "trace.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    for path, needle in ((tmp_path, "is a directory"), (binary, "binary data")):
        line = one_error_line(cli("dry-run", "--trace", str(path), "--out", str(tmp_path / "o")), 1)
        assert needle in line


def test_profile_directory_without_profiler_output_exits_1(cli, tmp_path):
    empty_dir = tmp_path / "profiler-out"
    empty_dir.mkdir()
    line = one_error_line(
        cli("dry-run", "--profile", str(empty_dir), "--out", str(tmp_path / "o")), 1
    )
    assert "profiler-out" in line
