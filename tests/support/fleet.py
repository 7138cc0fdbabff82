"""Hand-made fleet needs for allocator tests: attainment per replica count written out, so each
case can be computed by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sla_planner.model.allocate.plan import FleetSettings
from sla_planner.model.allocate.state import FleetState
from sla_planner.model.allocate.tick import allocate
from sla_planner.model.config import Hysteresis, PoolLimits
from sla_planner.model.reasons import Binding
from sla_planner.model.size.needs import DeploymentNeed, PoolNeed, VariantNeed
from sla_planner.model.size.sizing import SizingResult


def scored(gpu_type, gpr, sized, att, served, binding, limits, cap) -> PoolNeed:
    """A PoolNeed over written-out attainment and served curves (index = replicas 0..cap)."""
    att, served = np.asarray(att, float), np.asarray(served, float)

    def score(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        n = np.minimum(np.arange(lo, hi + 1), cap)
        return att[n], served[n]

    result = SizingResult(sized, np.nan, np.nan, Binding(binding), "test")
    return PoolNeed(gpu_type, gpr, result, limits, cap, score, None)


def pool(
    gpu_type: str = "A",
    sized: int = 1,
    attainment: Sequence[float] | None = None,
    gpus_per_replica: int = 1,
    cap: int = 16,
    min_replicas: int = 1,
    max_replicas: int | None = None,
    served: Sequence[float] | None = None,
    binding: str = "latency",
) -> PoolNeed:
    """A pool whose attainment is `attainment` for 0, 1, 2, ... replicas, then 1.0 (or a step
    to 1.0 at `sized` replicas when not given), up to `cap` replicas."""
    if attainment is None:
        att = np.array([1.0 if n >= sized else 0.0 for n in range(cap + 1)])
    else:
        att = np.ones(cap + 1)
        att[: len(attainment)] = attainment[: cap + 1]
    if served is None:
        sv = np.minimum(1.0, np.arange(cap + 1) / max(sized, 1))
    else:
        sv = np.ones(cap + 1)
        sv[: len(served)] = served[: cap + 1]
    att, sv = np.maximum.accumulate(att), np.maximum.accumulate(sv)
    limits = PoolLimits(min_replicas=min_replicas, max_replicas=max_replicas)
    return scored(gpu_type, gpus_per_replica, sized, att, sv, binding, limits, cap)


def variant(name: str, prefill: PoolNeed, decode: PoolNeed) -> VariantNeed:
    return VariantNeed(name, prefill, decode)


def need(
    name: str,
    *variants: VariantNeed,
    rank: int = 0,
    weight: float = 1.0,
    target: float = 0.99,
    last_request_at: float | None = 0.0,
    recent: float = 10.0,
    idle_window_s: float | None = 600.0,
    has_history: bool = True,
    window_s: float = 0.0,
) -> DeploymentNeed:
    return DeploymentNeed(
        name=name,
        rank=rank,
        target=target,
        weight=weight,
        variants={v.name: v for v in variants},
        has_history=has_history,
        last_request_at=last_request_at,
        recent_requests=recent,
        idle_window_s=idle_window_s,
        scale_down_window_s=window_s,
    )


def simple(
    name: str,
    want_p: int,
    want_d: int,
    gpu_type: str = "A",
    rank: int = 0,
    weight: float = 1.0,
    min_p: int = 1,
    min_d: int = 1,
    gpr: int = 1,
) -> DeploymentNeed:
    """One variant `v` on one GPU type, attaining 1.0 exactly at the wants."""
    return need(
        name,
        variant(
            "v",
            pool(gpu_type, want_p, gpus_per_replica=gpr, min_replicas=min_p),
            pool(gpu_type, want_d, gpus_per_replica=gpr, min_replicas=min_d),
        ),
        rank=rank,
        weight=weight,
    )


def settings(
    gpus: dict[str, int],
    prices: dict[str, float] | None = None,
    startup_s: float = 120.0,
    hysteresis: Hysteresis | None = None,
) -> FleetSettings:
    return FleetSettings(
        gpus=gpus,
        prices=prices or {t: 1.0 for t in gpus},
        startup_s=startup_s,
        hysteresis=hysteresis or Hysteresis(),
    )


@dataclass(frozen=True)
class PoolView:
    replicas: int
    gpus: int
    gpu_type: str
    wanted: int
    reasons: tuple
    text: str


@dataclass(frozen=True)
class DeploymentView:
    """What the allocator decided for one deployment, as the tests read it."""

    name: str
    timestamp: float
    variant: str
    prefill: PoolView
    decode: PoolView
    held: object
    reasons: tuple
    cost_per_hour: float
    expected_attainment: float
    text: str

    def gpus_by_type(self, needs: dict) -> dict[str, int]:
        v = needs[self.name].variants[self.variant]
        out: dict[str, int] = dict(self.held.gpus_by_type()) if self.held else {}
        for pool_need, p in ((v.prefill, self.prefill), (v.decode, self.decode)):
            out[pool_need.gpu_type] = out.get(pool_need.gpu_type, 0) + p.gpus
        return out


@dataclass(frozen=True)
class AllocationView:
    deployments: dict[str, DeploymentView]
    preemptions: tuple
    needs: dict
    budget: dict

    def by_name(self, name: str) -> DeploymentView:
        return self.deployments[name]

    def used(self) -> dict[str, int]:
        out: dict[str, int] = {t: 0 for t in self.budget}
        for d in self.deployments.values():
            for t, g in d.gpus_by_type(self.needs).items():
                out[t] = out.get(t, 0) + g
        return out


def run_allocate(
    needs: Sequence[DeploymentNeed], state: FleetState, now: float, fs: FleetSettings
) -> tuple[AllocationView, FleetState]:
    """`allocate` with its outcome in the shape the tests read."""
    outcomes, preemptions, nxt = allocate(needs, state, now, fs)
    by = {n.name: n for n in needs}
    views = {}
    for name, o in outcomes.items():
        v = by[name].variants[o.variant]
        pools = []
        for po, pn in ((o.prefill, v.prefill), (o.decode, v.decode)):
            text = "; ".join(x for x in (po.head, po.want.text) if x)
            pools.append(
                PoolView(
                    po.replicas,
                    po.replicas * pn.gpus_per_replica,
                    pn.gpu_type,
                    min(po.want.wanted, pn.cap, pn.limits.max_replicas),
                    po.reasons,
                    text,
                )  # fmt: skip
            )
        att = v.prefill.at(o.prefill.replicas) * v.decode.at(o.decode.replicas)
        views[name] = DeploymentView(
            name,
            now,
            o.variant,
            pools[0],
            pools[1],
            o.held,
            o.reasons,
            o.cost_per_hour,
            att,
            o.text,
        )
    return AllocationView(views, preemptions, by, dict(fs.gpus)), nxt
