"""Judge 2 benchmark: scenarios, the policies' schedules (dry runs) and the shared settings.

Scenarios (H200 Llama-3.1-8B FP8 profile, TTFT 200 ms / ITL 25 ms, 60 s decisions, 120 s startup):
- azure2024-thu-ramp-1x: the Azure 2024 conversation counts, Thursday 2024-05-16 12:20-13:20
  UTC at full rate (~60 req/s; ISL/OSL drawn from the Azure 2023 conv trace). The hour climbs
  from ~54 to ~67 req/s around 12:40-13:00, the day's ramp to its peak: the pools must grow
  before the queues do. The planners get the previous 24 h as history (not replayed).
- azure2023-conv-8x / azure2023-code-4x: the 1-hour per-request traces with their 10 s request
  counts scaled (8x / 4x, Poisson arrivals within each bin, ISL/OSL drawn from the trace itself,
  as the discrete-event judge expands them); first 10 min history, 50 min scored. At 1x one
  worker per pool serves them and every planner ties; code at 4x keeps its bursts (its busiest
  10 s holds 13x its mean rate).
Why these and not a week: Dynamo's replay runs ~3,000 requests per CPU-second (a week of Azure
2024 at 1x is ~3 h per policy); these three cost ~0.3 M requests per policy in total.
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    HPA_TARGETS,
    PROFILE,
    TRACES,
    Loaded,
    Scenario,
    baseline_factories,
    config_for,
    dry_run,
)

from sla_planner.evaluation.des import Schedule  # noqa: E402
from sla_planner.evaluation.sim_demand import demand_from_trace  # noqa: E402
from sla_planner.model.config import SLO, Budget, PlannerConfig  # noqa: E402
from sla_planner.model.planner import Planner  # noqa: E402
from sla_planner.model.types import Decision  # noqa: E402
from sla_planner.profiles.interpolation import ProfileCurves  # noqa: E402
from sla_planner.profiles.registry import load_profile  # noqa: E402
from sla_planner.sources.trace_files import load_trace  # noqa: E402
from sla_planner.sources.trace_source import TraceMetricsSource  # noqa: E402

INTERVAL_S = 60.0
DAY_S = 86400.0
THURSDAY = 4 * DAY_S  # day index 4 of the Azure 2024 week (day 0 = Sunday 2024-05-12)
# The load target of Dynamo's planner needs thresholds: prefill queued tokens per worker
# (2 full 8192-token passes up, a quarter pass down) and decode KV use in percent.
LOAD_THRESHOLDS = {
    "prefill_scale_up_queue_tokens": 16384,
    "prefill_scale_down_queue_tokens": 2048,
    "decode_scale_up_kv_rate": 60.0,
    "decode_scale_down_kv_rate": 20.0,
}
HPA_NAMES = ("hpa", *(f"hpa (target {t:.0%})" for t in sorted(HPA_TARGETS)))


@dataclass(frozen=True)
class J2Scenario:
    scenario: Scenario  # trace, SLA, rate scale, tokens_from (harness.Scenario)
    offset_s: float  # scored stretch starts this long after the trace's first whole interval
    duration_s: float
    history_s: float  # demand history the planners see before it (not replayed)


def scenarios() -> list[J2Scenario]:
    conv, code = "AzureLLMInferenceTrace_conv.csv", "AzureLLMInferenceTrace_code.csv"
    return [
        J2Scenario(
            Scenario(
                "azure2024-thu-ramp-1x",
                "azure2024_conversation_10s_counts.csv",
                200.0,
                25.0,
                tokens_from=conv,
                note="Thu 2024-05-16 12:20-13:20 UTC, 1x; 24 h of history",
            ),
            THURSDAY + 12 * 3600 + 20 * 60,
            3600.0,
            DAY_S,
        ),
        J2Scenario(
            Scenario("azure2023-conv-8x", conv, 200.0, 25.0, rate_scale=8.0),
            600.0,
            3000.0,
            600.0,
        ),
        J2Scenario(
            Scenario("azure2023-code-4x", code, 200.0, 25.0, rate_scale=4.0),
            600.0,
            3000.0,
            600.0,
        ),
    ]


_CURVES: ProfileCurves | None = None


def curves() -> ProfileCurves:
    global _CURVES
    if _CURVES is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _CURVES = ProfileCurves(load_profile(PROFILE))
    return _CURVES


def load(j: J2Scenario) -> Loaded:
    """The scenario's source and stretch, as the harness's Loaded (for its baselines)."""
    s = j.scenario
    trace = load_trace(TRACES / s.trace)
    tok = load_trace(TRACES / s.tokens_from) if s.tokens_from else None
    src = TraceMetricsSource(trace, tokens_from=tok, rate_scale=s.rate_scale)
    t0 = math.floor(trace.start / INTERVAL_S) * INTERVAL_S
    start = t0 + j.offset_s
    end = start + j.duration_s
    demand = demand_from_trace(
        trace, start=start, end=end, bin_s=10.0, tokens_from=tok, rate_scale=s.rate_scale
    )
    warm = round(j.history_s / INTERVAL_S)
    return Loaded(s, trace, src, start, end, demand, warm)


def planner_config(
    j: J2Scenario, budget: int | None, attainment: float | None = None
) -> PlannerConfig:
    """Our planner's shipping defaults with the scenario's TTFT/ITL targets, the shared GPU
    budget and an attainment target (None: the fixed-margin planner). The reactive path is
    off: judge 2's loop calls the planner once per interval only (no 5 s fast path)."""
    sc = j.scenario
    return PlannerConfig(
        slo=SLO(ttft_ms=sc.ttft_ms, itl_ms=sc.itl_ms, attainment=attainment),
        interval_s=INTERVAL_S,
        startup_s=120.0,
        budget=Budget(max_gpus=budget),
        reactive={"enabled": False},
    )


