"""Closed-loop simulator: replay demand against a replica schedule and judge the SLA.

Pure (numpy; no I/O, no clock). The benchmark, the baselines' oracle and the dry run share it.

Inputs
    `SimDemand`: demand in fine bins (e.g. 10 s): request count, mean ISL, mean OSL per bin,
    plus who the requests are -- either every request (bin, position in the bin, ISL) for
    per-request traces, or a sample of prompt lengths (the ISL distribution) for count-only
    traces. `Schedule`: replicas per pool per planning interval (the decisions).

Capacity over time
    GPUs are paid for the decided replicas from the start of the interval they are decided for.
    A replica asked for at time s is ready at s + startup_s; a scale-down frees capacity at once
    (pending replicas are cancelled first). With those rules the ready count is exactly
        ready(t) = min over s in [t - startup_s, t] of decided(s),
    evaluated per fine bin. The first decision's replicas are ready at the start (warm start).

Prefill (TTFT), per fine bin b with n ready replicas, arrival rate lambda, mean prompt s
    - Batching per ProfileCurves: a saturated replica sustains C = prefill_capacity_tps(s)
      tokens/s, so a request costs S = s / C seconds of engine time; utilisation rho = lambda S / n.
    - Backlog (fluid, carried across bins): Q_end = max(0, Q_start + tokens_in - n C bin_s)
      (Lindley recursion, vectorised by cumulative sums). A request arriving at position u of
      the bin waits D = max(0, Q_start + u (tokens_in - n C bin_s)) / (n C) for the backlog.
    - Random waiting on top (the same M/G/n Allen-Cunneen model the sizing uses, at
      rho_eff = min(rho, 0.98) so the fluid backlog takes over past saturation and the model
      stays monotone): P(W > t) = ErlangC(n, n rho_eff) exp(-(n/S)(1 - rho_eff) t / k),
      k = (1 + cs^2) / 2 with cs^2 the squared CV of the prompt lengths actually replayed.
    - Each request is judged on its OWN prompt: TTFT = prefill_ttft_ms(isl) + D + W, so a long
      prompt has a longer base TTFT. P(TTFT <= target) is computed exactly per request
      (per-request traces) or averaged over the ISL distribution's quantiles and four positions
      in the bin (count traces).
Decode (ITL), per fine bin with n ready replicas, context ctx = mean ISL + mean OSL / 2
    - Sequences in flight per replica m solve Little's law m = (lambda / n) osl ITL(m + 1, ctx)
      / 1000 (bisection, vectorised); no solution within the profile's measured KV range means
      the pool is over KV capacity and every request of the bin misses.
    - The count a request shares its replica with is Poisson(m); it meets the ITL target when
      that count + 1 <= decode_max_concurrency(ctx, target) (a conservative, instantaneous view).
A request meets the SLA when TTFT and ITL both do (the two treated as independent).

Outputs (`SimResult`): request-weighted attainment (both / TTFT / ITL), GPU-hours (paid), peak
GPUs, scaling actions (replica-count changes summed over both pools), per-interval figures.
A week at 10 s (60k bins) runs in well under a few seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sla_planner.evaluation.sim_decode import (
    itl_bin_share,
)
from sla_planner.evaluation.sim_demand import (
    SimDemand,
    demand_from_source,
)
from sla_planner.evaluation.sim_prefill import (
    prefill_backlog_state,
    ttft_bin_share,
)
from sla_planner.model.size.latency_curves import Curves
from sla_planner.model.types import Decision

# The dry run's closed-loop figure is skipped beyond this many fine bins (~1.6 years at 10 s):
# its arrays grow with the bins, and a range that long is a sizing study, not a replay.
MAX_SIM_BINS = 5_000_000


@dataclass(frozen=True)
class Schedule:
    """Replicas decided per planning interval, from `start`."""

    start: float
    interval_s: float
    prefill: np.ndarray  # int per interval
    decode: np.ndarray
    gpus_prefill: int = 1  # GPUs per replica
    gpus_decode: int = 1

    @property
    def intervals(self) -> int:
        return int(self.prefill.size)

    @classmethod
    def from_decisions(cls, decisions: Sequence[Decision], interval_s: float) -> Schedule:
        if not decisions:
            raise ValueError("no decisions to simulate")
        p = np.array([d.prefill.replicas for d in decisions], dtype=np.int64)
        d_ = np.array([d.decode.replicas for d in decisions], dtype=np.int64)
        d0 = decisions[0]
        gp = d0.prefill.gpus // d0.prefill.replicas if d0.prefill.replicas else 1
        gd = d0.decode.gpus // d0.decode.replicas if d0.decode.replicas else 1
        return cls(decisions[0].timestamp, interval_s, p, d_, max(gp, 1), max(gd, 1))

    def gpus(self) -> np.ndarray:
        return self.prefill * self.gpus_prefill + self.decode * self.gpus_decode


@dataclass(frozen=True)
class SimResult:
    attainment: float  # request-weighted: TTFT and ITL both met
    ttft_attainment: float
    itl_attainment: float
    gpu_hours: float
    peak_gpus: int
    mean_gpus: float
    scaling_actions: int
    requests: float
    interval_requests: np.ndarray = field(repr=False)
    interval_ok: np.ndarray = field(repr=False)  # expected requests meeting both, per interval

    def as_dict(self) -> dict[str, float | int]:
        return {
            "attainment": self.attainment,
            "ttft_attainment": self.ttft_attainment,
            "itl_attainment": self.itl_attainment,
            "gpu_hours": self.gpu_hours,
            "peak_gpus": self.peak_gpus,
            "mean_gpus": self.mean_gpus,
            "scaling_actions": self.scaling_actions,
            "requests": self.requests,
        }


# ------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------
def ready_replicas(decided_per_bin: np.ndarray, startup_bins: int) -> np.ndarray:
    """ready[b] = min(decided[b - startup_bins .. b]); before the first bin, decided[0]."""
    d = np.asarray(decided_per_bin, dtype=np.int64)
    out = d.copy()
    # Windows of d.size bins or more all reach back to d[0]: more steps change nothing.
    for k in range(1, min(max(int(startup_bins), 0), d.size) + 1):
        shifted = np.concatenate([np.full(min(k, d.size), d[0] if d.size else 0), d[:-k]])
        np.minimum(out, shifted[: d.size], out=out)
    return out


def bin_outcomes(
    curves: Curves,
    demand: SimDemand,
    prefill_ready: np.ndarray,
    decode_ready: np.ndarray,
    ttft_ms: float,
    itl_ms: float,
    decode_curves: Curves | None = None,
    reset_every: int | None = None,
    scv: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-bin shares meeting TTFT, ITL and both, and per-request P(both) (or None).

    `prefill_ready`/`decode_ready` are replicas serving each bin. `reset_every` empties the
    prefill backlog every that many bins (the oracle judges intervals independently).
    """
    dc = curves if decode_curves is None else decode_curves
    sc = demand.prompt_scv() if scv is None else scv
    st = prefill_backlog_state(curves, demand, np.asarray(prefill_ready, np.int64), sc, reset_every)
    ttft, per_req = ttft_bin_share(curves, demand, st, ttft_ms)
    itl = itl_bin_share(dc, demand, np.asarray(decode_ready, np.int64), itl_ms)
    if per_req is not None:
        assert demand.req_bin is not None
        both_req = per_req * itl[demand.req_bin]
        with np.errstate(invalid="ignore", divide="ignore"):
            both = np.bincount(demand.req_bin, weights=both_req, minlength=demand.bins)
            both = np.nan_to_num(both / demand.counts, nan=1.0)
        return ttft, itl, both, both_req
    return ttft, itl, ttft * itl, None


