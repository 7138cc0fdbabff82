"""Worker lifecycle of a replay -> GPU-hours and scaling actions.

The replay records one operation per pool change (`cause`: `planner_scale`, `worker_ready_event`,
`drain_settlement`), each with worker transitions `worker_starting` / `worker_ready` /
`worker_draining` / `worker_removed`. Initial workers (ids 0..n-1) are ready at t = 0 and have
no `worker_starting` record. Times are simulated ms (trace time minus the replay's origin).

GPU-hours, two ways:
- **billed** (`gpu_hours_billed`): each worker from `worker_starting` (0 for initial ones) to
  `worker_removed` (or the end), so startup and draining time are paid, as a cloud bill does;
  `serving` counts ready -> draining only.
- **by decision** (`gpu_hours_by_decision`): the desired counts integrated from each decision to
  the next, as the discrete-event judge and the analytic simulator count them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

POOLS = ("prefill", "decode")


@dataclass
class WorkerSpan:
    pool: str
    worker_id: int
    start_ms: float  # worker_starting (0 for an initial worker)
    ready_ms: float | None
    draining_ms: float | None
    removed_ms: float | None


def worker_spans(
    lifecycle: Sequence[Mapping[str, Any]], initial: Mapping[str, int]
) -> list[WorkerSpan]:
    """One span per worker (a worker id reused after removal starts a new span)."""
    spans: list[WorkerSpan] = []
    live: dict[tuple[str, int], WorkerSpan] = {}
    for pool, n in initial.items():
        for wid in range(n):
            live[(pool, wid)] = WorkerSpan(pool, wid, 0.0, 0.0, None, None)
            spans.append(live[(pool, wid)])
    for op in lifecycle:
        at = float(op["at_ms"])
        for tr in op["transitions"]:
            key = (str(op["pool"]), int(tr["worker_id"]))
            kind = tr["transition"]
            if kind == "worker_starting":
                live[key] = WorkerSpan(key[0], key[1], at, None, None, None)
                spans.append(live[key])
                continue
            span = live.get(key)
            if span is None:  # a transition for a worker we never saw start: an initial one
                span = live[key] = WorkerSpan(key[0], key[1], 0.0, 0.0, None, None)
                spans.append(span)
            if kind == "worker_ready":
                span.ready_ms = at
            elif kind == "worker_draining":
                span.draining_ms = at
            elif kind == "worker_removed":
                span.removed_ms = at
    return spans


@dataclass
class GpuHours:
    billed: float  # starting -> removed
    serving: float  # ready -> draining
    by_pool: dict[str, float] = field(default_factory=dict)  # billed, per pool


def _overlap(a: float, b: float, lo: float, hi: float) -> float:
    return max(0.0, min(b, hi) - max(a, lo))


def gpu_hours_billed(
    spans: Sequence[WorkerSpan],
    end_ms: float,
    gpus_per_worker: Mapping[str, int],
    t0_ms: float = 0.0,
    t1_ms: float | None = None,
) -> GpuHours:
    """GPU-hours of the worker spans clipped to [t0_ms, t1_ms) (default [0, end_ms));
    workers not removed by `end_ms` are billed to it."""
    hi = end_ms if t1_ms is None else t1_ms
    billed = serving = 0.0
    by_pool = dict.fromkeys(POOLS, 0.0)
    for s in spans:
        g = gpus_per_worker.get(s.pool, 1)
        stop = s.removed_ms if s.removed_ms is not None else max(end_ms, s.start_ms)
        b = _overlap(s.start_ms, stop, t0_ms, hi) * g
        billed += b
        by_pool[s.pool] = by_pool.get(s.pool, 0.0) + b / 3.6e6
        if s.ready_ms is not None:
            serve_end = s.draining_ms if s.draining_ms is not None else stop
            serving += _overlap(s.ready_ms, serve_end, t0_ms, hi) * g
    return GpuHours(billed / 3.6e6, serving / 3.6e6, by_pool)


def gpu_hours_by_decision(
    times_s: Sequence[float],
    prefill: Sequence[int],
    decode: Sequence[int],
    end_s: float,
    gpus_prefill: int = 1,
    gpus_decode: int = 1,
) -> float:
    """The desired counts, a step function from each decision, integrated to `end_s`."""
    t = np.asarray(times_s, dtype=float)
    if t.size == 0:
        return 0.0
    edges = np.clip(np.append(t, end_s), t[0], max(end_s, t[0]))
    g = np.asarray(prefill) * gpus_prefill + np.asarray(decode) * gpus_decode
    return float(np.sum(np.diff(edges) * g) / 3600.0)


def scaling_actions(lifecycle: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """`scale_ops`: operations caused by a scaling decision, one per (decision, pool) that
    changed the pool (the discrete-event judge's `scaling_actions`); workers started and
    drained; and a count per transition kind."""
    out = {"scale_ops": 0, "workers_started": 0, "workers_drained": 0}
    for op in lifecycle:
        if op.get("cause") == "planner_scale":
            out["scale_ops"] += 1
        for tr in op["transitions"]:
            kind = str(tr["transition"])
            out[kind] = out.get(kind, 0) + 1
            if kind == "worker_starting":
                out["workers_started"] += 1
            elif kind == "worker_draining":
                out["workers_drained"] += 1
    return out


def count_timeline(
    lifecycle: Sequence[Mapping[str, Any]], initial: Mapping[str, int]
) -> dict[str, list[tuple[float, int, int]]]:
    """Per pool: (time ms, non-draining workers, active workers) after each operation."""
    out: dict[str, list[tuple[float, int, int]]] = {p: [(0.0, n, n)] for p, n in initial.items()}
    for op in lifecycle:
        st = op["state_after_batch"]
        n_nd = len(st["active"]) + len(st["starting"])
        out.setdefault(str(op["pool"]), []).append((float(op["at_ms"]), n_nd, len(st["active"])))
    return out
