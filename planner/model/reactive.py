"""The fast reactive path: scale up at once on a burst beyond the plan (pure; no I/O, no clock).

The predictive loop decides once per interval (a minute) from forecasts. Between its ticks a
burst the forecast missed queues requests for up to an interval before anyone reacts, and
replicas take `startup_s` more to come up. Like Dynamo's planner, which pairs its predictive
loop with a ~5 s reactive one, `react` looks at a load snapshot every few seconds and raises a
pool at once when the load is beyond what the replicas it runs (and those starting) can serve:

- prefill: the waiting prompts would take more than `prefill_backlog` x the TTFT target to
  clear at the ready replicas' batched capacity (the queue alone pushes new requests well
  past the target), or TTFT p99 of the last few seconds is above `ttft_factor` x the target
  while requests wait. Replicas wanted: the arrival rate's prompt tokens plus the backlog cleared within
  `drain_s`, at `utilisation` of the batched capacity per replica.
- decode: requests wait for a decode slot (KV cache or sequence cap full), or the sequences
  running exceed the ITL-feasible concurrency of the ready replicas (or KV use is above
  `kv_high`). Replicas wanted: running + waiting sequences at `utilisation` of the
  ITL-feasible concurrency per replica.
- never down: the result is at least the current target (replicas asked for, starting ones
  included), and one reaction at most multiplies a pool by `max_step` (HPA's scale-up policy
  caps a step the same way), so a broken gauge cannot blow a pool up.

The predictive planner then holds a reactive scale-up for its scale-down window
(`Planner.seed` with what the pools run after it): a burst that triggered it is evidence, and dropping the replicas
a minute later only to need them again is the flapping HPA's window exists to prevent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sla_planner.model.config import ReactiveSettings
from sla_planner.model.size.decode_latency import decode_context
from sla_planner.model.size.latency_curves import Curves


@dataclass(frozen=True)
class LoadSnapshot:
    """The deployment's load over the last few seconds (from the judge or Prometheus)."""

    window_s: float  # what the rates are over
    arrivals: float  # requests that arrived in the window
    prefill_queue: float  # requests waiting for prefill
    decode_queue: float  # requests waiting for a decode slot
    isl: float  # mean prompt tokens (recent)
    decode_running: float | None = None  # sequences decoding (None: unknown)
    kv_usage: float | None = None  # decode replicas' mean KV cache use, 0..1
    ttft_p99_ms: float | None = None  # of requests that got their first token in the window

    @property
    def arrival_rate(self) -> float:
        return self.arrivals / self.window_s if self.window_s > 0 else 0.0


@dataclass(frozen=True)
class PoolCapacity:
    """One replica's capacity, from the profile: batched prefill tokens/s, and the decode
    concurrency that meets the ITL target."""

    prefill_tokens_per_s: float
    decode_sequences: float


@dataclass(frozen=True)
class ReactiveAction:
    prefill: int
    decode: int
    reasons: tuple[str, ...] = ()

    def raised(self, current: tuple[int, int]) -> bool:
        return self.prefill > current[0] or self.decode > current[1]


def capacity(
    prefill_curves: Curves, decode_curves: Curves, isl: float, osl: float, itl_ms: float
) -> PoolCapacity:
    """One replica's capacity at these mean lengths, read from the profiles."""
    isl = isl if math.isfinite(isl) and isl > 0 else 1.0
    osl = osl if math.isfinite(osl) and osl > 0 else 1.0
    ctx = decode_context(isl, osl)
    return PoolCapacity(
        float(prefill_curves.prefill_capacity_tps(isl)),
        float(decode_curves.decode_max_concurrency(ctx, itl_ms)),
    )


def _num(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) and x >= 0 else None


def _bounded(current: int, need: int, max_step: float) -> int:
    return max(current, min(need, math.ceil(max(current, 1) * max_step)))


def prefill_need(
    snap: LoadSnapshot, target: int, ready: int, cap: PoolCapacity, s: ReactiveSettings,
    ttft_ms: float,
) -> tuple[int, str | None]:  # fmt: skip
    """(replicas, why) for prefill; (target, None) when nothing is beyond the plan."""
    isl = _num(snap.isl) or 1.0
    queue = _num(snap.prefill_queue) or 0.0
    c = cap.prefill_tokens_per_s
    if queue <= 0 or not c > 0:
        return target, None
    clear_s = math.inf if ready <= 0 else queue * isl / (ready * c)
    p99 = _num(snap.ttft_p99_ms)
    backlog = clear_s * 1000.0 > s.prefill_backlog * ttft_ms
    slow = p99 is not None and p99 > s.ttft_factor * ttft_ms
    if not (backlog or slow):
        return target, None
    tokens_per_s = snap.arrival_rate * isl + queue * isl / s.drain_s
    need = math.ceil(tokens_per_s / (c * s.utilisation) - 1e-9)
    if need <= target:
        return target, None
    why = (
        f"prefill: {queue:.0f} waiting ({clear_s:.1f} s to clear at {ready} ready)"
        if backlog
        else f"prefill: p99 TTFT {p99:.0f} ms > {ttft_ms:.0f} ms with {queue:.0f} waiting"
    )
    n = _bounded(target, need, s.max_step)
    return n, f"{why}: {target} -> {n}"


def decode_need(
    snap: LoadSnapshot, target: int, ready: int, cap: PoolCapacity, s: ReactiveSettings
) -> tuple[int, str | None]:
    """(replicas, why) for decode; (target, None) when nothing is beyond the plan."""
    waiting = _num(snap.decode_queue) or 0.0
    running = _num(snap.decode_running)
    kv = _num(snap.kv_usage)
    per = cap.decode_sequences
    if not per > 0:
        return target, None
    over = running is not None and running > max(ready, 0) * per
    full = kv is not None and kv > s.kv_high
    if not (waiting > 0 or over or full):
        return target, None
    seqs = (running or 0.0) + waiting
    need = math.ceil(seqs / (per * s.utilisation) - 1e-9)
    if (full or waiting > 0) and need <= target:
        need = target + 1  # slots (KV, sequence cap) bind before ITL does: one more replica
    if need <= target:
        return target, None
    what = (
        f"{waiting:.0f} waiting for a slot"
        if waiting > 0
        else (
            f"{running:.0f} running > {ready} x {per:.0f} ITL-feasible" if over else f"KV {kv:.0%}"
        )
    )
    n = _bounded(target, need, s.max_step)
    return n, f"decode: {what}: {target} -> {n}"


def react(
    snap: LoadSnapshot,
    target: tuple[int, int],
    ready: tuple[int, int],
    cap: PoolCapacity,
    settings: ReactiveSettings,
    ttft_ms: float,
) -> ReactiveAction:
    """Replicas per pool after a reactive check: never below `target` (the replicas asked
    for, starting ones included); `ready` is what serves now."""
    if not settings.enabled:
        return ReactiveAction(*target)
    p, why_p = prefill_need(snap, target[0], ready[0], cap, settings, ttft_ms)
    d, why_d = decode_need(snap, target[1], ready[1], cap, settings)
    return ReactiveAction(p, d, tuple(w for w in (why_p, why_d) if w))
