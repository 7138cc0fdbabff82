"""A dry run's demand source as the judge's request stream, in bounded memory and time.

The discrete-event judge replays every request, so a count read from a trace row becomes work
and memory in proportion: one row of 1e18 requests asked numpy for 7 EiB. Here:
- a range whose requests (rate-scaled) exceed MAX_JUDGED_REQUESTS is refused up front with a
  TraceError naming the heaviest row (or the total, for a rate-scaled per-request trace);
- the source is binned an hour at a time (never the whole range at 10 s at once: a day-long
  interval over decades is ~1e8 bins);
- an hour is generated in chunks of at most CHUNK_REQUESTS requests (a bin heavier than that
  is split into equal sub-bins by a multinomial draw: the same law as uniform arrivals in it).

Requests replayed: a per-request trace at rate scale 1 gives its own arrivals and lengths;
otherwise each 10 s bin gets floor(count) requests plus one with probability equal to the
fractional part, at uniform times inside the bin, with lengths drawn (`des_lengths`):
- a rate-scaled per-request trace, or a count-only trace: (ISL, OSL) pairs drawn jointly from the
  trace's requests (or its `tokens_from` trace);
- an aggregate trace (per-bin means) with `tokens_from`: pairs from that trace, scaled to each
  hour's mean;
- an aggregate trace alone: the default lognormal around each bin's means (assumed: the stream
  says so, and the dry run warns).
Prometheus history comes from `des_prometheus` (the same bins at the scrape resolution, lengths
from the token histograms). Hour j of the range uses its own generator seeded by (seed, j).
The stream records which lengths it gave how many requests (`RequestStream.lengths`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from sla_planner.evaluation.des import Requests
from sla_planner.evaluation.des_lengths import (
    ASSUMED,
    DEFAULT_ISL_SCV,
    DEFAULT_OSL_SCV,
    FROM_TOKENS,
    FROM_TRACE,
    LengthUsage,
    lognormal_lengths,
    scaled_pairs,
)
from sla_planner.sources.trace_files import BinnedTrace, RequestTrace
from sla_planner.sources.trace_lines import TraceError
from sla_planner.sources.trace_source import TraceMetricsSource

# Lengths for the requests of one generated run: (rng, each request's source bin) -> ISL, OSL.
Draw = Callable[[np.random.Generator, np.ndarray], tuple[np.ndarray, np.ndarray]]

BIN_S = 10.0  # count-trace resolution the arrivals are drawn at
CHUNK_S = 3600.0  # requests generated an hour at a time
# Requests one judged run may replay: the judge does ~0.6 M requests/s on one core here, so
# this is ~6 minutes, and twice the README's week at 4x (1.1e8). A per-request trace holds at
# most MAX_TRACE_ROWS (5e7), so only rate-scaled or aggregate counts can pass it.
MAX_JUDGED_REQUESTS = 200_000_000
# Requests generated at once (~100 bytes each while drawn and sorted): ~200 MB.
CHUNK_REQUESTS = 2_000_000


class RequestStream:
    """The judge's requests in chunks, and which lengths they were given (`usage`)."""

    def __init__(self, chunks: Iterator[Requests], usage: LengthUsage) -> None:
        self._chunks = chunks
        self.usage = usage

    def __iter__(self) -> Iterator[Requests]:
        return self

    def __next__(self) -> Requests:
        return next(self._chunks)

    @property
    def lengths(self) -> str:
        """report.json's judged.lengths: where the replayed requests' lengths came from."""
        return self.usage.label


def source_requests(
    source: TraceMetricsSource, start: float, end: float, seed: int = 0
) -> RequestStream:
    """The requests of [start, end) as the dry run's trace describes them, in chunks of at
    most an hour and CHUNK_REQUESTS requests. Raises TraceError at once (not at the first
    chunk) when the range holds more than MAX_JUDGED_REQUESTS. (Prometheus history:
    `des_prometheus.prometheus_requests`; either: `judge.requests_for`.)"""
    check_judgeable(source, start, end)
    usage = LengthUsage(_trace_lengths(source), fix=TOKENS_FIX)
    return RequestStream(_stream(source, start, end, seed, usage), usage)