# ------------------------------------------------------------------------------------------
# Running a schedule
# ------------------------------------------------------------------------------------------
def bins_per_interval(demand: SimDemand, interval_s: float) -> int:
    k = interval_s / demand.bin_s
    if abs(k - round(k)) > 1e-6 or round(k) < 1:
        raise ValueError(
            f"the planning interval ({interval_s:g} s) must be a whole number of simulation "
            f"bins ({demand.bin_s:g} s); pick a bin width that divides it"
        )
    return int(round(k))


def _fit_length(demand: SimDemand, bins: int) -> SimDemand:
    if demand.bins == bins:
        return demand
    if demand.bins > bins:
        return demand.slice(0, bins)
    pad = bins - demand.bins
    z = np.zeros(pad)
    nan = np.full(pad, np.nan)
    return SimDemand(
        demand.start,
        demand.bin_s,
        np.concatenate([demand.counts, z]),
        np.concatenate([demand.isl_mean, nan]),
        np.concatenate([demand.osl_mean, nan]),
        demand.req_bin,
        demand.req_pos,
        demand.req_isl,
        demand.isl_sample,
    )


def simulate(
    schedule: Schedule,
    demand: SimDemand,
    curves: Curves,
    ttft_ms: float,
    itl_ms: float,
    startup_s: float,
    decode_curves: Curves | None = None,
) -> SimResult:
    """Replay `demand` against `schedule` (aligned at its start); see the module docstring."""
    if abs(schedule.start - demand.start) > 1e-6:
        raise ValueError(
            f"schedule starts at {schedule.start} but demand at {demand.start}; align them"
        )
    k = bins_per_interval(demand, schedule.interval_s)
    nbins = schedule.intervals * k
    dm = _fit_length(demand, nbins)
    startup_bins = math.ceil(startup_s / dm.bin_s - 1e-9)
    pre = ready_replicas(np.repeat(schedule.prefill, k), startup_bins)
    dec = ready_replicas(np.repeat(schedule.decode, k), startup_bins)
    ttft, itl, both, _ = bin_outcomes(curves, dm, pre, dec, ttft_ms, itl_ms, decode_curves)
    w = dm.counts
    total = float(w.sum())

    def share(x: np.ndarray) -> float:
        return float((x * w).sum() / total) if total > 0 else math.nan

    gpus = schedule.gpus()
    per_int_req = w.reshape(-1, k).sum(axis=1)
    per_int_ok = (both * w).reshape(-1, k).sum(axis=1)
    actions = int(np.count_nonzero(np.diff(schedule.prefill))) + int(
        np.count_nonzero(np.diff(schedule.decode))
    )
    return SimResult(
        attainment=share(both),
        ttft_attainment=share(ttft),
        itl_attainment=share(itl),
        gpu_hours=float(gpus.sum() * schedule.interval_s / 3600.0),
        peak_gpus=int(gpus.max(initial=0)),
        mean_gpus=float(gpus.mean()) if gpus.size else 0.0,
        scaling_actions=actions,
        requests=total,
        interval_requests=per_int_req,
        interval_ok=per_int_ok,
    )


