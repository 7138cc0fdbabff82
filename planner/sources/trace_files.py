"""Trace files: detect the format from the content and load it. Bad rows are one clear error
naming the file, the line and the fix.

Formats (detected from the content, not the file name; gzip is read transparently):
- Mooncake JSONL: one JSON object a line with `timestamp` (ms from the trace start),
  `input_length`, `output_length` (other keys such as `hash_ids` are ignored).
- Azure CSV: `TIMESTAMP` (UTC text, e.g. "2023-11-16 18:15:46.6805900"), `ContextTokens`,
  `GeneratedTokens`, one row per request.
- Aggregate CSV: `timestamp` (unix seconds, bin start), `requests`, `isl_mean`, `osl_mean`,
  one row per bin of any fixed width (inferred from the timestamps; missing bins = no traffic).
- Count CSV: `Time` (UTC text, bin start), `TIMESTAMP` (= request count in the bin). No token
  counts: ISL/OSL come from another per-request trace (`tokens_from`).
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import math
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sla_planner.sources.trace_lines import FORMAT_HELP as _FORMAT_HELP
from sla_planner.sources.trace_lines import Lines, TraceError, trace_lines

FORMATS = ("mooncake", "azure", "aggregate", "counts")
__all__ = ["FORMATS", "BinnedTrace", "RequestTrace", "Trace", "TraceError", "load_trace"]

# Rows one trace may hold: each costs 24 bytes as arrays (more while parsing), so 50M rows is
# ~1.2 GB -- a month of a busy deployment's requests. Longer traces: aggregate them into an
# aggregate CSV (counts and mean lengths per bin), which the dry run replays the same way.
MAX_TRACE_ROWS = 50_000_000
# Largest number a trace field may hold. Absurd values below it (a 1e18-token request) load, for
# the planner's demand guard to clip; above it sums and squares of a few rows overflow to inf.
MAX_TRACE_VALUE = 1e20
# Latest time a trace may name: the end of year 9999, the last one a date can show (the dry
# run prints its range as ISO dates; a Mooncake row at 1e18 ms is the year 31,690,708).
MAX_TIMESTAMP_S = 253_402_300_799.0


@dataclass(frozen=True, eq=False)
class RequestTrace:
    """One row per request: arrival time (unix seconds, sorted) and token counts."""

    path: str
    format: str
    arrival_s: np.ndarray
    isl: np.ndarray
    osl: np.ndarray

    has_tokens = True

    @property
    def start(self) -> float:
        return float(self.arrival_s[0])

    @property
    def end(self) -> float:
        """Just after the last arrival, so [start, end) holds every request."""
        return float(np.nextafter(self.arrival_s[-1], math.inf))

    @property
    def total_requests(self) -> float:
        return float(self.arrival_s.size)


@dataclass(frozen=True, eq=False)
class BinnedTrace:
    """One row per fixed-width bin: request count and (optionally) mean ISL/OSL."""

    path: str
    format: str
    bin_start_s: np.ndarray  # sorted, multiples of bin_s apart
    bin_s: float
    requests: np.ndarray
    isl_mean: np.ndarray | None  # NaN where requests == 0; None for count-only traces
    osl_mean: np.ndarray | None
    lines: np.ndarray | None = None  # the file line of each row (for messages)

    @property
    def has_tokens(self) -> bool:
        return self.isl_mean is not None

    @property
    def start(self) -> float:
        return float(self.bin_start_s[0])

    @property
    def end(self) -> float:
        return float(self.bin_start_s[-1] + self.bin_s)

    @property
    def total_requests(self) -> float:
        return float(self.requests.sum())


Trace = RequestTrace | BinnedTrace


def load_trace(path: str | Path) -> Trace:
    """Read a trace file of any supported format. Raises TraceError with file:line and a fix."""
    p = Path(path)
    with trace_lines(p) as lines:
        head: list[tuple[int, str]] = []
        for item in lines:
            head.append(item)
            if item[1].strip():
                break
        if not head or not head[-1][1].strip():
            raise TraceError(f"{p}: the file is empty; expected {_FORMAT_HELP}")
        first = head[-1][1]
        _check_text(p, head[-1][0], first)
        every = itertools.chain(head, lines)
        if first.lstrip().startswith("{"):
            return _read_mooncake(p, every)
        try:
            header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([first]))]
        except csv.Error as e:
            raise TraceError(
                f"{p}:{head[-1][0]}: unreadable header ({e}); expected {_FORMAT_HELP}"
            ) from None
        cols = {h.lower() for h in header}
        if {"timestamp", "contexttokens", "generatedtokens"} <= cols:
            return _read_azure(p, every)
        if {"timestamp", "requests", "isl_mean", "osl_mean"} <= cols:
            return _read_aggregate(p, every)
        if {"time", "timestamp"} <= cols:
            return _read_counts(p, every)
    raise TraceError(
        f"{p}:1: unrecognised trace format (header {','.join(header)[:120]!r}); "
        f"expected {_FORMAT_HELP}"
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _check_text(p: Path, line: int, text: str) -> None:
    """A first line with control bytes (NUL...) is binary data, whatever it decodes as."""
    m = _CONTROL.search(text)
    if m:
        raise TraceError(
            f"{p}:{line}: binary data (byte 0x{ord(m.group()):02x}), not a text trace; "
            f"expected {_FORMAT_HELP}"
        )


def _text_of(lines: Lines, seen: list[int]) -> Iterator[str]:
    for line, text in lines:
        seen[0] = line
        yield text


def _csv_rows(p: Path, lines: Lines, required: dict[str, str]) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, [values of `required` columns in order]); header matched
    case-insensitively. `required` maps lower-case name -> name shown in messages."""
    seen = [0]
    reader = csv.reader(_text_of(lines, seen))
    header: list[str] | None = None
    idx: list[int] = []
    rows = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # a field over the csv module's limit, a stray quote...
            raise TraceError(
                f"{p}:{seen[0]}: unreadable CSV row ({e}); fix or delete the row"
            ) from None
        if not row or all(not c.strip() for c in row):
            continue
        line = seen[0]
        if header is None:
            header = [h.strip().lstrip("\ufeff").lower() for h in row]
            idx = [header.index(k) for k in required]
            continue
        if len(row) < len(header):
            raise TraceError(
                f"{p}:{line}: expected {len(header)} columns, found {len(row)}; "
                "fix or delete the truncated row"
            )
        rows += 1
        _check_rows(p, line, rows)
        yield line, [row[i].strip() for i in idx]


