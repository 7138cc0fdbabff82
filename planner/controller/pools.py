"""The controller's pools (deployment x variant x pool, each scaling its own object) and what it
carries per deployment between ticks, and the two translations between the cluster and the
planner's allocator state (`model.allocate.state`):

- `cluster_state`: the replicas the cluster runs -> the `DeploymentState` the allocator starts
  from. The variant a deployment runs is the one the controller chose last; after a start or
  a gain of leadership it is read from the cluster (the variant with replicas; of several,
  one still starting, i.e. the new side of a switch). Another variant still running is the
  old side of a switch (`Held`): it is kept serving while the new side is not ready, so a
  switch stays make-before-break in a real cluster whose pods take longer than `startup_s`.
- `pool_targets`: an allocation -> the replicas each pool (deployment x variant x pool)
  should run: the variant's own pools get the allocation, the old side of a switch keeps its
  replicas, every other variant 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sla_planner.actuators.base import Actuator
from sla_planner.config.fleet import DeploymentSpec
from sla_planner.controller.demand_feed import DemandFeed, Failure
from sla_planner.controller.pool_state import PoolState
from sla_planner.model.allocate.state import DeploymentState
from sla_planner.model.stabilise.stabilization import Recommendation
from sla_planner.model.types import Decision, Held, Pool, PoolDecision

if TYPE_CHECKING:
    from sla_planner.controller.drain import PoolDrainer

POOL_ORDER = (Pool.PREFILL, Pool.DECODE)


@dataclass(frozen=True)
class PoolKey:
    deployment: str
    variant: str
    pool: Pool

    def __str__(self) -> str:
        return f"{self.deployment}/{self.variant}/{self.pool.value}"


@dataclass
class ControlledPool:
    key: PoolKey
    gpu_type: str
    gpus_per_replica: int
    actuator: Actuator
    state: PoolState
    drain: PoolDrainer | None = None  # drain-aware scale-downs (None: lowered at once)

    def running(self) -> int:
        """Replicas the cluster runs (spec.replicas as last read; else what we last applied)."""
        st = self.state.status
        if st is not None:
            return st.desired
        return self.state.target or 0

    def holding(self) -> int:
        """GPUs it holds for the budget: the larger of what runs and what we last applied."""
        st = self.state.status
        return max(st.desired if st is not None else 0, self.state.target or 0) * (
            self.gpus_per_replica
        )

    def ready(self) -> bool:
        st = self.state.status
        return st is not None and st.ready >= st.desired and st.observed_generation_current


@dataclass
class DeploymentRuntime:
    spec: DeploymentSpec
    feed: DemandFeed
    pools: dict[tuple[str, Pool], ControlledPool]  # (variant, pool)
    failure: Failure | None = None  # why this tick's planning holds it (None: planned)
    decision: Decision | None = None  # the last good one
    reactive: object | None = None  # its queue reader for the reactive path (None: off)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def rank(self) -> int:
        return self.spec.rank

    @property
    def variants(self) -> tuple[str, ...]:  # config order
        return tuple(v.name for v in self.spec.variants)

    @property
    def max_gpus(self) -> int | None:
        return self.spec.config.budget.max_gpus

    def pool(self, variant: str, pool: Pool) -> ControlledPool:
        return self.pools[(variant, pool)]

    def running(self, variant: str) -> tuple[int, int]:
        return (
            self.pool(variant, Pool.PREFILL).running(),
            self.pool(variant, Pool.DECODE).running(),
        )

    def ready(self, variant: str) -> bool:
        return all(self.pool(variant, p).ready() for p in POOL_ORDER)

    def gpus(self, variant: str, prefill: int, decode: int) -> dict[str, int]:
        out: dict[str, int] = {}
        for p, n in ((Pool.PREFILL, prefill), (Pool.DECODE, decode)):
            fp = self.pool(variant, p)
            out[fp.gpu_type] = out.get(fp.gpu_type, 0) + n * fp.gpus_per_replica
        return out

    def holding(self) -> dict[str, int]:
        """GPUs per type every pool of the deployment holds now."""
        out: dict[str, int] = {}
        for fp in self.pools.values():
            out[fp.gpu_type] = out.get(fp.gpu_type, 0) + fp.holding()
        return out


def running_variant(d: DeploymentRuntime) -> str:
    """The variant a deployment runs, read from the cluster (no state to go by)."""
    running = [v for v in d.variants if sum(d.running(v)) > 0]
    if not running:
        return d.variants[0]
    starting = [v for v in running if not d.ready(v)]
    return (starting or running)[0]


def cluster_state(
    d: DeploymentRuntime, prev: DeploymentState | None, now: float, step_s: float
) -> DeploymentState:
    """The state the allocator starts this tick from; see the module docstring. `prev`: what
    the last tick returned (None after a start or a gain of leadership)."""
    if prev is None or prev.variant not in d.variants:
        variant = running_variant(d)
        p, q = d.running(variant)
        # As Planner.seed: what runs counts as a recommendation now, so a restart never
        # scales down straight away (the stabilisation window holds it).
        prev = DeploymentState(
            variant,
            prefill_history=(Recommendation(now, p),),
            decode_history=(Recommendation(now, q),),
        )
    p, q = d.running(prev.variant)
    return replace(prev, prefill=p, decode=q, held=_held(d, prev, now, step_s))


def _held(d: DeploymentRuntime, prev: DeploymentState, now: float, step_s: float) -> Held | None:
    others = {v: d.running(v) for v in d.variants if v != prev.variant}
    others = {v: r for v, r in others.items() if sum(r) > 0}
    if not others:
        return None
    old = max(others, key=lambda v: sum(d.gpus(v, *others[v]).values()))
    p, q = others[old]
    until = prev.held.until if prev.held is not None and prev.held.variant == old else now
    if not d.ready(prev.variant):
        until = max(until, now + step_s)  # keep the old side serving one more interval
    pt, dt = d.pool(old, Pool.PREFILL), d.pool(old, Pool.DECODE)
    return Held(
        old,
        p,
        q,
        pt.gpu_type,
        dt.gpu_type,
        p * pt.gpus_per_replica,
        q * dt.gpus_per_replica,
        until,
    )


@dataclass(frozen=True)
class PoolTarget:
    replicas: int
    decision: PoolDecision  # what plan_pool_action reads (replicas, reason)
    role: str  # "active", "held" (old side of a switch) or "idle" (a variant not in use)


def pool_targets(d: DeploymentRuntime, decision: Decision) -> dict[tuple[str, Pool], PoolTarget]:
    """The replicas each of the deployment's pools should run; see the module docstring."""
    out: dict[tuple[str, Pool], PoolTarget] = {}
    held = decision.held
    slo = d.spec.config.slo
    for variant in d.variants:
        for p, target_ms in zip(POOL_ORDER, (slo.ttft_ms, slo.itl_ms), strict=True):
            fp = d.pool(variant, p)
            if variant == decision.variant:
                pd = decision.prefill if p is Pool.PREFILL else decision.decode
                out[(variant, p)] = PoolTarget(pd.replicas, pd, "active")
                continue
            if held is not None and variant == held.variant:
                n = held.prefill if p is Pool.PREFILL else held.decode
                role = "held"
                reason = f"old variant serving until {decision.variant}'s replicas are ready"
            else:
                n, role = 0, "idle"
                reason = f"variant not in use: the deployment runs {decision.variant}"
            pd = PoolDecision(p, n, n * fp.gpus_per_replica, n, math.nan, target_ms, reason)
            out[(variant, p)] = PoolTarget(n, pd, role)
    return out