def simulate_decisions(
    decisions: Sequence[Decision],
    demand: SimDemand,
    curves: Curves,
    ttft_ms: float,
    itl_ms: float,
    interval_s: float,
    startup_s: float,
    decode_curves: Curves | None = None,
) -> SimResult:
    """simulate() for a dry run's decisions (demand must start at the first decision)."""
    sched = Schedule.from_decisions(decisions, interval_s)
    return simulate(sched, demand, curves, ttft_ms, itl_ms, startup_s, decode_curves)


def simulate_dry_run(
    result: Any,
    source: Any,
    curves: Curves,
    config: Any,
    decode_curves: Curves | None = None,
    bin_s: float = 10.0,
) -> dict[str, Any] | None:
    """Closed-loop figures for a dry run over a trace (None for other sources, e.g.
    Prometheus, or an interval that is not a whole number of `bin_s` bins)."""
    from sla_planner.sources.trace_source import TraceMetricsSource

    if not isinstance(source, TraceMetricsSource) or not result.decisions:
        return None
    k = config.interval_s / bin_s
    if abs(k - round(k)) > 1e-6 or round(k) < 1:
        return None
    if len(result.decisions) * round(k) > MAX_SIM_BINS:
        return None
    start = result.decisions[0].timestamp
    end = start + len(result.decisions) * config.interval_s
    demand = demand_from_source(source, start, end, bin_s)
    r = simulate_decisions(
        result.decisions,
        demand,
        curves,
        config.sla.ttft_ms,
        config.sla.itl_ms,
        config.interval_s,
        config.startup_s,
        decode_curves,
    )
    return {
        **r.as_dict(),
        "bin_s": bin_s,
        "method": (
            "closed-loop simulation (planner/evaluation/simulator.py): decided replicas paid from the "
            f"decision, ready after startup_s, freed at once; {bin_s:g} s bins; prefill "
            "backlog carried over; each request's TTFT from its own prompt length; decode ITL "
            "at the Little's-law concurrency; request-weighted, TTFT and ITL both met"
        ),
    }
