"""The replay's per-tick `snapshot` (ai-dynamo-runtime 1.6.1) and helpers to read it.

Fields (all simulated time; ids are per-pool worker ids, 0..n-1 for initial workers):

* `tick_ordinal` (int, 0-based), `now_ms` (float, the tick's scheduled time).
* `active_{prefill,decode}_ids` / `_count`: ready workers that take new requests.
  `starting_*`: added by scaling, not ready until `startup_time` has passed.
  `draining_*`: finishing in-flight work, no new requests. `non_draining_*_count` =
  active + starting (what a target is compared with); `total_*_count` = all three.
* `prefill_fpm_snapshots` / `decode_fpm_snapshots`: list, one dict per worker that ran
  a forward pass since the previous tick (its *latest* pass only; an idle worker reports an
  empty pass; a worker that just became ready and has not run yet is absent): `worker_id`, `dp_rank`, `wall_time` (s, that pass), scheduled work of
  that pass (`num_prefill_requests`, `sum_prefill_tokens`, `var_prefill_length`,
  `sum_prefill_kv_tokens`, `num_decode_requests`, `sum_decode_kv_tokens`,
  `var_decode_kv_tokens`) and the worker's queue after it (`num_queued_prefill`,
  `sum_queued_prefill_tokens`, `var_queued_prefill_length`, `num_queued_decode`,
  `sum_queued_decode_kv_tokens`, `var_queued_decode_kv_tokens`).
* `traffic`: the window since the previous tick: `duration_s`, `num_req` (requests
  that *arrived*), and over requests that *completed* in the window: `shape_count`,
  `avg_isl`, `avg_osl`, `ttft_count`/`avg_ttft_ms`, `itl_count`/`avg_itl_ms`
  (mean of per-request mean ITL); plus `avg_kv_hit_rate`/`hit_rate_count`,
  `avg_accept_length`/`accept_length_forward_count`. Averages are 0.0 when the count
  is 0. No per-request latencies, percentiles or global queue length are exposed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class TrafficWindow:
    """One traffic window (or a merge of consecutive ones)."""

    start_s: float
    duration_s: float
    arrivals: int
    completed: int
    avg_isl: float
    avg_osl: float
    ttft_ms: float
    itl_ms: float

    @classmethod
    def from_snapshot(cls, snap: Mapping[str, Any]) -> TrafficWindow:
        tr = snap.get("traffic") or {}
        dur = float(tr.get("duration_s", 0.0))
        nan = float("nan")
        n_t, n_i = int(tr.get("ttft_count", 0)), int(tr.get("itl_count", 0))
        n_s = int(tr.get("shape_count", 0))
        return cls(
            start_s=float(snap["now_ms"]) / 1000.0 - dur,
            duration_s=dur,
            arrivals=int(tr.get("num_req", 0)),
            completed=n_s,
            avg_isl=float(tr.get("avg_isl", 0.0)) if n_s else nan,
            avg_osl=float(tr.get("avg_osl", 0.0)) if n_s else nan,
            ttft_ms=float(tr.get("avg_ttft_ms", 0.0)) if n_t else nan,
            itl_ms=float(tr.get("avg_itl_ms", 0.0)) if n_i else nan,
        )


def _wmean(vals: Sequence[tuple[float, int]]) -> float:
    tot = sum(n for v, n in vals if n and v == v)
    return sum(v * n for v, n in vals if n and v == v) / tot if tot else float("nan")


def merge_traffic(ws: Sequence[TrafficWindow]) -> TrafficWindow:
    """Merge consecutive windows (count-weighted means)."""
    if not ws:
        return TrafficWindow(0.0, 0.0, 0, 0, *(float("nan"),) * 4)
    pairs = [(w, w.completed) for w in ws]
    return TrafficWindow(
        start_s=ws[0].start_s,
        duration_s=sum(w.duration_s for w in ws),
        arrivals=sum(w.arrivals for w in ws),
        completed=sum(w.completed for w in ws),
        avg_isl=_wmean([(w.avg_isl, n) for w, n in pairs]),
        avg_osl=_wmean([(w.avg_osl, n) for w, n in pairs]),
        ttft_ms=_wmean([(w.ttft_ms, n) for w, n in pairs]),
        itl_ms=_wmean([(w.itl_ms, n) for w, n in pairs]),
    )


def pool_load(snap: Mapping[str, Any], pool: str) -> dict[str, float]:
    """Pool-level load from the latest forward-pass snapshots of `pool`.

    Returns `active`/`starting`/`draining` counts, `reporting` (workers with a
    pass since the last tick), `queued_requests`, `queued_prefill_tokens`,
    `running_requests` (decode batch) and `decode_kv_tokens` (scheduled + queued)
    summed over reporting workers, and `max_pass_s` (slowest latest pass).
    """
    fpms = snap.get(f"{pool}_fpm_snapshots") or []
    q_pre = sum(int(f["num_queued_prefill"]) for f in fpms)
    q_dec = sum(int(f["num_queued_decode"]) for f in fpms)
    return {
        "active": float(snap.get(f"active_{pool}_count", 0)),
        "starting": float(snap.get(f"starting_{pool}_count", 0)),
        "draining": float(snap.get(f"draining_{pool}_count", 0)),
        "reporting": float(len(fpms)),
        "queued_requests": float(q_pre + q_dec),
        "queued_prefill_tokens": float(sum(int(f["sum_queued_prefill_tokens"]) for f in fpms)),
        "running_requests": float(sum(int(f["num_decode_requests"]) for f in fpms)),
        "decode_kv_tokens": float(
            sum(
                int(f["sum_decode_kv_tokens"]) + int(f["sum_queued_decode_kv_tokens"]) for f in fpms
            )
        ),
        "max_pass_s": max((float(f["wall_time"]) for f in fpms), default=0.0),
    }
