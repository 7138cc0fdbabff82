"""Write metric history as OpenMetrics text, for `promtool tsdb create-blocks-from openmetrics`.

Tests use this to turn a real request trace into the counters and histograms an inference
frontend would have exported, sampled as Prometheus would have scraped them, then backfill a
real Prometheus with it (see `support.prometheus_server`).

What promtool needs (and this writer guarantees):

* timestamps in SECONDS (floats allowed), ascending within each series;
* all samples of one metric family contiguous, one ``# TYPE`` line per family, and the file
  ending with ``# EOF``;
* counters exposed as ``<family>_total``; histograms as ``<family>_bucket{le=...}`` (ascending
  ``le``, ending with ``+Inf``), ``<family>_count`` and ``<family>_sum``.

Metric names follow the engines' exporters (no dependency on the planner's presets, so a wrong
name in a preset fails the tests): see `DYNAMO` and `VLLM`.

Typical use::

    hist = request_history(arrivals, isl, osl, scrape_times, ttft_s=..., itl_s=...)
    w = OpenMetricsWriter()
    add_request_history(w, hist, DYNAMO, labels={"model": "llama", "dynamo_namespace": "ns"})
    w.write(tmp_path / "history.om")

The counter value at scrape time T counts the requests that ARRIVED strictly before T, and the
token and latency histograms attribute each request to its arrival time. So the difference of
two scrapes at T1 < T2 is exactly the requests arriving in [T1, T2): the same binning a trace
file gets in `sla_planner.sources.trace_source` (a real exporter records OSL and latencies at completion instead;
the test data makes that choice so the two dry runs are comparable exactly).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- engine names


@dataclass(frozen=True)
class MetricNames:
    """Family names (no `_total` / `_bucket` suffix) an engine exports."""

    requests: str  # counter
    isl: str  # histogram of input tokens per request
    osl: str  # histogram of output tokens per request
    ttft: str  # histogram, seconds
    itl: str  # histogram, seconds


DYNAMO = MetricNames(
    requests="dynamo_frontend_requests",
    isl="dynamo_frontend_input_sequence_tokens",
    osl="dynamo_frontend_output_sequence_tokens",
    ttft="dynamo_frontend_time_to_first_token_seconds",
    itl="dynamo_frontend_inter_token_latency_seconds",
)

VLLM = MetricNames(
    requests="vllm:request_success",
    isl="vllm:request_prompt_tokens",
    osl="vllm:request_generation_tokens",
    ttft="vllm:time_to_first_token_seconds",
    itl="vllm:inter_token_latency_seconds",
)

# Bucket bounds of the same shape as the exporters' defaults.
TOKEN_BUCKETS = (1, 10, 50, 100, 200, 500, 1000, 2000, 4000, 8000, 16000, 32000)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0)
ITL_BUCKETS = (0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5)


# --------------------------------------------------------------------------- writer


def _fmt(x: float) -> str:
    """Exact, compact number text: integers without a dot, floats round-trippable."""
    x = float(x)
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if math.isnan(x):
        return "NaN"
    if x == int(x) and abs(x) < 2**53:
        return str(int(x))
    return repr(x)


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    esc = (
        (k, str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
        for k, v in labels.items()
    )
    return "{" + ",".join(f'{k}="{v}"' for k, v in esc) + "}"


@dataclass
class _Family:
    name: str
    type: str
    help: str
    lines: list[str] = field(default_factory=list)


class OpenMetricsWriter:
    """Collects metric families and renders them in the order promtool requires."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def _family(self, name: str, type_: str, help_: str) -> _Family:
        fam = self._families.get(name)
        if fam is None:
            fam = self._families[name] = _Family(name, type_, help_)
        elif fam.type != type_:
            raise ValueError(f"{name} already added as a {fam.type}")
        return fam

    def counter(
        self,
        name: str,
        labels: Mapping[str, str],
        times: Sequence[float],
        values: Sequence[float],
        help: str = "",
    ) -> None:
        """One counter series `<name>_total{labels}` sampled at `times` (seconds, ascending)."""
        t, v = _check_series(name, times, values)
        fam = self._family(name, "counter", help)
        lab = _labels(labels)
        fam.lines.extend(
            f"{name}_total{lab} {_fmt(y)} {_fmt(x)}" for x, y in zip(t, v, strict=True)
        )

    def gauge(
        self,
        name: str,
        labels: Mapping[str, str],
        times: Sequence[float],
        values: Sequence[float],
        help: str = "",
    ) -> None:
        t, v = _check_series(name, times, values)
        fam = self._family(name, "gauge", help)
        lab = _labels(labels)
        fam.lines.extend(f"{name}{lab} {_fmt(y)} {_fmt(x)}" for x, y in zip(t, v, strict=True))

    def histogram(
        self,
        name: str,
        labels: Mapping[str, str],
        times: Sequence[float],
        bounds: Sequence[float],
        bucket_counts: np.ndarray,
        sums: Sequence[float],
        help: str = "",
    ) -> None:
        """One histogram series. `bucket_counts[i, j]` is the cumulative count of observations
        <= bounds[j] at times[i]; a +Inf bucket (= _count) is added from the last column plus
        any overflow given as an extra column (shape (T, len(bounds) + 1))."""
        t = np.asarray(times, dtype=float)
        bc = np.asarray(bucket_counts, dtype=float)
        if bc.shape != (t.size, len(bounds) + 1):
            raise ValueError(f"{name}: bucket_counts must be (times, len(bounds) + 1 for +Inf)")
        if list(bounds) != sorted(bounds):
            raise ValueError(f"{name}: bucket bounds must ascend")
        _check_series(name, t, np.asarray(sums, dtype=float))
        fam = self._family(name, "histogram", help)
        les = [_fmt(b) for b in bounds] + ["+Inf"]
        for i, ts in enumerate(t):
            stamp = _fmt(ts)
            for j, le in enumerate(les):
                lab = _labels({**labels, "le": le})
                fam.lines.append(f"{name}_bucket{lab} {_fmt(bc[i, j])} {stamp}")
            lab = _labels(labels)
            fam.lines.append(f"{name}_count{lab} {_fmt(bc[i, -1])} {stamp}")
            fam.lines.append(f"{name}_sum{lab} {_fmt(sums[i])} {stamp}")

    def render(self) -> str:
        out: list[str] = []
        for fam in self._families.values():
            out.append(f"# TYPE {fam.name} {fam.type}")
            if fam.help:
                out.append(f"# HELP {fam.name} {fam.help}")
            out.extend(fam.lines)
        out.append("# EOF")
        return "\n".join(out) + "\n"

    def write(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.render())
        return p


