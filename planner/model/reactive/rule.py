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
  caps a step the same way). What else bounds it (the plan, max_replicas, the budget, stuck or
  implausible readings) is `sla_planner.model.reactive.guard`, shared by every path.
- a prefill backlog that no number of replicas clears faster (one mean prompt alone on one
  replica already takes longer than the trigger) is not a reason to add replicas: held.

The predictive planner then holds a reactive scale-up for its scale-down window
(`Planner.seed` with what the pools run after it): a burst that triggered it is evidence, and dropping the replicas
a minute later only to need them again is the flapping HPA's window exists to prevent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sla_planner.model.config import ReactiveSettings
from sla_planner.model.reasons import ReactiveReason as R
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
    """Replicas per pool after a reactive check, why each raised pool was raised (`reasons`),
    what held or bounded a pool (`notes`), and the codes of both (`codes`)."""

    prefill: int
    decode: int
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    codes: tuple[R, ...] = ()

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


@dataclass(frozen=True)
class Trigger:
    """What the rule saw beyond the plan in one pool: the replicas it would want (unbounded),
    the signal (`code`) and its reading (the same value again while the replicas it asked for
    came up is a stuck signal), and why in words. `replicas` is None for a hold."""

    replicas: int | None
    code: R
    reading: float
    why: str


def prefill_trigger(
    snap: LoadSnapshot, target: int, ready: int, cap: PoolCapacity, s: ReactiveSettings,
    ttft_ms: float,
) -> Trigger | None:  # fmt: skip
    """Prefill's trigger (None when nothing is beyond the plan)."""
    isl = _num(snap.isl) or 1.0
    queue = _num(snap.prefill_queue) or 0.0
    c = cap.prefill_tokens_per_s
    if queue <= 0 or not c > 0:
        return None
    clear_s = math.inf if ready <= 0 else queue * isl / (ready * c)
    p99 = _num(snap.ttft_p99_ms)
    backlog = clear_s * 1000.0 > s.prefill_backlog * ttft_ms
    slow = p99 is not None and p99 > s.ttft_factor * ttft_ms
    if not (backlog or slow):
        return None
    code, reading = (R.BACKLOG, queue) if backlog else (R.SLOW_TTFT, float(p99 or 0.0))
    why = (
        f"prefill: {queue:.0f} waiting ({clear_s:.1f} s to clear at {ready} ready)"
        if backlog
        else f"prefill: p99 TTFT {p99:.0f} ms > {ttft_ms:.0f} ms with {queue:.0f} waiting"
    )
    # One prompt is prefilled on one replica: at any size the backlog takes at least one mean
    # prompt's time alone. When that alone trips the trigger, more replicas cannot help.
    alone_ms = 1000.0 * isl / c
    limit_ms = (s.prefill_backlog if backlog else s.ttft_factor) * ttft_ms
    if alone_ms >= limit_ms:
        held = (
            f"{why}: holding at {target}, no number of replicas serves it faster (one "
            f"{isl:.3g}-token prompt alone takes {alone_ms / 1000:.3g} s on a replica)"
        )
        return Trigger(None, R.HOLD_UNSERVABLE, reading, held)
    tokens_per_s = snap.arrival_rate * isl + queue * isl / s.drain_s
    need = math.ceil(tokens_per_s / (c * s.utilisation) - 1e-9)
    return Trigger(need, code, reading, why) if need > target else None


def decode_trigger(
    snap: LoadSnapshot, target: int, ready: int, cap: PoolCapacity, s: ReactiveSettings
) -> Trigger | None:
    """Decode's trigger (None when nothing is beyond the plan)."""
    waiting = _num(snap.decode_queue) or 0.0
    running = _num(snap.decode_running)
    kv = _num(snap.kv_usage)
    per = cap.decode_sequences
    if not per > 0:
        return None
    over = running is not None and running > max(ready, 0) * per
    full = kv is not None and kv > s.kv_high
    if not (waiting > 0 or over or full):
        return None
    seqs = (running or 0.0) + waiting
    need = math.ceil(seqs / (per * s.utilisation) - 1e-9)
    if (full or waiting > 0) and need <= target:
        need = target + 1  # slots (KV, sequence cap) bind before ITL does: one more replica
    if need <= target:
        return None
    if waiting > 0:
        code, reading, what = R.SLOT_WAIT, waiting, f"{waiting:.0f} waiting for a slot"
    elif over:
        assert running is not None
        what = f"{running:.0f} running > {ready} x {per:.0f} ITL-feasible"
        code, reading = R.OVER_ITL, running
    else:
        assert kv is not None
        code, reading, what = R.KV_FULL, kv, f"KV {kv:.0%}"
    return Trigger(need, code, reading, f"decode: {what}")


def prefill_need(
    snap: LoadSnapshot, target: int, ready: int, cap: PoolCapacity, s: ReactiveSettings,
    ttft_ms: float,
) -> tuple[int, str | None]:  # fmt: skip
    """(replicas, why) for prefill; (target, None) when nothing is beyond the plan."""
    return _step(prefill_trigger(snap, target, ready, cap, s, ttft_ms), target, s)


def decode_need(
    snap: LoadSnapshot, target: int, ready: int, cap: PoolCapacity, s: ReactiveSettings
) -> tuple[int, str | None]:
    """(replicas, why) for decode; (target, None) when nothing is beyond the plan."""
    return _step(decode_trigger(snap, target, ready, cap, s), target, s)


def _step(t: Trigger | None, target: int, s: ReactiveSettings) -> tuple[int, str | None]:
    if t is None or t.replicas is None:
        return target, None
    n = _bounded(target, t.replicas, s.max_step)
    return n, f"{t.why}: {target} -> {n}"


def react(
    snap: LoadSnapshot,
    target: tuple[int, int],
    ready: tuple[int, int],
    cap: PoolCapacity,
    settings: ReactiveSettings,
    ttft_ms: float,
) -> ReactiveAction:
    """Replicas per pool after a reactive check, the rule alone (one step at most): never below
    `target` (the replicas asked for, starting ones included); `ready` is what serves now."""
    if not settings.enabled:
        return ReactiveAction(*target)
    p, why_p = prefill_need(snap, target[0], ready[0], cap, settings, ttft_ms)
    d, why_d = decode_need(snap, target[1], ready[1], cap, settings)
    return ReactiveAction(p, d, tuple(w for w in (why_p, why_d) if w))
