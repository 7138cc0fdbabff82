"""Discrete-event check of the simulator's prefill (TTFT) model on the per-request traces.

    python benchmarks/des_prefill.py        # writes benchmarks/des_prefill.md (a few seconds)

The benchmark judges every policy with planner/evaluation/simulator.py, an analytic model (per-bin
Allen-Cunneen M/G/n wait plus a fluid backlog) close to the one the planner sizes with
(planner/model/size/latency_model.py). This replays the same requests through an event-driven queue
instead, so a bias of the analytic model in our planner's favour would show up here.

Model: the READY prefill replicas are n(t) identical FCFS servers behind one queue. Request i
costs S_i = isl_i / prefill_capacity_tps(isl_i) seconds of one server (engine time in a
saturated batch) and TTFT_i = wait_i + prefill_ttft_ms(isl_i), the same definitions the
analytic model uses. Schedules come from the same dry runs the benchmark scores, turned into
ready replicas per 10 s bin by the simulator's own functions.
"""

from __future__ import annotations

import argparse
import heapq
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BIN_S, PROFILE, Loaded, baseline_factories, config_for, dry_run, load  # noqa: E402
from run_benchmark import CONFIG_OVERRIDES, ours, scenarios  # noqa: E402

from sla_planner.evaluation.simulator import Schedule, ready_replicas, simulate_decisions  # noqa: E402
from sla_planner.model.types import Decision  # noqa: E402
from sla_planner.profiles.interpolation import ProfileCurves  # noqa: E402
from sla_planner.profiles.registry import load_profile  # noqa: E402
from sla_planner.sources.trace_files import RequestTrace  # noqa: E402

# Policies compared: our default planner, HPA at its default and one tighter target, the
# oracle and Dynamo's classic planner (constant forecaster). Names as in run_benchmark.py.
POLICIES = ("ours: default", "oracle", "hpa", "hpa (target 90%)", "dynamo_classic (constant)")


# ------------------------------------------------------------------------------------------
# The event-driven queue (pure)
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerSchedule:
    """counts[j] servers from times[j] (ascending); counts[0] before times[0] too (warm start,
    as sla_planner.evaluation.simulator.ready_replicas) and counts[-1] after the last change."""

    times: np.ndarray
    counts: np.ndarray

    def __post_init__(self) -> None:
        if self.times.size == 0 or self.times.size != self.counts.size:
            raise ValueError("a server schedule needs as many change times as counts (>= 1)")
        if np.any(np.diff(self.times) < 0) or np.any(self.counts < 0):
            raise ValueError("server schedule times must ascend and counts must be >= 0")

    @classmethod
    def from_bins(cls, start: float, bin_s: float, ready: np.ndarray) -> ServerSchedule:
        r = np.asarray(ready, dtype=np.int64)
        return cls(start + bin_s * np.arange(r.size), r)


def fcfs_start_times(
    arrival_s: np.ndarray, service_s: np.ndarray, servers: ServerSchedule
) -> np.ndarray:
    """Start of service of each request (inf if no server ever comes) in a FCFS queue with
    n(t) identical servers.

    A heap holds the time each present server is next free. Scale-up at T adds servers free
    at T. Scale-down at T removes the servers that free up first (idle ones at once; busy
    ones after their current request, whose start is already fixed): a draining replica takes
    no new work, and the ones kept are those a controller would not stop mid-request.
    """
    a = np.asarray(arrival_s, dtype=float)
    s = np.asarray(service_s, dtype=float)
    if a.size != s.size:
        raise ValueError("arrival_s and service_s must have the same length")
    if a.size > 1 and np.any(np.diff(a) < 0):
        raise ValueError("arrivals must be sorted (FCFS order)")
    times = [float(x) for x in servers.times]
    counts = [int(x) for x in servers.counts]
    first = min(float(a[0]), times[0]) if a.size else times[0]
    free = [first] * counts[0]  # warm start: the first count is ready from the beginning
    nxt = 1  # next schedule change to apply
    out = np.empty(a.size)
    clock = -math.inf  # FCFS with identical servers: starts never go backwards

    def apply(j: int) -> None:
        t, want = times[j], counts[j]
        while len(free) > want:
            heapq.heappop(free)
        while len(free) < want:
            heapq.heappush(free, t)

    for i in range(a.size):
        t = max(float(a[i]), clock)
        while nxt < len(times) and times[nxt] <= t:
            apply(nxt)
            nxt += 1
        while True:
            cand = max(t, free[0]) if free else math.inf
            # A change at or before the candidate start can alter who serves it: apply first.
            if nxt < len(times) and times[nxt] <= cand:
                t = max(t, times[nxt])
                apply(nxt)
                nxt += 1
                continue
            break
        out[i] = cand
        if math.isfinite(cand):
            heapq.heapreplace(free, cand + float(s[i]))
            clock = cand
        else:
            out[i:] = math.inf  # no server for the rest of time: nobody after starts either
            break
    return out


