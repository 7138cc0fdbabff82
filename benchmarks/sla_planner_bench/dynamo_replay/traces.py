"""Requests in, Mooncake JSONL out: what Dynamo's offline replay reads.

Requests are the discrete-event judge's `Requests` (arrival s, ISL, OSL), so both judges replay
the same arrays: trace files are read by the project's loaders (`sla_planner.sources`) and a dry
run's demand source becomes requests through `evaluation.des_requests.source_requests` (per-request traces
as they are; count traces and rate scales as seeded Poisson arrivals in 10 s bins).

Mooncake JSONL: one object a line, `timestamp` (integer ms from `origin_s`), `input_length`,
`output_length`, `hash_ids` (one id per `block_size`-token prompt block; requests sharing a
leading run of ids share that prefix in the KV cache). Our traces carry no prefix data, so
every request gets its own id range: no prefix-cache hit ever shortens a prefill, as in a
profile measured without prefix reuse (and in the discrete-event judge).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from sla_planner.evaluation.des import Requests
from sla_planner.evaluation.des_requests import source_requests
from sla_planner.sources.trace_source import TraceMetricsSource

TRACE_BLOCK_SIZE = 512


def concat(parts: Iterable[Requests]) -> Requests:
    """One `Requests` from consecutive chunks (times unchanged)."""
    ps = list(parts)
    if not ps:
        return Requests.of([], [], [])
    return Requests(
        np.concatenate([p.t for p in ps]),
        np.concatenate([p.isl for p in ps]),
        np.concatenate([p.osl for p in ps]),
    )


def source_window(source: TraceMetricsSource, start: float, end: float, seed: int = 0) -> Requests:
    """The requests of [start, end) as the dry run's source describes them (trace time, s)."""
    return concat(source_requests(source, start, end, seed))


def write_mooncake(
    requests: Requests,
    path: str | Path,
    *,
    origin_s: float | None = None,
    block_size: int = TRACE_BLOCK_SIZE,
) -> Path:
    """Write `requests` as Mooncake JSONL, timestamps in integer ms from `origin_s` (default:
    the first arrival). Raises ValueError when a request arrives before `origin_s`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if origin_s is None:
        origin_s = float(requests.t[0]) if len(requests) else 0.0
    ts = np.rint((requests.t - origin_s) * 1000.0).astype(np.int64)
    if ts.size and ts.min() < 0:
        raise ValueError(f"a request arrives before origin_s={origin_s}")
    blocks = np.maximum(1, -(-requests.isl // block_size))  # ceil, at least one block
    first = np.concatenate([[0], np.cumsum(blocks)[:-1]])
    with path.open("w") as fh:
        for i in range(len(requests)):
            ids = ",".join(map(str, range(int(first[i]), int(first[i] + blocks[i]))))
            fh.write(
                f'{{"timestamp":{ts[i]},"input_length":{requests.isl[i]},'
                f'"output_length":{requests.osl[i]},"hash_ids":[{ids}]}}\n'
            )
    return path


def blocks_needed(isl: int, block_size: int = TRACE_BLOCK_SIZE) -> int:
    """Hash ids a prompt of `isl` tokens gets (one per started block)."""
    return max(1, math.ceil(int(isl) / block_size))
