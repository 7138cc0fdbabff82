"""GPUs held right now, per GPU type, by every pool the controller scales: what lets a pool be
scaled up on its own without breaking a type's budget at any instant.

The single-deployment controller caps a pool by the GPUs the *other* pool holds now
(`pool_action.budget_cap`); a fleet has many pools per GPU type (every deployment, every
variant, both pools), so the cap of one is the type's count minus what all the others hold.
A pool holds the larger of what the cluster runs (spec.replicas as last read) and what the
controller last applied: a write in flight, or a scale-down not yet seen, must not free GPUs
early. The controller records every successful write here before the next pool is planned.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from sla_planner.controller.pool_action import budget_cap


@dataclass
class GpuLedger:
    budget: Mapping[str, int]  # GPUs per type
    _held: dict[Hashable, tuple[str, int]] = field(default_factory=dict)  # key -> (type, GPUs)

    def hold(self, key: Hashable, gpu_type: str, gpus: int) -> None:
        """Record that pool `key` holds `gpus` GPUs of `gpu_type` now."""
        self._held[key] = (gpu_type, int(gpus))

    def used(self, gpu_type: str) -> int:
        return sum(g for t, g in self._held.values() if t == gpu_type)

    def used_by_type(self) -> dict[str, int]:
        out = {t: 0 for t in self.budget}
        for t, g in self._held.values():
            out[t] = out.get(t, 0) + g
        return out

    def others(self, key: Hashable) -> int:
        """GPUs of `key`'s type held by every pool but `key`."""
        gpu_type, mine = self._held[key]
        return self.used(gpu_type) - mine

    def cap(self, key: Hashable, gpus_per_replica: int) -> int | None:
        """Most replicas pool `key` may have while every other pool holds what it holds now
        (None: its type has no budget)."""
        gpu_type, _ = self._held[key]
        budget = self.budget.get(gpu_type)
        return budget_cap(budget, self.others(key), gpus_per_replica)
