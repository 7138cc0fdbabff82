"""What a pool asks the allocator for: sizing, then scale-to-zero and stabilisation (pure).

In order, for the variant a deployment runs:
1. SLA sizing (`PoolNeed.sized`); with no demand history yet, what runs now (at least the
   minimum).
2. Scale to zero, for pools with `min_replicas: 0` of a deployment with an idle window: no
   requests for the idle window releases the pool (want 0, the stabilisation window skipped:
   idle GPUs go back at once); requests within the window keep at least one replica, so a
   forecast dipping to zero between sparse requests does not bounce the pool, and the first
   requests after zero wake it (want 1).
3. HPA-style scale-down stabilisation: the highest want within `scale_down_window_s`.
The allocator then applies `max_replicas`, the budget and priorities (hard limits win over
holding, as HPA applies min/max last): it may give less, never more.
"""

from __future__ import annotations

from dataclasses import dataclass

from sla_planner.model.reasons import Binding, FleetReason
from sla_planner.model.size.needs import DeploymentNeed, PoolNeed
from sla_planner.model.stabilise.stabilization import Recommendation, Stabilized, stabilize


@dataclass(frozen=True)
class PoolWant:
    wanted: int  # before max_replicas and the budget
    reasons: tuple[FleetReason, ...]
    text: str  # scale-to-zero's words (sizing's and stabilisation's are the decision's)
    stabilized: Stabilized | None  # None: scaled to zero (the window skipped)

    @property
    def history(self) -> tuple[Recommendation, ...]:
        """The stabiliser's, with this tick's want recorded."""
        return self.stabilized.history if self.stabilized is not None else ()

    @property
    def held(self) -> bool:
        return self.stabilized is not None and self.stabilized.held


def is_idle(need: DeploymentNeed, now: float) -> bool:
    """No requests observed within the idle window (or ever, once there is history)."""
    last = need.last_request_at
    window = need.idle_window_s
    return window is not None and (last is None or now - last >= window - 1e-9)


def pool_want(
    pool: PoolNeed,
    need: DeploymentNeed,
    running: int,
    history: tuple[Recommendation, ...],
    now: float,
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
    else:
        base = pool.sized
        reasons.append(
            FleetReason.MINIMUM if pool.binding == Binding.MINIMUM else FleetReason.SIZED
        )
    if pool.limits.min_replicas == 0 and need.has_history and need.idle_window_s is not None:
        if is_idle(need, now):
            since = (
                "no requests seen"
                if need.last_request_at is None
                else f"no requests for {now - need.last_request_at:.0f} s"
            )
            text = f"{since} (idle window {need.idle_window_s:g} s): scaled to zero"
            return PoolWant(0, (FleetReason.SCALED_TO_ZERO,), text, None)
        if from_zero:
            base = max(base, 1)
            reasons.insert(0, FleetReason.WOKEN)
            texts.append(
                f"{need.recent_requests:g} requests in the last interval: waking from zero"
            )
        elif base == 0:
            base = 1
            reasons.insert(0, FleetReason.IDLE_HOLD)
            texts.append("requests within the idle window: keeping one replica")
    held = stabilize(history, base, now, need.scale_down_window_s)
    if held.replicas > base:
        reasons.insert(0, FleetReason.STABILIZED)
    top = min(pool.cap, pool.limits.max_replicas)
    if held.replicas > top:
        reasons.insert(0, FleetReason.MAXIMUM)
    return PoolWant(held.replicas, tuple(reasons), "; ".join(texts), held)
