"""What to do with one pool this tick, given its decision and the cluster's state (pure).

The controller reads the cluster and writes it; this decides between them, like HPA's
replica calculator beside its controller: refuse a decision that would grow the pool by orders
of magnitude (absurd input, not demand), standby (not the leader), never scale down on
incomplete demand data, hold while a previous scale-up is still starting, steady, or scale to a
number capped by the GPU budget that the other pool holds right now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from sla_planner.actuators.base import ReplicaStatus
from sla_planner.model.types import PoolDecision


class ActionKind(str, Enum):
    STANDBY = "standby"
    HOLD_ABSURD = "hold_absurd"
    HOLD_INCOMPLETE = "hold_incomplete"
    HOLD_SUSPECT = "hold_suspect"
    HOLD_STARTING = "hold_starting"
    STEADY = "steady"
    SCALE = "scale"


@dataclass(frozen=True)
class PoolAction:
    kind: ActionKind
    replicas: int | None  # what to apply (SCALE, STEADY), publish (STANDBY) or keep (HOLD)
    reason: str
    startup_timeout: bool = False  # scaling on although the previous scale-up never got ready


def budget_cap(budget_gpus: int | None, other_pool_gpus: int, gpus_per_replica: int) -> int | None:
    """Most replicas a pool may have while the other pool holds `other_pool_gpus` GPUs
    (None: no budget)."""
    if budget_gpus is None:
        return None
    return max((budget_gpus - other_pool_gpus) // gpus_per_replica, 0)


# Growth up to this many replicas in one step is never called absurd, whatever the factor.
ABSURD_MIN_STEP = 8


def absurd_limit(current: int, factor: float) -> int:
    """Most replicas one decision may ask of a pool running `current` before it is refused as
    absurd (orders of magnitude beyond what runs: bad input, not demand)."""
    return max(math.ceil(factor * max(current, 1)), current + ABSURD_MIN_STEP)


def starting_since(status: ReplicaStatus, since: float | None, now: float) -> float | None:
    """When the pool's pending scale-up began (None once every replica is ready)."""
    if status.ready >= status.desired and status.observed_generation_current:
        return None
    return now if since is None else since


def plan_pool_action(
    decision: PoolDecision,
    status: ReplicaStatus,
    *,
    target: int | None,
    since: float | None,
    cap: int | None,
    budget_gpus: int | None,
    leader: bool,
    grace_s: float,
    now: float,
    data_gap: str | None = None,
    max_step_factor: float | None = None,
    suspect: str | None = None,
) -> PoolAction:
    """The action for one pool. `cap`: most replicas the budget allows it given the other
    pool's replicas now; `since`: when its pending scale-up began; `target`: last applied;
    `data_gap`: why the newest demand data is incomplete (None: complete); `max_step_factor`:
    growth beyond this factor in one step is refused as absurd (None: no check); `suspect`:
    why the newest interval's count was held as suspect data (None: it was not)."""
    want = decision.replicas
    if max_step_factor is not None and want > absurd_limit(status.desired, max_step_factor):
        why = (
            f"refusing {want} replicas: {want / max(status.desired, 1):.3g}x the {status.desired} "
            f"running is beyond the {max_step_factor:g}x step limit (absurd input, not demand)"
        )
        return PoolAction(ActionKind.HOLD_ABSURD, target, f"holding at {target}: {why}")
    notes: list[str] = [decision.reason] if decision.reason else []
    if want > status.desired and cap is not None and want > cap:
        capped = max(cap, status.desired)
        notes.append(
            f"capped at {capped} (budget {budget_gpus} GPUs) until the other pool scales down"
        )
        want = capped
    if not leader:
        return PoolAction(ActionKind.STANDBY, want, "standby: not the leader, not actuating")
    if data_gap is not None:
        if want <= status.desired:  # a count that is a lower bound cannot justify less
            smaller = f" (sized {want})" if want < status.desired else ""
            why = f"holding at {status.desired}{smaller}, no scale-down: {data_gap}"
            return PoolAction(ActionKind.HOLD_INCOMPLETE, status.desired, why)
        notes.append(f"scaling up on the data there is: {data_gap}")
    if suspect is not None:
        # The demand was held at its level: it cannot justify less either. A scale-up (the
        # reactive path's, reading the queues) still goes ahead.
        if want <= status.desired:
            why = f"holding at {status.desired}, no scale-down: {suspect}"
            return PoolAction(ActionKind.HOLD_SUSPECT, status.desired, why)
        notes.append(suspect)
    timed_out = False
    if want > status.desired and since is not None:
        waited = now - since
        if waited < grace_s:
            why = (
                f"waiting for the previous scale-up to become ready (ready {status.ready}/"
                f"{status.desired}, {waited:.0f} s of {grace_s:.0f} s grace); wants {want}"
            )
            return PoolAction(ActionKind.HOLD_STARTING, target, f"holding at {target}: {why}")
        timed_out = True
        notes.append(
            f"previous scale-up still not ready after {waited:.0f} s "
            f"(ready {status.ready}/{status.desired}); scaling anyway"
        )
    if want == status.desired:
        return PoolAction(ActionKind.STEADY, want, "; ".join(notes) or "steady", timed_out)
    code = "scale_up" if want > status.desired else "scale_down"
    return PoolAction(ActionKind.SCALE, want, "; ".join(notes) or code, timed_out)