TOKENS_FIX = "pass --tokens-from a per-request trace of this traffic"


def _trace_lengths(source: TraceMetricsSource) -> str:
    if isinstance(source.trace, RequestTrace):
        return FROM_TRACE
    return FROM_TOKENS if isinstance(source.tokens_from, RequestTrace) else ASSUMED


def check_judgeable(source: TraceMetricsSource, start: float, end: float) -> None:
    trace = source.trace
    if end <= start or (isinstance(trace, RequestTrace) and source.rate_scale == 1.0):
        return  # its own rows: at most MAX_TRACE_ROWS
    total = float(source.bin(start, 1, end - start)[0][0])
    if not total > MAX_JUDGED_REQUESTS:
        return
    limit = (
        f"the judge replays every request and takes at most {MAX_JUDGED_REQUESTS:,} in one "
        f"run ({total:.3g} over this range"
        + (f" at rate scale {source.rate_scale:g})" if source.rate_scale != 1.0 else ")")
    )
    fix = "pass --judge none to plan without judging"
    if isinstance(trace, BinnedTrace):
        i, line = _heaviest_row(trace, start, end)
        count = float(trace.requests[i])
        raise TraceError(
            f"{trace.path}:{line}: {count:.3g} requests in one row; {limit}. Fix the row, "
            f"shorten --start/--end or lower --rate-scale, or {fix}"
        )
    raise TraceError(
        f"{trace.path}: {limit}. Fix: shorten --start/--end or lower --rate-scale, or {fix}"
    )


def _heaviest_row(trace: BinnedTrace, start: float, end: float) -> tuple[int, int | str]:
    """Index and file line of the row with the most requests overlapping [start, end)."""
    s = trace.bin_start_s
    inside = (s < end) & (s + trace.bin_s > start)
    i = int(np.argmax(np.where(inside, trace.requests, -np.inf)))
    line = int(trace.lines[i]) if trace.lines is not None else f"row {i + 1}"
    return i, line


def _stream(
    source: TraceMetricsSource, start: float, end: float, seed: int, usage: LengthUsage
) -> Iterator[Requests]:
    trace = source.trace
    if isinstance(trace, RequestTrace) and source.rate_scale == 1.0:
        a, b = np.searchsorted(trace.arrival_s, [start, end], side="left")
        req = Requests.of(trace.arrival_s[a:b], trace.isl[a:b], trace.osl[a:b])
        for t0 in np.arange(start, end, CHUNK_S):
            part = req.window(float(t0), float(min(t0 + CHUNK_S, end)))
            usage.add_both(FROM_TRACE, len(part))
            yield part
        return
    pool = trace if isinstance(trace, RequestTrace) else source.tokens_from
    pairs = Requests.of(np.zeros(pool.isl.size), pool.isl, pool.osl) if pool is not None else None
    per_hour = int(round(CHUNK_S / BIN_S))
    n = max(0, math.ceil((end - start) / BIN_S - 1e-9))
    for j, a in enumerate(range(0, n, per_hour)):
        m = min(per_hour, n - a)
        counts, isl, osl = source.bin(start + a * BIN_S, m, BIN_S)
        rng = np.random.default_rng([seed, j])
        rel = (a + np.arange(m)) * BIN_S  # bin starts relative to `start`
        lengths = _trace_draw(trace, pairs, counts, isl, osl)
        for part in hour_requests(rng, rel, counts, lengths, BIN_S):
            usage.add_both(usage.planned, len(part))
            yield Requests(part.t + start, part.isl, part.osl)