def _check_rows(p: Path, line: int, rows: int) -> None:
    if rows > MAX_TRACE_ROWS:
        raise TraceError(
            f"{p}:{line}: more than {MAX_TRACE_ROWS:,} rows; replay a shorter trace or aggregate "
            "it into an aggregate CSV (timestamp, requests, isl_mean, osl_mean)"
        )


def _number(p: Path, line: int, name: str, value: object, *, integer_ok: bool = True) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TraceError(f"{p}:{line}: {name} {value!r} is not a number; fix the row") from None
    if not math.isfinite(x) or x < 0:
        raise TraceError(f"{p}:{line}: {name} {value!r} must be a finite number >= 0; fix the row")
    if x > MAX_TRACE_VALUE:
        raise TraceError(
            f"{p}:{line}: {name} {value!r} is beyond any real trace (at most "
            f"{MAX_TRACE_VALUE:g}); fix the row"
        )
    return x


def _timestamp(p: Path, line: int, name: str, value: object, unit_s: float = 1.0) -> float:
    """A time field in units of `unit_s` seconds -> unix seconds, at most MAX_TIMESTAMP_S."""
    t = _number(p, line, name, value) * unit_s
    if t > MAX_TIMESTAMP_S:
        unit = "ms" if unit_s == 1e-3 else "s"
        raise TraceError(
            f"{p}:{line}: {name} {value!r} ({unit}) is past the year 9999 (at most "
            f"{MAX_TIMESTAMP_S / unit_s:.6g} {unit}); fix the row"
        )
    return t


_TS_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?(Z|[+-]00:?00)?$"
)


@functools.lru_cache(maxsize=4096)
def _day_epoch(day: str) -> float:
    # Traces hold few distinct days; caching the date part makes parsing ~3x faster.
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()


def parse_utc_timestamp(text: str) -> float:
    """'YYYY-MM-DD HH:MM:SS[.fffffff]' (any number of fractional digits, as Azure writes 7)
    -> unix seconds, read as UTC. Raises ValueError when the text is not of that form."""
    m = _TS_RE.match(text.strip())
    if m is None:
        raise ValueError(text)
    day, h, mi, s, frac, _tz = m.groups()
    h_, mi_, s_ = int(h), int(mi), int(s)
    if h_ > 23 or mi_ > 59 or s_ > 60:
        raise ValueError(text)
    whole = _day_epoch(day) + h_ * 3600 + mi_ * 60 + s_
    return whole + (int(frac) / 10 ** len(frac) if frac else 0.0)


def _time(p: Path, line: int, name: str, value: str) -> float:
    try:
        return parse_utc_timestamp(value)
    except ValueError:
        raise TraceError(
            f"{p}:{line}: {name} {value!r} is not a date-time like '2023-11-16 18:15:46.6805900' "
            "(read as UTC); fix the row"
        ) from None


def _request_trace(p: Path, fmt: str, t: array, isl: array, osl: array) -> Trace:
    if not t:
        raise TraceError(f"{p}: the trace has a header but no requests; use a non-empty trace")
    ta, ia, oa = (np.frombuffer(a, dtype=float).copy() for a in (t, isl, osl))
    order = np.argsort(ta, kind="stable")  # tolerate out-of-order rows
    return RequestTrace(str(p), fmt, ta[order], ia[order], oa[order])


