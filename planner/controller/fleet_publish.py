"""The fleet controller's state as a `FleetSnapshot`: every pool's last outcome refreshed with
the cluster view, each deployment's variant, reasons and forecast, and GPUs per type."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sla_planner.controller.fleet_pools import POOL_ORDER, DeploymentRuntime, running_variant
from sla_planner.controller.fleet_snapshot import (
    DeploymentSnapshot,
    FleetPoolSnapshot,
    FleetSnapshot,
)
from sla_planner.controller.pool_state import current_snapshot
from sla_planner.model.fleet.types import DeploymentAllocation, DeploymentNeed, FleetAllocation


def build_snapshot(
    deployments: Mapping[str, DeploymentRuntime],
    alloc: FleetAllocation | None,
    needs: Mapping[str, DeploymentNeed],
    budget: Mapping[str, int],
    now: float,
    leader: bool,
    partial: Callable[[str], bool] = lambda _name: False,
) -> FleetSnapshot:
    out = {}
    for name, d in deployments.items():
        a = _allocation(alloc, name) if d.name in needs else None
        out[name] = _deployment(d, a, needs.get(name), partial(name))
    used = {t: 0 for t in budget}
    for snap in out.values():
        for t, g in snap.gpus().items():
            used[t] = used.get(t, 0) + g
    return FleetSnapshot(
        timestamp=alloc.timestamp if alloc is not None else None,
        deployments=out,
        gpus_used=used,
        gpu_budget=dict(budget),
        is_leader=leader,
        last_tick_at=now,
    )


def _allocation(alloc: FleetAllocation | None, name: str) -> DeploymentAllocation | None:
    if alloc is None:
        return None
    return next((d for d in alloc.deployments if d.name == name), None)


def _deployment(
    d: DeploymentRuntime,
    a: DeploymentAllocation | None,
    need: DeploymentNeed | None,
    partial: bool,
) -> DeploymentSnapshot:
    held = a.held.variant if a is not None and a.held is not None else None
    # Held out of the allocation (its demand failed): it runs what the cluster runs.
    variant = a.variant if a is not None else running_variant(d)
    pools: dict[str, dict[str, FleetPoolSnapshot]] = {}
    for v in d.variants:
        pools[v] = {}
        for p in POOL_ORDER:
            fp = d.pool(v, p)
            fp.state.snapshot = ps = current_snapshot(fp.state)
            role = "idle"
            reasons: tuple[str, ...] = ()
            if v == variant:
                role = "active"
                if a is not None:
                    pa = a.prefill if p is POOL_ORDER[0] else a.decode
                    reasons = tuple(r.value for r in pa.reasons)
            elif v == held:
                role = "held"
            pools[v][p.value] = FleetPoolSnapshot(
                v, ps, role, fp.gpu_type, fp.gpus_per_replica, reasons
            )
    cfg = d.planner.deployment
    return DeploymentSnapshot(
        name=d.name,
        priority=cfg.priority,
        rank=d.rank,
        variant=variant,
        held_variant=held,
        pools=pools,
        slo=cfg.slo.model_dump(),
        forecast=need.forecast if need is not None else None,
        expected_attainment=a.expected_attainment if a is not None else None,
        reasons=tuple(r.value for r in a.reasons) if a is not None else (),
        reason=(a.text if a is not None else "") or "",
        partial=partial,
        notes=tuple(need.notes) if need is not None else (),
        last_metrics_ok_at=d.feed.last_ok_at,
        data_incomplete=d.feed.incomplete,
        failure=d.failure[1] if d.failure is not None else None,
    )