def _check_series(
    name: str, times: Sequence[float], values: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.shape != v.shape or t.ndim != 1:
        raise ValueError(f"{name}: times and values must be 1-D and the same length")
    if t.size and np.any(np.diff(t) <= 0):
        raise ValueError(f"{name}: timestamps must strictly ascend (promtool rejects otherwise)")
    return t, v


# --------------------------------------------------------------------------- trace -> history


@dataclass(frozen=True)
class RequestHistory:
    """Cumulative per-scrape state of an exporter that served a request trace."""

    times: np.ndarray  # scrape times, seconds
    requests: np.ndarray  # counter value at each scrape
    isl: tuple[np.ndarray, np.ndarray]  # (bucket_counts (T, B+1), sums (T,))
    osl: tuple[np.ndarray, np.ndarray]
    ttft: tuple[np.ndarray, np.ndarray] | None
    itl: tuple[np.ndarray, np.ndarray] | None


def scrape_times(first: float, last: float, every_s: float) -> np.ndarray:
    """Scrape instants on the grid k * every_s covering [first, last] (one before `first`, so
    the counters are seen at their starting value, and one at or after `last`)."""
    lo = math.floor(first / every_s) * every_s
    hi = math.ceil(last / every_s) * every_s
    if hi <= last:
        hi += every_s
    return lo + every_s * np.arange(round((hi - lo) / every_s) + 1)


def _cumulative_histogram(
    arrivals: np.ndarray,
    values: np.ndarray,
    weights: np.ndarray,
    times: np.ndarray,
    bounds: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """Bucket counts and sums at each scrape time of observations that arrived before it."""
    seen = np.searchsorted(arrivals, times, side="left")  # arrivals strictly before t
    cols = []
    for b in (*bounds, math.inf):
        c = np.concatenate([[0.0], np.cumsum(weights * (values <= b))])
        cols.append(c[seen])
    sums = np.concatenate([[0.0], np.cumsum(weights * values)])[seen]
    return np.stack(cols, axis=1), sums


def request_history(
    arrivals: np.ndarray,
    isl: np.ndarray,
    osl: np.ndarray,
    times: np.ndarray,
    ttft_s: np.ndarray | None = None,
    itl_s: np.ndarray | None = None,
) -> RequestHistory:
    """Counters and histograms at each of `times` for requests arriving at `arrivals` (sorted).

    ITL is observed once per output token (weight = OSL), as the engines do.
    """
    a = np.asarray(arrivals, dtype=float)
    if a.size and np.any(np.diff(a) < 0):
        raise ValueError("arrivals must be sorted")
    ones = np.ones_like(a)
    seen = np.searchsorted(a, times, side="left")
    hist_isl = _cumulative_histogram(a, np.asarray(isl, float), ones, times, TOKEN_BUCKETS)
    hist_osl = _cumulative_histogram(a, np.asarray(osl, float), ones, times, TOKEN_BUCKETS)
    ttft = itl = None
    if ttft_s is not None:
        ttft = _cumulative_histogram(a, np.asarray(ttft_s, float), ones, times, TTFT_BUCKETS)
    if itl_s is not None:
        w = np.asarray(osl, dtype=float)
        itl = _cumulative_histogram(a, np.asarray(itl_s, float), w, times, ITL_BUCKETS)
    return RequestHistory(times, seen.astype(float), hist_isl, hist_osl, ttft, itl)


def add_request_history(
    w: OpenMetricsWriter,
    hist: RequestHistory,
    names: MetricNames,
    labels: Mapping[str, str],
    offset: float = 0.0,
) -> None:
    """Add one exporter's series (with `labels`) to the writer. `offset` is added to the
    request counter's values, e.g. to model a counter that had already counted requests
    before the history starts."""
    t = hist.times
    w.counter(names.requests, labels, t, hist.requests + offset, help="requests")
    w.histogram(names.isl, labels, t, TOKEN_BUCKETS, *hist.isl, help="input tokens")
    w.histogram(names.osl, labels, t, TOKEN_BUCKETS, *hist.osl, help="output tokens")
    if hist.ttft is not None:
        w.histogram(names.ttft, labels, t, TTFT_BUCKETS, *hist.ttft, help="TTFT seconds")
    if hist.itl is not None:
        w.histogram(names.itl, labels, t, ITL_BUCKETS, *hist.itl, help="ITL seconds")


def synthetic_latencies(isl: np.ndarray, osl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic per-request TTFT and ITL (seconds) that grow with the prompt, so observed
    latency columns have realistic, checkable values. The trace has no latencies; these are
    test data, not measurements."""
    isl = np.asarray(isl, dtype=float)
    ttft = 0.02 + 4e-5 * isl  # ~66 ms at the conv trace's mean ISL
    itl = 0.008 + 2e-6 * (isl + np.asarray(osl, dtype=float) / 2)
    return ttft, itl