def service_times_s(curves: Any, isl: np.ndarray) -> np.ndarray:
    """S_i = s_i / prefill_capacity_tps(s_i), s_i = max(isl_i, 1): mirrors
    sla_planner.model.size.latency_model.prefill_state (service = s / capacity)."""
    s = np.maximum(np.asarray(isl, dtype=float), 1.0)
    uniq, inv = np.unique(s, return_inverse=True)
    cap = np.array([float(curves.prefill_capacity_tps(x)) for x in uniq])
    return (uniq / cap)[inv]


def des_ttft_ms(
    curves: Any, arrival_s: np.ndarray, isl: np.ndarray, servers: ServerSchedule
) -> np.ndarray:
    """Per-request TTFT (ms): queueing wait + the prompt's own idle TTFT, as the analytic
    model composes it (sla_planner.evaluation.sim_prefill._ttft_ok: prefill_ttft_ms(req_isl) + D + W)."""
    start = fcfs_start_times(arrival_s, service_times_s(curves, isl), servers)
    base = np.asarray(curves.prefill_ttft_ms(np.asarray(isl, dtype=float)), dtype=float)
    return (start - np.asarray(arrival_s, dtype=float)) * 1000.0 + base


# ------------------------------------------------------------------------------------------
# Schedules exactly as the benchmark scores them
# ------------------------------------------------------------------------------------------
def ready_prefill_per_bin(
    decisions: list[Decision], interval_s: float, startup_s: float, bin_s: float
) -> np.ndarray:
    """Ready prefill replicas per fine bin, as sla_planner.evaluation.simulator.simulate derives them."""
    sched = Schedule.from_decisions(decisions, interval_s)
    k = round(interval_s / bin_s)
    startup_bins = math.ceil(startup_s / bin_s - 1e-9)
    return ready_replicas(np.repeat(sched.prefill, k), startup_bins)


@dataclass(frozen=True)
class Check:
    scenario: str
    policy: str
    analytic: float  # SimResult.ttft_attainment
    des: float
    gpu_hours: float
    requests: int
    des_p99_ms: float
    arrival_scv: float  # of the scored window's arrivals

    @property
    def diff(self) -> float:
        """Analytic minus DES: > 0 means the analytic simulator is optimistic."""
        return self.analytic - self.des


def check_policy(ld: Loaded, cfg: Any, curves: Any, name: str, make: Any) -> Check:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Same call as harness.run_policy (which does not hand back its decisions).
        res = dry_run(ld, make(), cfg.interval_s)
        sim = simulate_decisions(
            res.decisions,
            ld.demand,
            curves,
            cfg.sla.ttft_ms,
            cfg.sla.itl_ms,
            cfg.interval_s,
            cfg.startup_s,
        )
    ready = ready_prefill_per_bin(res.decisions, cfg.interval_s, cfg.startup_s, BIN_S)
    tr = ld.trace
    assert isinstance(tr, RequestTrace)
    keep = (tr.arrival_s >= ld.start) & (tr.arrival_s < ld.end)  # the scored window
    ttft = des_ttft_ms(
        curves,
        tr.arrival_s[keep],
        tr.isl[keep],
        ServerSchedule.from_bins(res.decisions[0].timestamp, BIN_S, ready),
    )
    return Check(
        ld.scenario.name,
        name,
        sim.ttft_attainment,
        float(np.mean(ttft <= cfg.sla.ttft_ms)),
        sim.gpu_hours,
        int(keep.sum()),
        float(np.quantile(ttft, 0.99)),
        interarrival_scv(tr.arrival_s[keep]),
    )


def run_checks(curves: Any) -> list[Check]:
    out: list[Check] = []
    for sc in scenarios(False):
        if sc.tokens_from is not None or sc.rate_scale != 1:
            continue  # the week: 10 s counts with borrowed tokens, no arrivals to replay
        ld = load(sc)
        cfg = config_for(sc, **CONFIG_OVERRIDES)
        base = baseline_factories(ld, curves, config_for(sc))  # as run_benchmark does
        for name in POLICIES:
            make = ours(cfg, curves, "default") if name.startswith("ours") else base[name][1]
            c = check_policy(ld, cfg, curves, name, make)
            print(
                f"  {c.scenario:16s} {c.policy:26s} analytic {c.analytic:.4%} des {c.des:.4%} "
                f"diff {c.diff * 100:+.3f} pp gpu_h {c.gpu_hours:.2f}",
                flush=True,
            )
            out.append(c)
    return out