def ours(j: J2Scenario, budget: int | None, attainment: float | None = None) -> Planner:
    """Our planner sized to `attainment`, or with fixed margins (None), as the config says."""
    return Planner.of_one(planner_config(j, budget, attainment), curves())


def schedule_of(decisions: list[Decision]) -> Schedule:
    """A single deployment's decisions as the replicas each one set from its time."""
    return Schedule.of(
        [d.timestamp for d in decisions],
        [d.prefill.replicas for d in decisions],
        [d.decode.replicas for d in decisions],
    )


@dataclass
class Prepared:
    """Everything a replay task needs besides the requests (small and picklable)."""

    j: J2Scenario
    start: float
    end: float
    warmup_intervals: int
    budget: int  # GPUs, shared by ours and Dynamo's planner
    initial: tuple[int, int]  # ours' first decision: every in-loop policy starts there
    schedules: dict[str, tuple[list[float], list[int], list[int]]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def prepare(j: J2Scenario) -> Prepared:
    """Dry runs of the fixed-schedule policies (HPA at each target, static peak, oracle) and
    the shared budget: twice the static peak's GPUs, so it binds neither ours nor HPA."""
    ld = load(j)
    cfg = config_for(j.scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = baseline_factories(ld, curves(), cfg)
    schedules = {}
    for name in (*HPA_NAMES, "static_peak", "oracle"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = dry_run(ld, base[name][1](), INTERVAL_S)
        s = schedule_of(res.decisions)
        schedules[name] = (s.t.tolist(), s.prefill.tolist(), s.decode.tolist())
    peak = schedules["static_peak"]
    budget = 2 * (peak[1][0] + peak[2][0])
    first = _first_decision(j, ld, budget)
    return Prepared(j, ld.start, ld.end, ld.warmup_intervals, budget, first, schedules)


def _first_decision(j: J2Scenario, ld: Loaded, budget: int) -> tuple[int, int]:
    p = ours(j, budget)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = dry_run(replace(ld, end=ld.start + INTERVAL_S), p, INTERVAL_S)
    d = res.decisions[0]
    return d.prefill.replicas, d.decode.replicas
