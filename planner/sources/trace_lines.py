"""A trace file as a stream of numbered text lines, in bounded memory whatever the file holds.

The file is never read whole: gzip is decompressed as it streams, and each line is read with a
length cap, so a 200 MB line, a sparse 2 GB file of NUL bytes or a gzip bomb costs at most
MAX_LINE_BYTES before it is refused. Every failure is a TraceError naming the file (and the
line where there is one) and the fix.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from sla_planner.errors import SlaPlannerError

# The longest line a trace may hold. Real lines are short (Azure ~40 bytes; Mooncake's, with
# its hash_ids, a few KB for a 128k-token prompt); a megabyte is no trace row.
MAX_LINE_BYTES = 1 << 20

FORMAT_HELP = (
    "Mooncake JSONL (timestamp, input_length, output_length), Azure CSV (TIMESTAMP, "
    "ContextTokens, GeneratedTokens), aggregate CSV (timestamp, requests, isl_mean, osl_mean) "
    "or count CSV (Time, TIMESTAMP)"
)


class TraceError(SlaPlannerError, ValueError):
    """A trace file could not be read. The message names the file, the line and the fix."""


Lines = Iterator[tuple[int, str]]


@contextmanager
def trace_lines(p: Path) -> Iterator[Lines]:
    """(line number, text with its newline) for each line of `p`, gzip read transparently."""
    try:
        raw = p.open("rb")
    except FileNotFoundError:
        raise TraceError(f"{p}: no such file; check the --trace path") from None
    except IsADirectoryError:
        raise TraceError(f"{p}: is a directory; pass a trace file") from None
    except OSError as e:
        raise TraceError(
            f"{p}: cannot read ({e.strerror}); check the path and permissions"
        ) from None
    with raw:
        try:
            gzipped = raw.peek(2)[:2] == b"\x1f\x8b"  # type: ignore[attr-defined]
        except OSError as e:
            raise TraceError(
                f"{p}: cannot read ({e.strerror}); check the path and permissions"
            ) from None
        stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw  # type: ignore[assignment]
        yield _numbered(p, stream, gzipped)


def _numbered(p: Path, stream: BinaryIO, gzipped: bool) -> Lines:
    line = 0
    while True:
        line += 1
        try:
            data = stream.readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as e:
            if not gzipped:
                raise TraceError(
                    f"{p}:{line}: cannot read ({e}); check the file and the disk"
                ) from None
            raise TraceError(
                f"{p}:{line}: corrupt gzip file ({e}); re-download it or decompress it"
            ) from None
        if not data:
            return
        if len(data) > MAX_LINE_BYTES:
            raise TraceError(
                f"{p}:{line}: line longer than {MAX_LINE_BYTES >> 20} MiB; not a trace row "
                f"(expected {FORMAT_HELP}): fix or delete it"
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TraceError(
                f"{p}:{line}: not UTF-8 text (byte {e.start} of the line); expected a CSV or "
                f"JSONL trace: {FORMAT_HELP}"
            ) from None
        yield line, text
