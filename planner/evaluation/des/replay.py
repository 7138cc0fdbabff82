"""One-shot replay of a whole schedule, built on `Judge.advance` (identical results)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sla_planner.evaluation.des.judge import Judge
from sla_planner.evaluation.des.pools import ReplicaRecord
from sla_planner.evaluation.des.requests import Requests
from sla_planner.evaluation.des.stats import (
    A_DWAIT,
    A_DWAIT_S,
    A_ITL_MAX,
    A_ITL_MET,
    A_ITL_SUM,
    A_MET,
    A_N,
    A_TTFT_MAX,
    A_TTFT_MET,
    A_TTFT_SUM,
    percentile,
)
from sla_planner.evaluation.des.window import Window


@dataclass(frozen=True)
class Schedule:
    """Decision k at t[k]: run prefill[k] / decode[k] replicas from t[k] on."""

    t: np.ndarray
    prefill: np.ndarray
    decode: np.ndarray

    @classmethod
    def of(cls, t: Any, prefill: Any, decode: Any) -> Schedule:
        t = np.asarray(t, dtype=np.float64)
        if t.size == 0 or np.any(np.diff(t) <= 0):
            raise ValueError("decision times must be non-empty and strictly increasing")
        p = np.broadcast_to(np.asarray(prefill, dtype=np.int64), t.shape).copy()
        d = np.broadcast_to(np.asarray(decode, dtype=np.int64), t.shape).copy()
        return cls(t, p, d)

    @classmethod
    def constant(cls, prefill: int, decode: int, t0: float = 0.0) -> Schedule:
        return cls.of([t0], [prefill], [decode])


@dataclass
class ReplayResult:
    finished: int
    unfinished: int  # arrived before the end but never completed (no replica to serve them)
    attainment: float  # TTFT and ITL met, share of finished requests
    ttft_attainment: float
    itl_attainment: float
    ttft_ms: dict[str, float]  # p50 / p95 / p99 / mean / max
    itl_ms: dict[str, float]
    gpu_hours: float  # desired replicas x GPUs, from each decision to the next (to end_s)
    gpu_hours_with_tails: float  # plus draining replicas until they empty
    peak_gpus: int
    decode_waited: int  # requests that waited for a decode slot (KV or sequence cap)
    rejected: int  # prompt + output longer than the decode KV cache: misses, not replayed
    decode_wait_s_mean: float  # their mean wait
    scaling_actions: int  # (decision, pool) pairs where the replica count changed
    replicas_changed: int  # sum over decisions and pools of |change|
    interval_t: np.ndarray  # per decision: start time
    interval_finished: np.ndarray  # requests completed in the interval
    interval_met: np.ndarray
    interval_ttft_met: np.ndarray
    interval_itl_met: np.ndarray
    tail: Window | None = None  # completions after end_s (counted in the totals above)
    records: list[ReplicaRecord] = field(default_factory=list)
    hist: np.ndarray | None = None
    captured: np.ndarray | None = None  # (3, n) TTFT ms, ITL ms, done s per request (capture)


def _quantiles(hist_row: np.ndarray, total: float, n: float, mx: float) -> dict[str, float]:
    q = {f"p{p}": percentile(hist_row, p) for p in (50, 95, 99)}
    q["mean"] = total / n if n else math.nan
    q["max"] = mx
    return q


def summarize(judge: Judge) -> ReplayResult:
    """Totals of everything the judge has replayed so far (call after finish())."""
    a, tot = judge.tot.acc, judge.tot
    n = a[A_N]
    w = np.array([row[4:] for row in tot.windows], dtype=np.int64).reshape(-1, 4)
    tails = judge.prefill.drain_tail_s(judge.now) * judge.tab.gpus_per_replica + (
        judge.decode.drain_tail_s(judge.now) * judge.dtab.gpus_per_replica
    )
    return ReplayResult(
        finished=int(n),
        unfinished=judge.in_flight(),
        attainment=a[A_MET] / n if n else math.nan,
        ttft_attainment=a[A_TTFT_MET] / n if n else math.nan,
        itl_attainment=a[A_ITL_MET] / n if n else math.nan,
        ttft_ms=_quantiles(tot.hist[0], a[A_TTFT_SUM], n, a[A_TTFT_MAX]),
        itl_ms=_quantiles(tot.hist[1], a[A_ITL_SUM], n, a[A_ITL_MAX]),
        gpu_hours=tot.gpu_s / 3600.0,
        gpu_hours_with_tails=(tot.gpu_s + tails) / 3600.0,
        peak_gpus=tot.peak_gpus,
        decode_waited=int(a[A_DWAIT]),
        rejected=judge.refused,
        decode_wait_s_mean=a[A_DWAIT_S] / a[A_DWAIT] if a[A_DWAIT] else 0.0,
        scaling_actions=tot.actions,
        replicas_changed=tot.replicas_changed,
        interval_t=np.array([row[0] for row in tot.windows]),
        interval_finished=w[:, 0],
        interval_met=w[:, 1],
        interval_ttft_met=w[:, 2],
        interval_itl_met=w[:, 3],
        tail=judge.tail,
        records=judge.records,
        hist=tot.hist.copy(),
        captured=judge.captured if judge.captured.size else None,
    )


def default_end(schedule: Schedule, requests: Any) -> float:
    """End of the last interval: its decision time plus the previous interval's length, or
    just after the last arrival of an in-memory trace, whichever is later."""
    end = -math.inf
    if schedule.t.size >= 2:
        end = schedule.t[-1] + (schedule.t[-1] - schedule.t[-2])
    if hasattr(requests, "t") and len(requests):
        end = max(end, float(np.nextafter(requests.t[-1], np.inf)))
    if not math.isfinite(end):
        raise ValueError("pass end_s (one decision and a streamed request source)")
    return max(end, float(schedule.t[-1]))


def replay(
    requests: Requests | Iterable[Requests],
    schedule: Schedule,
    profile: Any,
    *,
    end_s: float | None = None,
    **judge_kw: Any,
) -> ReplayResult:
    """Replay `requests` under `schedule` (decision k holds until decision k+1, the last until
    end_s), then let every request that arrived before end_s complete."""
    end = default_end(schedule, requests) if end_s is None else float(end_s)
    judge = Judge(requests, profile, start_s=float(schedule.t[0]), **judge_kw)
    for k in range(schedule.t.size):
        until = schedule.t[k + 1] if k + 1 < schedule.t.size else end
        judge.advance(min(until, end), int(schedule.prefill[k]), int(schedule.decode[k]))
        if until >= end:
            break
    judge.finish()
    return summarize(judge)


def merge(results: list[ReplayResult]) -> ReplayResult:
    """The totals of several replays of one deployment in sequence (one per run of one engine
    config): counts and GPU-hours added, shares and means weighted by requests, percentiles
    from the pooled histograms, per-interval figures concatenated."""
    if len(results) == 1:
        return results[0]
    n = sum(r.finished for r in results)

    def share(attr: str) -> float:
        return (
            sum(getattr(r, attr) * r.finished for r in results if r.finished) / n if n else math.nan
        )

    hists = [r.hist for r in results if r.hist is not None]
    hist = np.sum(hists, axis=0) if hists else None

    def lat(key: str, row: int) -> dict[str, float]:
        mean = sum(getattr(r, key)["mean"] * r.finished for r in results if r.finished)
        mx = max((getattr(r, key)["max"] for r in results if r.finished), default=math.nan)
        if hist is None:
            return {"mean": mean / n if n else math.nan, "max": mx}
        return _quantiles(hist[row], mean, n, mx)

    waited = sum(r.decode_waited for r in results)
    cat = np.concatenate
    return ReplayResult(
        finished=n,
        unfinished=sum(r.unfinished for r in results),
        attainment=share("attainment"),
        ttft_attainment=share("ttft_attainment"),
        itl_attainment=share("itl_attainment"),
        ttft_ms=lat("ttft_ms", 0),
        itl_ms=lat("itl_ms", 1),
        gpu_hours=sum(r.gpu_hours for r in results),
        gpu_hours_with_tails=sum(r.gpu_hours_with_tails for r in results),
        peak_gpus=max(r.peak_gpus for r in results),
        decode_waited=waited,
        rejected=sum(r.rejected for r in results),
        decode_wait_s_mean=(
            sum(r.decode_wait_s_mean * r.decode_waited for r in results) / waited if waited else 0.0
        ),
        scaling_actions=sum(r.scaling_actions for r in results),
        replicas_changed=sum(r.replicas_changed for r in results),
        interval_t=cat([r.interval_t for r in results]),
        interval_finished=cat([r.interval_finished for r in results]),
        interval_met=cat([r.interval_met for r in results]),
        interval_ttft_met=cat([r.interval_ttft_met for r in results]),
        interval_itl_met=cat([r.interval_itl_met for r in results]),
        records=[x for r in results for x in r.records],
        hist=hist,
    )
