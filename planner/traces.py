"""Request-trace files as a MetricsSource: read, detect the format, bin into intervals.

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
import gzip
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from planner.metrics_source import MetricsSourceError
from planner.types import DemandSample

FORMATS = ("mooncake", "azure", "aggregate", "counts")
_FORMAT_HELP = (
    "Mooncake JSONL (timestamp, input_length, output_length), Azure CSV (TIMESTAMP, "
    "ContextTokens, GeneratedTokens), aggregate CSV (timestamp, requests, isl_mean, osl_mean) "
    "or count CSV (Time, TIMESTAMP)"
)


class TraceError(ValueError):
    """A trace file could not be read. The message names the file, the line and the fix."""


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


# --------------------------------------------------------------------------- reading


def load_trace(path: str | Path) -> Trace:
    """Read a trace file of any supported format. Raises TraceError with file:line and a fix."""
    p = Path(path)
    text = _read_text(p)
    first = next((ln for ln in text.splitlines() if ln.strip()), None)
    if first is None:
        raise TraceError(f"{p}: the file is empty; expected {_FORMAT_HELP}")
    if first.lstrip().startswith("{"):
        return _read_mooncake(p, text)
    header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([first]))]
    cols = {h.lower() for h in header}
    if {"timestamp", "contexttokens", "generatedtokens"} <= cols:
        return _read_azure(p, text)
    if {"timestamp", "requests", "isl_mean", "osl_mean"} <= cols:
        return _read_aggregate(p, text)
    if {"time", "timestamp"} <= cols:
        return _read_counts(p, text)
    raise TraceError(
        f"{p}:1: unrecognised trace format (header {','.join(header)[:120]!r}); "
        f"expected {_FORMAT_HELP}"
    )


def _read_text(p: Path) -> str:
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise TraceError(f"{p}: no such file; check the --trace path") from None
    except IsADirectoryError:
        raise TraceError(f"{p}: is a directory; pass a trace file") from None
    except OSError as e:
        raise TraceError(
            f"{p}: cannot read ({e.strerror}); check the path and permissions"
        ) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise TraceError(
                f"{p}: corrupt gzip file ({e}); re-download or decompress it"
            ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TraceError(
            f"{p}: not UTF-8 text (byte {e.start}); expected a CSV or JSONL trace: {_FORMAT_HELP}"
        ) from None


def _csv_rows(p: Path, text: str, required: dict[str, str]) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, [values of `required` columns in order]); header matched
    case-insensitively. `required` maps lower-case name -> name shown in messages."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    idx: list[int] = []
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        line = reader.line_num
        if header is None:
            header = [h.strip().lstrip("\ufeff").lower() for h in row]
            idx = [header.index(k) for k in required]
            continue
        if len(row) < len(header):
            raise TraceError(
                f"{p}:{line}: expected {len(header)} columns, found {len(row)}; "
                "fix or delete the truncated row"
            )
        yield line, [row[i].strip() for i in idx]


def _number(p: Path, line: int, name: str, value: object, *, integer_ok: bool = True) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TraceError(f"{p}:{line}: {name} {value!r} is not a number; fix the row") from None
    if not math.isfinite(x) or x < 0:
        raise TraceError(f"{p}:{line}: {name} {value!r} must be a finite number >= 0; fix the row")
    return x


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


def _request_trace(p: Path, fmt: str, t: list[float], isl: list[float], osl: list[float]) -> Trace:
    if not t:
        raise TraceError(f"{p}: the trace has a header but no requests; use a non-empty trace")
    ta, ia, oa = np.asarray(t), np.asarray(isl), np.asarray(osl)
    order = np.argsort(ta, kind="stable")  # tolerate out-of-order rows
    return RequestTrace(str(p), fmt, ta[order], ia[order], oa[order])


def _read_mooncake(p: Path, text: str) -> Trace:
    t: list[float] = []
    isl: list[float] = []
    osl: list[float] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
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
        t.append(_number(p, line, "timestamp", rec["timestamp"]) / 1000.0)
        isl.append(_number(p, line, "input_length", rec["input_length"]))
        osl.append(_number(p, line, "output_length", rec["output_length"]))
    return _request_trace(p, "mooncake", t, isl, osl)


def _read_azure(p: Path, text: str) -> Trace:
    t: list[float] = []
    isl: list[float] = []
    osl: list[float] = []
    cols = {
        "timestamp": "TIMESTAMP",
        "contexttokens": "ContextTokens",
        "generatedtokens": "GeneratedTokens",
    }
    for line, (ts, ctx, gen) in _csv_rows(p, text, cols):
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
    return BinnedTrace(str(p), fmt, s, width, r, ia, oa)


def _read_aggregate(p: Path, text: str) -> Trace:
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
    for line, (ts, n, i, o) in _csv_rows(p, text, cols):
        lines.append(line)
        starts.append(_number(p, line, "timestamp", ts))
        count = _number(p, line, "requests", n)
        req.append(count)
        if count == 0 and (i.lower() in ("", "nan") or o.lower() in ("", "nan")):
            isl.append(math.nan)
            osl.append(math.nan)
            continue
        isl.append(_number(p, line, "isl_mean", i))
        osl.append(_number(p, line, "osl_mean", o))
    return _binned(p, "aggregate", lines, starts, req, isl, osl)


def _read_counts(p: Path, text: str) -> Trace:
    lines: list[int] = []
    starts: list[float] = []
    req: list[float] = []
    for line, (ts, n) in _csv_rows(p, text, {"time": "Time", "timestamp": "TIMESTAMP"}):
        lines.append(line)
        starts.append(_time(p, line, "Time", ts))
        req.append(_number(p, line, "TIMESTAMP (request count)", n))
    return _binned(p, "counts", lines, starts, req, None, None)


# --------------------------------------------------------------------------- binning


def interval_count(start: float, end: float, step_s: float) -> int:
    """ceil((end - start) / step_s), robust to float noise (59.9999999 -> 60, not 61)."""
    return max(0, math.ceil((end - start) / step_s - 1e-9))


class TraceMetricsSource:
    """A MetricsSource over a trace file (dry runs, simulations, benchmarks).

    - Per-request traces are binned exactly: an interval [s, s + step) holds the requests
      arriving in it; ISL/OSL are their means.
    - Binned traces are re-binned to `step_s` assuming arrivals spread uniformly within each
      source bin: a source bin overlapping a fraction f of its width with an interval
      contributes f x its count (and its means weighted by that share). Exact when the step
      is a multiple of the bin width on the same grid.
    - Count-only traces take ISL/OSL from `tokens_from` (a per-request trace): each interval's
      means are those of n (request, ISL, OSL) rows drawn with replacement from it. Draws are
      a pure function of (seed, interval start, step), so any fetch of an interval returns the
      same numbers. For n > 64 the mean of n draws is taken from its normal limit (CLT).
    - `rate_scale` multiplies request counts (token means unchanged).
    - Each sample's `peak_rate` is the highest rate over `peak_window_s` sub-windows of its
      interval (None when the interval is not at least two whole sub-windows, or a binned
      trace is coarser than the sub-window): the burst the interval mean hides.
    - Each sample's `isl_scv` is its prompt-length SCV (see isl_scvs); `prompt_scv=False`
      leaves it out, as a Prometheus source does.
    """

    _EXACT_DRAWS_MAX = 64

    def __init__(
        self,
        trace: Trace,
        tokens_from: Trace | None = None,
        rate_scale: float = 1.0,
        seed: int = 0,
        peak_window_s: float | None = 10.0,
        prompt_scv: bool = True,
    ) -> None:
        if not (rate_scale > 0 and math.isfinite(rate_scale)):
            raise ValueError(f"rate_scale must be a finite number > 0, got {rate_scale}")
        if trace.has_tokens and tokens_from is not None:
            raise TraceError(
                f"{trace.path}: has its own token counts; tokens_from ({tokens_from.path}) is "
                "only for count-only traces; drop it"
            )
        if not trace.has_tokens:
            if tokens_from is None:
                raise TraceError(
                    f"{trace.path}: a count-only trace has no ISL/OSL; pass a per-request trace "
                    "to take them from (--tokens-from, e.g. an Azure or Mooncake trace)"
                )
            if not isinstance(tokens_from, RequestTrace):
                raise TraceError(
                    f"{tokens_from.path}: tokens_from must be a per-request trace (Mooncake JSONL "
                    f"or Azure CSV), not a {tokens_from.format} trace"
                )
        self.trace = trace
        self.tokens_from = tokens_from
        self.rate_scale = float(rate_scale)
        self.seed = int(seed)
        if peak_window_s is not None and not (peak_window_s > 0 and math.isfinite(peak_window_s)):
            raise ValueError(f"peak_window_s must be a finite number > 0, got {peak_window_s}")
        self.peak_window_s = peak_window_s
        self.prompt_scv = prompt_scv

    def time_range(self) -> tuple[float, float] | None:
        return (self.trace.start, self.trace.end)

    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        if not (step_s > 0 and math.isfinite(step_s)):
            raise MetricsSourceError(f"step must be a positive number of seconds, got {step_s}")
        n = interval_count(start, end, step_s)
        counts, isl, osl = self.bin(start, n, step_s)
        peaks = self.peak_rates(start, n, step_s)
        scv = self.isl_scvs(start, n, step_s, counts)
        return [
            DemandSample(
                start=start + i * step_s,
                duration_s=float(step_s),
                requests=float(counts[i]),
                isl_mean=float(isl[i]),
                osl_mean=float(osl[i]),
                peak_rate=None if peaks is None else float(peaks[i]),
                peak_window_s=None if peaks is None else self.peak_window_s,
                isl_scv=None if scv is None or not np.isfinite(scv[i]) else float(scv[i]),
            )
            for i in range(n)
        ]

    def isl_scvs(
        self, start: float, n: int, step_s: float, counts: np.ndarray
    ) -> np.ndarray | None:
        """Prompt-length SCV per interval (NaN where idle): exact for per-request traces; for
        count-only traces, that of the token source their prompts are drawn from; None for
        binned traces with only means."""
        tr = self.trace
        if not self.prompt_scv:
            return None
        if isinstance(tr, RequestTrace):
            return _isl_scv_per_bin(tr, start, n, step_s)
        if isinstance(self.tokens_from, RequestTrace):
            x = self.tokens_from.isl
            m = float(np.mean(x)) if x.size else 0.0
            pooled = float(np.var(x) / (m * m)) if m > 0 else math.nan
            return np.where(counts > 0, pooled, math.nan)
        return None

    def peak_rates(self, start: float, n: int, step_s: float) -> np.ndarray | None:
        """Highest sub-window rate (req/s) per interval, or None where it cannot be resolved."""
        w = self.peak_window_s
        if w is None or n == 0:
            return None
        k = step_s / w
        if k < 2 - 1e-9 or abs(k - round(k)) > 1e-6:
            return None
        if isinstance(self.trace, BinnedTrace) and self.trace.bin_s > w + 1e-9:
            return None  # re-binning would spread the burst out, not find it
        sub = self._trace_bins(start, n * round(k), w)[0]
        return np.asarray(sub, dtype=float).reshape(n, round(k)).max(axis=1) * self.rate_scale / w

    def _trace_bins(
        self, start: float, n: int, step_s: float
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The trace's own (count, mean ISL, mean OSL) per bin, unscaled, tokens not drawn."""
        tr = self.trace
        if isinstance(tr, RequestTrace):
            return _bin_requests(tr, start, n, step_s)
        return _rebin(tr, start, n, step_s)

    def bin(self, start: float, n: int, step_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(count, mean ISL, mean OSL) arrays for n intervals of step_s from `start`."""
        counts, isl, osl = self._trace_bins(start, n, step_s)
        counts = counts * self.rate_scale
        if isl is None or osl is None:
            assert isinstance(self.tokens_from, RequestTrace)
            isl, osl = self._draw_tokens(counts, start, n, step_s)
        return counts, isl, osl

    def _draw_tokens(
        self, counts: np.ndarray, start: float, n: int, step_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        src = self.tokens_from
        assert isinstance(src, RequestTrace)
        pool = np.stack([src.isl, src.osl], axis=1)
        k = np.rint(counts).astype(np.int64)
        k[(counts > 0) & (k == 0)] = 1  # a fractional request still has tokens
        # Absolute interval index: the same interval draws the same tokens whatever the range.
        base = np.rint(start / step_s).astype(np.int64) + np.arange(n, dtype=np.int64)
        key = _mix(np.uint64(self.seed & 0xFFFFFFFF) ^ np.uint64(int(step_s * 1000) << 32))
        means = np.full((n, 2), np.nan)

        small = (k > 0) & (k <= self._EXACT_DRAWS_MAX)
        if small.any():
            ks = k[small]
            owner = np.repeat(np.arange(ks.size), ks)
            j = np.arange(owner.size) - np.repeat(np.cumsum(ks) - ks, ks)
            h = _mix(_mix(base[small][owner].astype(np.uint64) ^ key) + j.astype(np.uint64))
            rows = pool[(h % np.uint64(len(pool))).astype(np.int64)]
            sums = np.zeros((ks.size, 2))
            np.add.at(sums, owner, rows)
            means[small] = sums / ks[:, None]

        large = k > self._EXACT_DRAWS_MAX
        if large.any():
            mu = pool.mean(axis=0)
            cov = np.cov(pool.T) if len(pool) > 1 else np.zeros((2, 2))
            chol = np.linalg.cholesky(cov + np.eye(2) * 1e-9)
            h = _mix(base[large].astype(np.uint64) ^ key ^ np.uint64(0x5BD1E995))
            z = _normals(h)
            m = mu + (z @ chol.T) / np.sqrt(k[large])[:, None]
            means[large] = np.maximum(m, pool.min(axis=0))  # a mean can't be below the minimum
        return means[:, 0], means[:, 1]


def _request_bins(
    tr: RequestTrace, start: float, n: int, step_s: float
) -> tuple[np.ndarray, slice]:
    """Bin index of each request arriving in [start, start + n * step_s), and their rows."""
    end = start + n * step_s
    lo, hi = np.searchsorted(tr.arrival_s, [start, end], side="left")
    t = tr.arrival_s[lo:hi]
    idx = np.minimum(((t - start) // step_s).astype(np.int64), n - 1) if n else t.astype(np.int64)
    return idx, slice(lo, hi)


def _bin_requests(
    tr: RequestTrace, start: float, n: int, step_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx, rows = _request_bins(tr, start, n, step_s)
    counts = np.bincount(idx, minlength=n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        isl = np.bincount(idx, weights=tr.isl[rows], minlength=n) / counts
        osl = np.bincount(idx, weights=tr.osl[rows], minlength=n) / counts
    return counts, isl, osl


def _isl_scv_per_bin(tr: RequestTrace, start: float, n: int, step_s: float) -> np.ndarray:
    idx, rows = _request_bins(tr, start, n, step_s)
    x = tr.isl[rows].astype(float)
    c = np.bincount(idx, minlength=n).astype(float)
    s1 = np.bincount(idx, weights=x, minlength=n)
    s2 = np.bincount(idx, weights=x * x, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / c
        return np.where(mean > 0, np.maximum(s2 / c - mean * mean, 0.0) / (mean * mean), np.nan)


def _rebin(
    tr: BinnedTrace, start: float, n: int, step_s: float
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    # Cumulative count (and token sums) as piecewise-linear functions of time: flat in gaps,
    # linear within a bin. An interval's share is the difference at its edges.
    x = np.empty(2 * tr.bin_start_s.size)
    x[0::2] = tr.bin_start_s
    x[1::2] = tr.bin_start_s + tr.bin_s
    edges = start + step_s * np.arange(n + 1)

    def share(per_bin: np.ndarray) -> np.ndarray:
        y = np.zeros_like(x)
        y[1::2] = np.cumsum(per_bin)
        y[2::2] = y[1:-1:2]
        return np.diff(np.interp(edges, x, y, left=0.0, right=y[-1]))

    counts = np.maximum(share(tr.requests), 0.0)
    if tr.isl_mean is None or tr.osl_mean is None:
        return counts, None, None
    with np.errstate(invalid="ignore", divide="ignore"):
        isl = share(np.nan_to_num(tr.requests * tr.isl_mean)) / counts
        osl = share(np.nan_to_num(tr.requests * tr.osl_mean)) / counts
    tiny = counts <= 1e-9
    counts[tiny] = 0.0
    isl[tiny] = np.nan
    osl[tiny] = np.nan
    return counts, isl, osl


def _mix(x: np.ndarray | np.uint64) -> np.ndarray:
    """splitmix64 finaliser: a fast, well-spread, vectorised hash of uint64 values."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _normals(h: np.ndarray) -> np.ndarray:
    """Two independent standard normals per hash (Box-Muller), shape (len(h), 2)."""
    h2 = _mix(h)
    u1 = ((h >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = ((h2 >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    r = np.sqrt(-2.0 * np.log(u1))
    return np.stack([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], axis=1)
