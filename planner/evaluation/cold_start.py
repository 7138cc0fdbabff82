"""Requests a cold start delays: those arriving while a deployment has no ready replica in a pool.

A deployment at zero (scaled to zero, or squeezed there by the budget) serves nothing: its
requests wait until both pools have a replica ready, which is `startup_s` after the decision
that asks for them, and the planner asks only at the tick after it sees the first requests.
Each delayed request's extra TTFT is the time from its arrival until then; a request whose
deployment never becomes ready again before the replay ends is counted as delayed until the end.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sla_planner.evaluation.estimate import ServedSchedule
from sla_planner.evaluation.sim_demand import SimDemand
from sla_planner.evaluation.simulator import bins_per_interval, ready_replicas


@dataclass(frozen=True)
class ColdStarts:
    wakes: int  # decisions that took the deployment from zero to serving
    delayed_requests: float
    extra_ttft_mean_s: float  # over delayed requests (NaN when none)
    extra_ttft_max_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cold_starts(schedule: ServedSchedule, demand: SimDemand, startup_s: float) -> ColdStarts:
    k = bins_per_interval(demand, schedule.interval_s)
    n = schedule.intervals * k
    startup_bins = math.ceil(startup_s / demand.bin_s - 1e-9)
    ready_p = ready_replicas(np.repeat(schedule.prefill, k), startup_bins)[:n]
    ready_d = ready_replicas(np.repeat(schedule.decode, k), startup_bins)[:n]
    up = (ready_p > 0) & (ready_d > 0)
    serving = (schedule.prefill > 0) & (schedule.decode > 0)
    wakes = int(np.count_nonzero(serving[1:] & ~serving[:-1]))
    # Time each bin's requests wait: from the bin to the next bin with both pools ready.
    idx = np.arange(n)
    nxt = np.where(up, idx, n)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]  # first ready bin at or after each bin
    ready_at = demand.start + nxt * demand.bin_s
    counts = demand.counts[:n]
    down = ~up & (counts > 0)
    if not down.any():
        return ColdStarts(wakes, 0.0, math.nan, math.nan)
    if demand.per_request and demand.req_bin is not None and demand.req_pos is not None:
        rb = demand.req_bin
        hit = (rb < n) & down[np.minimum(rb, n - 1)]
        arrive = demand.start + (rb[hit] + demand.req_pos[hit]) * demand.bin_s
        extra = ready_at[rb[hit]] - arrive
        total = float(hit.sum())
        return ColdStarts(wakes, total, float(extra.mean()), float(extra.max()))
    mid = demand.start + (idx + 0.5) * demand.bin_s
    extra = (ready_at - mid)[down]
    w = counts[down]
    total = float(w.sum())
    return ColdStarts(wakes, total, float((extra * w).sum() / total), float(extra.max()))