def _trace_draw(
    trace: RequestTrace | BinnedTrace,
    pairs: Requests | None,
    counts: np.ndarray,
    isl: np.ndarray,
    osl: np.ndarray,
) -> Requests | Draw:
    """A trace's lengths for one hour: its (ISL, OSL) pairs (its own requests, or a count-only
    trace's `tokens_from`), drawn as ever; for an aggregate trace, its `tokens_from` pairs
    scaled to the hour's mean (per bin, the scale would push a pool's spike, e.g. Azure conv's
    prompts at ~4.1 k tokens, past a TTFT target wherever a bin's mean is high: 1.3 points
    below the replay of the real requests at 100 ms, against 0.1 scaled per hour), or the
    default lognormal around each bin's means."""
    if pairs is not None and not (isinstance(trace, BinnedTrace) and trace.has_tokens):
        return pairs
    if pairs is not None:
        hour_isl, hour_osl = _hour_mean(counts, isl), _hour_mean(counts, osl)

        def scaled(rng: np.random.Generator, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return scaled_pairs(rng, pairs.isl, pairs.osl, hour_isl, hour_osl, owner.size)

        return scaled

    def assumed(rng: np.random.Generator, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = lognormal_lengths(rng, isl[owner], DEFAULT_ISL_SCV)
        return a, lognormal_lengths(rng, osl[owner], DEFAULT_OSL_SCV)

    return assumed


def _hour_mean(counts: np.ndarray, means: np.ndarray) -> float:
    """The request-weighted mean of an hour's bins (NaN: no requests with a mean)."""
    ok = (counts > 0) & np.isfinite(means)
    w = float(np.sum(counts[ok]))
    return float(np.sum(counts[ok] * means[ok]) / w) if w > 0 else math.nan


def hour_requests(
    rng: np.random.Generator,
    rel: np.ndarray,
    counts: np.ndarray,
    lengths: Requests | Draw,
    bin_s: float,
) -> Iterator[Requests]:
    """One hour's requests (times relative to the range start), CHUNK_REQUESTS at a time:
    `counts` per bin of `bin_s` starting at `rel`; lengths drawn from a pool of (ISL, OSL)
    pairs (`Requests`) or by a Draw given each request's bin."""
    c = np.minimum(np.nan_to_num(counts, nan=0.0), float(MAX_JUDGED_REQUESTS))
    k = np.floor(c).astype(np.int64)
    k += rng.random(c.size) < (c - k)
    width = np.full(k.size, bin_s)
    owner = np.arange(k.size)  # which source bin each (sub-)bin belongs to
    if int(k.sum()) > CHUNK_REQUESTS:
        rel, width, k, owner = _split_heavy(rng, rel, width, k)
    for lo, hi in _groups(k):
        kk = k[lo:hi]
        t = np.repeat(rel[lo:hi], kk) + rng.random(int(kk.sum())) * np.repeat(width[lo:hi], kk)
        if isinstance(lengths, Requests):  # the pool's draws, in the order they always were
            t.sort()
            pick = rng.integers(0, len(lengths), size=t.size)
            yield Requests(t, lengths.isl[pick], lengths.osl[pick])
            continue
        isl, osl = lengths(rng, np.repeat(owner[lo:hi], kk))
        order = np.argsort(t, kind="stable")
        yield Requests.of(t[order], isl[order], osl[order])


def _split_heavy(
    rng: np.random.Generator, rel: np.ndarray, width: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bins of more than CHUNK_REQUESTS split into equal sub-bins (multinomial counts)."""
    parts = np.maximum(-(-k // CHUNK_REQUESTS), 1)  # ceil, at least one
    owner = np.repeat(np.arange(k.size), parts)
    index = np.arange(owner.size) - np.repeat(np.cumsum(parts) - parts, parts)
    sub_w = np.repeat(width / parts, parts)
    sub_rel = np.repeat(rel, parts) + index * sub_w
    pieces = [
        rng.multinomial(int(n), np.full(p, 1.0 / p)) if p > 1 else np.array([n])
        for n, p in zip(k.tolist(), parts.tolist(), strict=True)
    ]
    sub_k = np.concatenate(pieces).astype(np.int64)
    return sub_rel, sub_w, sub_k, owner


def _groups(k: np.ndarray) -> Iterator[tuple[int, int]]:
    """Runs [lo, hi) of consecutive bins holding at most CHUNK_REQUESTS requests (a bin that
    alone holds more, after _split_heavy none does, is a run of its own)."""
    total = int(k.sum())
    if total <= CHUNK_REQUESTS:
        yield 0, k.size
        return
    lo, acc = 0, 0
    for i, n in enumerate(k.tolist()):
        if acc and acc + n > CHUNK_REQUESTS:
            yield lo, i
            lo, acc = i, 0
        acc += n
    yield lo, k.size
