"""Trace files that ended in "internal error" or a MemoryError (issue 10, defect 7) are one
TraceError naming the file and the line, read in bounded memory: fields over the csv module's
limit, lines of hundreds of megabytes, sparse multi-gigabyte files, corrupt gzip."""

from __future__ import annotations

import gzip
import os
import tracemalloc
from pathlib import Path

import pytest
from support.bounded import finishes

from sla_planner.sources.trace_files import TraceError, load_trace
from sla_planner.sources.trace_lines import MAX_LINE_BYTES

AZURE_HEAD = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,10,5\n"


def _load_bounded(path: Path, memory_limit: int = 64 << 20) -> str:
    """The TraceError message; asserts the attempt finished and peaked under memory_limit."""
    tracemalloc.start()
    try:
        with pytest.raises(TraceError) as err:
            finishes(lambda: load_trace(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < memory_limit, f"peaked at {peak / 2**20:.0f} MiB"
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


def test_a_field_over_the_csv_module_limit(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text(AZURE_HEAD + "2023-11-16 18:15:47.00,1" + "0" * 200_000 + ",5\n")
    message = _load_bounded(p)
    assert ":3:" in message and "field" in message and "fix or delete" in message


def test_a_200_mb_line(tmp_path):
    p = tmp_path / "long-line.csv"
    p.write_text(AZURE_HEAD)
    os.truncate(p, 200 << 20)  # sparse: the rest of the file is one line of NUL bytes
    message = _load_bounded(p)
    assert ":3:" in message and f"longer than {MAX_LINE_BYTES >> 20} MiB" in message


def test_a_sparse_2_gb_file(tmp_path):
    p = tmp_path / "sparse.csv"
    p.touch()
    os.truncate(p, 2 << 30)
    message = _load_bounded(p)
    assert ":1:" in message and "longer than" in message


def test_a_200_mb_line_inside_gzip(tmp_path):
    p = tmp_path / "long-line.csv.gz"
    with gzip.open(p, "wb", compresslevel=1) as f:
        f.write(AZURE_HEAD.encode())
        chunk = b"9" * (1 << 20)
        for _ in range(200):
            f.write(chunk)
    assert ":3:" in _load_bounded(p)


@pytest.mark.parametrize(
    "make",
    [
        lambda raw: raw[:2] + b"\x08\x00" + b"\x00" * 6 + b"junk that is not deflate" * 40,
        lambda raw: raw[: len(raw) // 2],  # truncated download
        lambda raw: raw[:-8] + b"\x00" * 8,  # wrong CRC and length
        lambda raw: b"\x1f\x8b",  # just the magic
    ],
    ids=["not-deflate", "truncated", "bad-crc", "magic-only"],
)
def test_a_corrupt_gzip(tmp_path, make):
    body = (AZURE_HEAD + "2023-11-16 18:15:47.00,3,4\n" * 5000).encode()
    p = tmp_path / "corrupt.csv.gz"
    p.write_bytes(make(gzip.compress(body)))
    assert "gzip" in _load_bounded(p)


def test_a_good_gzip_still_loads(tmp_path):
    p = tmp_path / "ok.csv.gz"
    p.write_bytes(gzip.compress((AZURE_HEAD + "2023-11-16 18:15:47.00,3,4\n").encode()))
    assert load_trace(p).total_requests == 2


def test_crlf_and_quoted_fields_still_parse(tmp_path):
    p = tmp_path / "crlf.csv"
    p.write_bytes(b'TIMESTAMP,ContextTokens,GeneratedTokens\r\n"2023-11-16 18:15:46.68","10",5\r\n')
    tr = load_trace(p)
    assert tr.total_requests == 1 and float(tr.isl[0]) == 10.0


def test_not_utf8_names_the_line(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes(AZURE_HEAD.encode() + b"2023-11-16 18:15:47.00,3,4\xe9\n")
    message = _load_bounded(p)
    assert ":3:" in message and "not UTF-8" in message


def test_numbers_that_would_overflow_the_sums_are_refused(tmp_path):
    p = tmp_path / "huge.csv"
    p.write_text(AZURE_HEAD + "2023-11-16 18:15:47.00,1e308,5\n2023-11-16 18:15:48.00,1e308,5\n")
    message = _load_bounded(p)
    assert ":3:" in message and "ContextTokens" in message and "1e+20" in message


def test_a_1e18_token_request_is_still_a_trace(tmp_path):
    """Absurd but finite: kept, so the planner's demand guard (not the loader) handles it."""
    p = tmp_path / "outlier.csv"
    p.write_text(AZURE_HEAD + "2023-11-16 18:15:47.00,100,1000000000000000000\n")
    assert float(load_trace(p).osl.max()) == 1e18


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        (
            "mc.jsonl",
            '{"timestamp": 0, "input_length": 5, "output_length": 1}\n'
            '{"timestamp": 1e18, "input_length": 5, "output_length": 1}\n',
            ":2: timestamp",
        ),
        (
            "agg.csv",
            "timestamp,requests,isl_mean,osl_mean\n0,1,2,3\n60,1,2,3\n1e18,1,2,3\n",
            ":4: timestamp",
        ),
    ],
    ids=["mooncake-ms", "aggregate-s"],
)
def test_a_timestamp_past_year_9999_names_the_row(tmp_path, name, text, where):
    """Issue 18 item 5: a Mooncake row at 1e18 ms loaded, and the dry run's summary ended in
    'internal error (ValueError: year 31690708 is out of range)'."""
    p = tmp_path / name
    p.write_text(text)
    message = _load_bounded(p)
    assert where in message and "9999" in message and "fix the row" in message
