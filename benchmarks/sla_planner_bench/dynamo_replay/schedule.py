"""Fixed schedules as a `scaling_policy` of Dynamo's replay.

The Rust replay loop calls `initial_tick_ms()` once, then `on_tick(snapshot)` at each tick
(simulated time `snapshot["now_ms"]`); `on_tick` returns `{"target_prefill", "target_decode",
"next_tick_ms"}`: absolute non-draining worker counts (None leaves a pool as it is) and the next
tick (None stops ticking). A scale-up adds workers that serve after the engine's `startup_time`;
a scale-down drains the highest-numbered workers (they finish their in-flight requests, take no
new ones, then are removed). `finalize(lifecycle_operations)` is called by `replay.run_policy`.

Schedules are the discrete-event judge's `Schedule` (decision k at t[k] runs prefill[k] /
decode[k] from then on), so the same object is replayed by both judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sla_planner.evaluation.des import Schedule

Decision = tuple[float, int, int]  # (simulated time s, prefill, decode) desired from then on


def counts_at(schedule: Schedule, t_s: float) -> tuple[int, int]:
    """Counts in force at `t_s` (the first decision's before it)."""
    i = max(0, int(np.searchsorted(schedule.t, t_s, side="right")) - 1)
    return int(schedule.prefill[i]), int(schedule.decode[i])


def shifted(schedule: Schedule, offset_s: float) -> Schedule:
    """The same decisions `offset_s` earlier (trace time -> simulated time)."""
    return Schedule(schedule.t - offset_s, schedule.prefill.copy(), schedule.decode.copy())


def clipped(schedule: Schedule, t0_s: float, t1_s: float) -> Schedule:
    """The decisions in (t0, t1), with the one in force at t0 re-stamped at t0."""
    p0, d0 = counts_at(schedule, t0_s)
    m = (schedule.t > t0_s) & (schedule.t < t1_s)
    return Schedule.of(
        np.concatenate([[t0_s], schedule.t[m]]),
        np.concatenate([[p0], schedule.prefill[m]]),
        np.concatenate([[d0], schedule.decode[m]]),
    )


def from_decisions(decisions: Sequence[Decision], initial: tuple[int, int]) -> Schedule:
    """A step schedule from recorded decisions, with `initial` at t = 0 (simulated time);
    a later decision at the same time replaces an earlier one."""
    t = [0.0] + [float(d[0]) for d in decisions]
    p = [initial[0]] + [int(d[1]) for d in decisions]
    d = [initial[1]] + [int(x[2]) for x in decisions]
    keep = [i for i in range(len(t)) if i + 1 == len(t) or t[i + 1] > t[i]]
    return Schedule.of([t[i] for i in keep], [p[i] for i in keep], [d[i] for i in keep])


class FixedSchedulePolicy:
    """Applies `schedule` (simulated time) at its decision times after t = 0; the replay must
    start with `counts_at(schedule, 0)` workers ready. Counts are floored at `min_workers`
    (the replay needs a worker in each pool to serve anything)."""

    def __init__(self, schedule: Schedule, *, min_workers: int = 1) -> None:
        self.schedule = schedule
        self.min_workers = min_workers
        self._ticks = [float(x) for x in schedule.t[schedule.t > 0.0]]
        self._i = 0
        self.decisions: list[Decision] = []
        self.lifecycle: list[dict[str, Any]] = []

    def initial_tick_ms(self) -> float:
        return self._ticks[0] * 1000.0 if self._ticks else 0.0  # no decisions: one idle tick

    def on_tick(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        now_s = float(snapshot["now_ms"]) / 1000.0
        if self._i >= len(self._ticks):
            return {"target_prefill": None, "target_decode": None, "next_tick_ms": None}
        p, d = counts_at(self.schedule, now_s + 1e-9)
        p, d = max(p, self.min_workers), max(d, self.min_workers)
        self.decisions.append((now_s, p, d))
        self._i += 1
        nxt = self._ticks[self._i] * 1000.0 if self._i < len(self._ticks) else None
        return {"target_prefill": p, "target_decode": d, "next_tick_ms": nxt}

    def finalize(self, lifecycle_operations: Sequence[dict[str, Any]] | None = None) -> None:
        self.lifecycle = list(lifecycle_operations or [])