def _ranking(rows: list[Check], key: str) -> list[str]:
    return [r.policy for r in sorted(rows, key=lambda r: -getattr(r, key))]


def reversed_pairs(rows: list[Check]) -> list[tuple[Check, Check]]:
    """Pairs the two models strictly order opposite ways by TTFT attainment (a tie in either
    model is not a reversal)."""
    return [
        (x, y)
        for i, x in enumerate(rows)
        for y in rows[i + 1 :]
        if (x.analytic - y.analytic) * (x.des - y.des) < 0
    ]


def same_order(rows: list[Check]) -> bool:
    return not reversed_pairs(rows)


def interarrival_scv(arrival_s: np.ndarray) -> float:
    """Squared CV of the gaps between arrivals: 1 for Poisson, which both queueing models
    assume inside a bin; far above 1 means requests come in bursts."""
    g = np.diff(np.asarray(arrival_s, dtype=float))
    m = float(g.mean()) if g.size else 0.0
    return float(g.var() / (m * m)) if m > 0 else math.nan


def to_markdown(rows: list[Check], command: str, total_s: float) -> str:
    out = [
        "# Discrete-event check of the prefill (TTFT) model",
        "",
        f"Command: `{command}` ({total_s:.0f} s). Profile `{PROFILE}`. For each per-request "
        "trace scenario of benchmarks/run_benchmark.py, the policy's dry-run decisions become "
        "ready prefill replicas per 10 s bin (sla_planner.evaluation.simulator.Schedule.from_decisions + "
        "ready_replicas, 120 s startup). *Analytic* = SimResult.ttft_attainment from "
        "sla_planner.evaluation.simulator.simulate_decisions (what the benchmark scores). *DES* = share of "
        "the scored window's requests with TTFT <= target when the same requests are replayed "
        "through n(t) FCFS servers, each request costing isl / prefill_capacity_tps(isl) "
        "seconds of one server, TTFT = wait + prefill_ttft_ms(isl). Diff = analytic - DES "
        "in percentage points (> 0: the analytic simulator is optimistic).",
        "",
        "What this checks: the queueing approximation (per-bin Allen-Cunneen/Erlang-C wait "
        "with Poisson arrivals inside a bin, plus a fluid backlog) against the actual arrival "
        "times. What it does not: the engine itself (the DES keeps the same service-time and "
        "idle-TTFT model, one request per server at a time, FCFS, a perfect router) or the "
        "decode side. Scale-down removes the servers that free up first (idle ones at once, "
        "busy ones after their request); scale-up adds servers free from the bin start.",
        "",
    ]
    for sc in dict.fromkeys(r.scenario for r in rows):
        mine = [r for r in rows if r.scenario == sc]
        out += [
            f"## {sc} ({mine[0].requests} requests scored)",
            "",
            "| policy | analytic TTFT att. | DES TTFT att. | diff (pp) | DES p99 TTFT ms | "
            "GPU-hours |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in mine:
            out.append(
                f"| {r.policy} | {r.analytic:.4%} | {r.des:.4%} | {r.diff * 100:+.3f} | "
                f"{r.des_p99_ms:.0f} | {r.gpu_hours:.2f} |"
            )
        rev = reversed_pairs(mine)
        out += [
            "",
            f"Arrival burstiness: inter-arrival squared CV {mine[0].arrival_scv:.1f} "
            "(Poisson = 1, which both models assume within a bin).",
            "",
            "Ranking by TTFT attainment, analytic: " + " > ".join(_ranking(mine, "analytic")),
            "",
            "Ranking by TTFT attainment, DES: " + " > ".join(_ranking(mine, "des")),
            "",
            "Same ranking under both (no pair strictly reversed): "
            + ("yes" if not rev else "**no**"),
        ]
        for x, y in rev:
            out.append(
                f"- reversed: {x.policy} vs {y.policy}: analytic "
                f"{(x.analytic - y.analytic) * 100:+.3f} pp, DES {(x.des - y.des) * 100:+.3f} pp "
                f"({abs(x.des - y.des) * x.requests:.0f} requests)"
            )
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="discrete-event check of the prefill model")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "des_prefill.md"))
    a = ap.parse_args(argv)
    t = time.perf_counter()
    curves = ProfileCurves(load_profile(PROFILE), warn=lambda _msg: None)
    rows = run_checks(curves)
    md = to_markdown(rows, "python benchmarks/des_prefill.py", time.perf_counter() - t)
    Path(a.out).write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
