"""Long traces as consecutive warm-started windows (the replay holds its whole trace in memory:
~4-7 bytes per input token, so a day at full rate does not fit; an hour does).

A window [t0, t1) replays the requests of [t0 - warmup, t1) starting with the schedule's counts
at t0 - warmup all ready, so queues and batches are populated by t0; only arrivals in [t0, t1)
are scored and GPU-hours are clipped to [t0, t1). A scale-up straddling a window start counts as
ready at the window start, so windows slightly favour schedules that scale often: keep them
>= 1 h. Windows are independent replays and can run in parallel processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sla_planner.evaluation.des import Requests, Schedule
from sla_planner_bench.dynamo_replay.lifecycle import (
    gpu_hours_billed,
    gpu_hours_by_decision,
    scaling_actions,
    worker_spans,
)
from sla_planner_bench.dynamo_replay.records import (
    LatencySummary,
    RequestTable,
    summarize_latency,
)
from sla_planner_bench.dynamo_replay.replay import ReplayConfig, ReplayResult, replay_schedule
from sla_planner_bench.dynamo_replay.schedule import clipped, from_decisions, shifted


def replay_window(
    requests: Requests,
    schedule: Schedule,
    cfg: ReplayConfig,
    t0_s: float,
    t1_s: float,
    *,
    warmup_s: float = 300.0,
) -> ReplayResult:
    """Replay the window [t0, t1) (trace time) with a warm start of `warmup_s`.
    Raises ValueError when no request arrives in the window."""
    start = t0_s - max(0.0, warmup_s)
    sub = requests.window(start, t1_s)
    if len(sub) == 0 or not np.any(sub.t >= t0_s):
        raise ValueError(f"no request arrives in [{t0_s}, {t1_s})")
    res = replay_schedule(sub, clipped(schedule, start, t1_s), cfg)
    res.extra["window"] = (t0_s, t1_s, start)
    return restrict(res, cfg, t0_s, t1_s)


def restrict(res: ReplayResult, cfg: ReplayConfig, t0_s: float, t1_s: float) -> ReplayResult:
    """Score only [t0, t1) (trace time): requests arriving in it, GPU-hours billed and decided
    within it (the initial pools count from t0 even before the first arrival), scaling
    operations within it. Modifies and returns `res`."""
    lo_ms, hi_ms = (t * 1000.0 - res.origin_s * 1000.0 for t in (t0_s, t1_s))
    end_ms = float(res.summary.get("duration_ms", 0.0))
    spans = worker_spans(res.lifecycle, res.initial)
    res.gpu_hours = gpu_hours_billed(spans, end_ms, cfg.gpus, t0_ms=lo_ms, t1_ms=hi_ms)
    g = cfg.engines
    gap_s = max(0.0, min(res.origin_s, t1_s) - t0_s)
    if gap_s > 0:  # before the first arrival the replay has not started; the pools exist
        init_gpus = res.initial["prefill"] * g.gpus_prefill + res.initial["decode"] * g.gpus_decode
        res.gpu_hours.billed += gap_s * init_gpus / 3600.0
        res.gpu_hours.serving += gap_s * init_gpus / 3600.0
    steps = from_decisions(
        [(t - res.origin_s, p, d) for t, p, d in res.decisions],
        (res.initial["prefill"], res.initial["decode"]),
    )
    win = clipped(shifted(steps, -res.origin_s), t0_s, t1_s)
    res.gpu_hours_decided = gpu_hours_by_decision(
        win.t, win.prefill, win.decode, t1_s, g.gpus_prefill, g.gpus_decode
    )
    res.actions = scaling_actions([op for op in res.lifecycle if lo_ms <= op["at_ms"] < hi_ms])
    # Arrivals are written in whole ms; the replayed requests all arrive before t1 already.
    res.requests = res.requests.select(res.requests.arrival_ms >= t0_s * 1000.0 - 0.5)
    res.latency = summarize_latency(res.requests, cfg.ttft_ms, cfg.itl_ms)
    res.extra["scored"] = (t0_s, t1_s)
    return res


def window_starts(requests: Requests, window_s: float, t_end_s: float | None = None) -> list[float]:
    """Window starts from the first arrival, skipping windows without arrivals."""
    if len(requests) == 0:
        return []
    end = float(requests.t[-1]) + 1e-3 if t_end_s is None else t_end_s
    out = []
    for t0 in np.arange(float(requests.t[0]), end, window_s):
        a, b = np.searchsorted(requests.t, [t0, min(t0 + window_s, end)])
        if b > a:
            out.append(float(t0))
    return out


def replay_in_windows(
    requests: Requests,
    schedule: Schedule,
    cfg: ReplayConfig,
    *,
    window_s: float = 3600.0,
    warmup_s: float = 300.0,
    t_end_s: float | None = None,
) -> list[ReplayResult]:
    """Consecutive windows of `window_s` from the first arrival (one replay each)."""
    end = float(requests.t[-1]) + 1e-3 if t_end_s is None else t_end_s
    return [
        replay_window(requests, schedule, cfg, t0, min(t0 + window_s, end), warmup_s=warmup_s)
        for t0 in window_starts(requests, window_s, t_end_s)
    ]


@dataclass
class Combined:
    latency: LatencySummary  # over every scored request of every window
    gpu_hours_billed: float
    gpu_hours_serving: float
    gpu_hours_decided: float
    scale_ops: int
    requests: int
    wall_s: float
    max_rss_mb: float


def combine(results: Sequence[ReplayResult], cfg: ReplayConfig) -> Combined:
    """Window results as one: attainment over all scored requests, summed GPU-hours."""
    table = RequestTable.concat(r.requests for r in results)
    return Combined(
        latency=summarize_latency(table, cfg.ttft_ms, cfg.itl_ms),
        gpu_hours_billed=sum(r.gpu_hours.billed for r in results),
        gpu_hours_serving=sum(r.gpu_hours.serving for r in results),
        gpu_hours_decided=sum(r.gpu_hours_decided for r in results),
        scale_ops=sum(r.actions.get("scale_ops", 0) for r in results),
        requests=len(table),
        wall_s=sum(r.wall_s for r in results),
        max_rss_mb=max((r.max_rss_mb for r in results), default=0.0),
    )