def _read_mooncake(p: Path, lines: Iterable[tuple[int, str]]) -> Trace:
    t, isl, osl = array("d"), array("d"), array("d")
    for line, raw in lines:
        if not raw.strip():
            continue
        _check_rows(p, line, len(t) + 1)
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as e:
            raise TraceError(
                f"{p}:{line}: invalid JSON ({e.msg}); fix or delete the line"
            ) from None
        if not isinstance(rec, dict):
            raise TraceError(f"{p}:{line}: expected a JSON object per line; fix the line")
        missing = [k for k in ("timestamp", "input_length", "output_length") if k not in rec]
        if missing:
            raise TraceError(
                f"{p}:{line}: missing {', '.join(missing)}; Mooncake lines need timestamp (ms), "
                "input_length and output_length"
            )
        t.append(_timestamp(p, line, "timestamp", rec["timestamp"], unit_s=1e-3))
        isl.append(_number(p, line, "input_length", rec["input_length"]))
        osl.append(_number(p, line, "output_length", rec["output_length"]))
    return _request_trace(p, "mooncake", t, isl, osl)


def _read_azure(p: Path, lines: Lines) -> Trace:
    t, isl, osl = array("d"), array("d"), array("d")
    cols = {
        "timestamp": "TIMESTAMP",
        "contexttokens": "ContextTokens",
        "generatedtokens": "GeneratedTokens",
    }
    for line, (ts, ctx, gen) in _csv_rows(p, lines, cols):
        t.append(_time(p, line, "TIMESTAMP", ts))
        isl.append(_number(p, line, "ContextTokens", ctx))
        osl.append(_number(p, line, "GeneratedTokens", gen))
    return _request_trace(p, "azure", t, isl, osl)


def _bin_width(p: Path, starts: np.ndarray, lines: list[int]) -> float:
    if starts.size < 2:
        raise TraceError(
            f"{p}: a binned trace needs at least two rows to infer the bin width; add rows"
        )
    d = np.diff(starts)
    if np.any(d <= 0):
        line = lines[int(np.argmax(d <= 0)) + 1]
        raise TraceError(
            f"{p}:{line}: bin start not after the previous one; sort the rows by time and drop duplicates"
        )
    width = float(d.min())
    # Gaps (missing bins) are fine; a bin start off the grid is not.
    off = np.abs(d / width - np.round(d / width)) > 1e-6
    if np.any(off):
        line = lines[int(np.argmax(off)) + 1]
        raise TraceError(
            f"{p}:{line}: bin start is not a whole number of bins ({width:g} s) after the "
            "previous one; use one fixed bin width"
        )
    return width


def _binned(
    p: Path,
    fmt: str,
    lines: list[int],
    starts: list[float],
    req: list[float],
    isl: list[float] | None,
    osl: list[float] | None,
) -> Trace:
    if not starts:
        raise TraceError(f"{p}: the trace has a header but no rows; use a non-empty trace")
    s = np.asarray(starts)
    width = _bin_width(p, s, lines)
    r = np.asarray(req)
    ia = oa = None
    if isl is not None and osl is not None:
        ia, oa = np.asarray(isl), np.asarray(osl)
        ia[r == 0] = np.nan
        oa[r == 0] = np.nan
    return BinnedTrace(str(p), fmt, s, width, r, ia, oa, np.asarray(lines, dtype=np.int64))


def _read_aggregate(p: Path, source: Lines) -> Trace:
    lines: list[int] = []
    starts: list[float] = []
    req: list[float] = []
    isl: list[float] = []
    osl: list[float] = []
    cols = {
        "timestamp": "timestamp",
        "requests": "requests",
        "isl_mean": "isl_mean",
        "osl_mean": "osl_mean",
    }
    for line, (ts, n, i, o) in _csv_rows(p, source, cols):
        lines.append(line)
        starts.append(_timestamp(p, line, "timestamp", ts))
        count = _number(p, line, "requests", n)
        req.append(count)
        if count == 0 and (i.lower() in ("", "nan") or o.lower() in ("", "nan")):
            isl.append(math.nan)
            osl.append(math.nan)
            continue
        isl.append(_number(p, line, "isl_mean", i))
        osl.append(_number(p, line, "osl_mean", o))
    return _binned(p, "aggregate", lines, starts, req, isl, osl)


def _read_counts(p: Path, source: Lines) -> Trace:
    lines: list[int] = []
    starts: list[float] = []
    req: list[float] = []
    for line, (ts, n) in _csv_rows(p, source, {"time": "Time", "timestamp": "TIMESTAMP"}):
        lines.append(line)
        starts.append(_time(p, line, "Time", ts))
        req.append(_number(p, line, "TIMESTAMP (request count)", n))
    return _binned(p, "counts", lines, starts, req, None, None)
