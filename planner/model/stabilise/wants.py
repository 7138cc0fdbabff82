"""What a pool asks the allocator for: sizing, then scale-to-zero, stabilisation and limits (pure).

In order, for the variant a deployment runs:
1. SLA sizing (`PoolNeed.sized`); with no demand history yet, the minimum or what runs now.
2. Scale to zero, for pools with `min_replicas: 0`: no requests for the idle window releases
   the pool (want 0, the stabilisation window skipped: idle GPUs go back at once); requests
   within the window keep at least one replica, so a forecast dipping to zero between sparse
   requests does not bounce the pool, and the first requests after zero wake it (want 1).
3. HPA-style scale-down stabilisation: the highest want within `scale_down_window_s`.
4. `max_replicas` and the GPU type's size.
The allocator may then give less (budget, priorities) but never more.
"""

from __future__ import annotations

from dataclasses import dataclass

from sla_planner.model.fleet.types import DeploymentNeed, FleetReason, PoolNeed
from sla_planner.model.stabilise.stabilization import Recommendation, stabilize


@dataclass(frozen=True)
class PoolWant:
    wanted: int
    reasons: tuple[FleetReason, ...]
    text: str
    history: tuple[Recommendation, ...]  # the stabiliser's, with this tick's want recorded


def is_idle(need: DeploymentNeed, now: float) -> bool:
    """No requests observed within the idle window (or ever, once there is history)."""
    last = need.last_request_at
    return last is None or now - last >= need.idle_window_s - 1e-9


def pool_want(
    pool: PoolNeed,
    need: DeploymentNeed,
    running: int,
    history: tuple[Recommendation, ...],
    now: float,
    window_s: float,
    from_zero: bool | None = None,
) -> PoolWant:
    """The replicas one pool of the deployment's current variant asks for; see the module
    docstring for the rules and their order. `from_zero`: the deployment runs nothing now
    (default: this pool runs nothing)."""
    if from_zero is None:
        from_zero = running == 0
    reasons: list[FleetReason] = []
    texts: list[str] = []
    if not need.has_history:
        base = max(pool.limits.min_replicas, running)
        reasons.append(FleetReason.COLD)
        texts.append("no demand history yet: holding what runs (or the minimum)")
    else:
        base = pool.sized
        reasons.append(FleetReason.MINIMUM if pool.binding == "minimum" else FleetReason.SIZED)
        texts.append(f"{pool.binding}: {pool.reason}")
    if pool.limits.min_replicas == 0 and need.has_history:
        if is_idle(need, now):
            since = (
                "no requests seen"
                if need.last_request_at is None
                else f"no requests for {now - need.last_request_at:.0f} s"
            )
            text = f"{since} (idle window {need.idle_window_s:g} s): scaled to zero"
            return PoolWant(0, (FleetReason.SCALED_TO_ZERO,), text, ())
        if from_zero:
            base = max(base, 1)
            reasons.insert(0, FleetReason.WOKEN)
            texts.insert(
                0, f"{need.recent_requests:g} requests in the last interval: waking from zero"
            )
        elif base == 0:
            base = 1
            reasons.insert(0, FleetReason.IDLE_HOLD)
            texts.insert(0, "requests within the idle window: keeping one replica")
    held = stabilize(history, base, now, window_s)
    want = held.replicas
    if want > base:
        reasons.insert(0, FleetReason.STABILIZED)
        texts.insert(0, f"holding scale-down (stabilisation window): sized {base}, keeping {want}")
    top = pool.cap if pool.limits.max_replicas is None else min(pool.cap, pool.limits.max_replicas)
    if want > top:
        reasons.insert(0, FleetReason.MAXIMUM)
        texts.insert(
            0, f"capped at {top} (max_replicas / GPUs of type {pool.gpu_type}): wanted {want}"
        )
        want = top
    return PoolWant(want, tuple(reasons), "; ".join(texts), held.history)
