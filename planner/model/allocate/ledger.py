"""GPUs held right now by every pool the controller scales (or the dry run's closed loop
replays), per GPU type and per deployment: what lets a pool be scaled up on its own -- a tick's
write, a retry, a reaction -- without breaking a budget at any instant (pure).

Two budgets bind a pool: its GPU type's count (every deployment, every variant, both pools of
that type share it) and its deployment's own `max_gpus` (both pools of every variant of the
deployment). The cap of one pool is the tighter of the two, less what every other pool under
it holds. A pool holds the larger of what the cluster runs (spec.replicas as last read) and
what the controller last applied: a write in flight, or a scale-down not yet seen, must not
free GPUs early. The controller records every successful write here before the next pool is
planned; the closed loop records every reaction the same way.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field


@dataclass
class GpuLedger:
    budget: Mapping[str, int | None]  # GPUs per type (None: unlimited)
    # key -> (type, GPUs, deployment, the deployment's max_gpus)
    _held: dict[Hashable, tuple[str, int, str, int | None]] = field(default_factory=dict)

    def hold(
        self,
        key: Hashable,
        gpu_type: str,
        gpus: int,
        deployment: str = "",
        deployment_cap: int | None = None,
    ) -> None:
        """Record that pool `key` holds `gpus` GPUs of `gpu_type` now."""
        self._held[key] = (gpu_type, int(gpus), deployment, deployment_cap)

    def used(self, gpu_type: str) -> int:
        return sum(g for t, g, _, _ in self._held.values() if t == gpu_type)

    def used_by_type(self) -> dict[str, int]:
        out = {t: 0 for t in self.budget}
        for t, g, _, _ in self._held.values():
            out[t] = out.get(t, 0) + g
        return out

    def _room(self, key: Hashable) -> list[int]:
        """GPUs left under each budget that binds `key` once every other pool's are counted."""
        gpu_type, mine, deployment, cap = self._held[key]
        rooms = []
        budget = self.budget.get(gpu_type)
        if budget is not None:
            rooms.append(budget - (self.used(gpu_type) - mine))
        if cap is not None:
            ours = sum(g for _, g, d, _ in self._held.values() if d == deployment)
            rooms.append(cap - (ours - mine))
        return rooms

    def cap(self, key: Hashable, gpus_per_replica: int) -> int | None:
        """Most replicas pool `key` may have while every other pool holds what it holds now
        (None: no budget binds it)."""
        rooms = self._room(key)
        return max(min(rooms) // gpus_per_replica, 0) if rooms else None

    def limit(self, key: Hashable) -> int | None:
        """The budget that binds `key` tightest (its type's count or its deployment's
        max_gpus), for the words of a cap."""
        gpu_type, _, _, cap = self._held[key]
        budget = self.budget.get(gpu_type)
        if budget is None or (cap is not None and cap < budget):
            return cap
        return budget

    def joint_cap(self, keys: tuple[Hashable, ...]) -> int | None:
        """Most GPUs the pools `keys` may hold together while every other pool holds what it
        holds now (None: no budget binds them together): their deployment's max_gpus, and
        their GPU type's count when they share it."""
        held = [self._held[k] for k in keys]
        mine = sum(g for _, g, _, _ in held)
        rooms = []
        types = {t for t, _, _, _ in held}
        if len(types) == 1:
            budget = self.budget.get(next(iter(types)))
            if budget is not None:
                rooms.append(budget - (self.used(next(iter(types))) - mine))
        deployments = {(d, cap) for _, _, d, cap in held}
        if len(deployments) == 1:
            deployment, cap = next(iter(deployments))
            if cap is not None:
                ours = sum(g for _, g, d, _ in self._held.values() if d == deployment)
                rooms.append(cap - (ours - mine))
        return max(min(rooms), 0) if rooms else None
