"""Request inputs: requests in arrival order, and count traces expanded into seeded streams.

A request is (arrival time s, ISL tokens, OSL tokens); ISL and OSL are floored at 1 (NaN: 1)
and capped at MAX_TOKENS, so a length beyond int64 stays longer than any KV cache instead of
wrapping to a negative number (and being floored to a 1-token request). Trace
files are read by the project's loaders (sla_planner.sources.trace_files); the bridge in
sla_planner.evaluation.des_requests turns them (or a dry run's demand source) into Requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

MAX_TOKENS = 2**62  # within int64 whatever is added to it; far beyond any engine's KV cache


def lengths(x: object) -> np.ndarray:
    """Token counts as int64 in [1, MAX_TOKENS] (NaN: 1)."""
    a = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=1.0)
    return np.clip(a, 1.0, float(MAX_TOKENS)).astype(np.int64)


@dataclass(frozen=True)
class Requests:
    """A batch of requests in arrival order (arrays of equal length)."""

    t: np.ndarray  # float64 arrival, s
    isl: np.ndarray  # int64 prompt tokens
    osl: np.ndarray  # int64 generated tokens (the first comes from prefill)

    def __post_init__(self) -> None:
        if not (self.t.shape == self.isl.shape == self.osl.shape):
            raise ValueError("t, isl, osl must have the same length")

    def __len__(self) -> int:
        return int(self.t.size)

    @classmethod
    def of(cls, t: object, isl: object, osl: object) -> Requests:
        """Sorted (stable), typed and floored copy."""
        t = np.asarray(t, dtype=np.float64)
        order = np.argsort(t, kind="stable")
        return cls(t[order], lengths(isl)[order], lengths(osl)[order])

    def window(self, t0: float, t1: float) -> Requests:
        """Requests arriving in [t0, t1), times unchanged."""
        a, b = np.searchsorted(self.t, [t0, t1], side="left")
        return Requests(self.t[a:b], self.isl[a:b], self.osl[a:b])


def count_trace_stream(
    counts: np.ndarray,
    bin_s: float,
    tokens: Requests,
    rate_scale: float = 1.0,
    seed: int = 0,
    chunk_s: float = 3600.0,
) -> Iterator[Requests]:
    """Requests from per-bin counts, one chunk of `chunk_s` seconds at a time.

    Bin k (starting at k * bin_s) gets n = floor(c * rate_scale) requests plus one with
    probability equal to the fractional part (so an integer scale keeps totals exact), at
    independent uniform times inside the bin: a Poisson process conditioned on the bin's count.
    (ISL, OSL) pairs are drawn jointly, uniformly with replacement, from `tokens`. Chunk j uses
    its own generator seeded by (seed, j), so a stream is reproducible and can be restarted.
    """
    per_chunk = max(1, int(round(chunk_s / bin_s)))
    for j, a in enumerate(range(0, counts.size, per_chunk)):
        rng = np.random.default_rng([seed, j])
        c = counts[a : a + per_chunk] * rate_scale
        n = np.floor(c).astype(np.int64)
        n += rng.random(c.size) < (c - n)
        starts = (a + np.arange(c.size)) * bin_s
        t = np.sort(np.repeat(starts, n) + rng.random(int(n.sum())) * bin_s)
        pick = rng.integers(0, len(tokens), size=t.size)
        yield Requests(t, tokens.isl[pick], tokens.osl[pick])


def count_trace_total(counts: np.ndarray, rate_scale: float = 1.0) -> float:
    """Expected number of requests of count_trace_stream (exact for integer scales)."""
    return float(np.sum(counts) * rate_scale)
