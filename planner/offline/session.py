"""A dry run from a resolved fleet: the planner, the loop (closed where it can be), the verdicts.

Per deployment the loop is closed -- the discrete-event judge as the plant the planner
controls -- when the judge is the discrete-event replay, the deployment has an attainment
target and its demand has requests to replay: a trace, or Prometheus history (its counters
and token histograms, `evaluation.des_prometheus`). Otherwise its decisions come from demand
alone and are judged afterwards. The closed-loop simulator's model estimate (trace sources) is
reported beside the judge. `Replayed.lengths` says where each judged deployment's request
lengths came from (`evaluation.des_lengths.LengthUsage`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sla_planner.config.fleet import DeploymentSpec, Fleet
from sla_planner.evaluation.des.replay import ReplayResult
from sla_planner.evaluation.des_lengths import LengthUsage
from sla_planner.evaluation.judge import JudgeSettings, judgeable, plant_for, replay_decisions
from sla_planner.model.planner import Allocator, Policy
from sla_planner.offline.closed_loop import LoopPlant, reactive_hook
from sla_planner.offline.dryrun import DeploymentRun, DryRun, run_dry_run
from sla_planner.sources.base import MetricsSource
from sla_planner.sources.trace_source import TraceMetricsSource


@dataclass(frozen=True)
class Replayed:
    """A dry run with its verdicts per deployment: the judge's (None where it cannot replay
    the source, or was not asked)."""

    run: DryRun
    judged: dict[str, ReplayResult | None] = field(default_factory=dict)
    lengths: dict[str, LengthUsage | None] = field(default_factory=dict)


def judge_settings(d: DeploymentSpec, source: MetricsSource) -> JudgeSettings:
    cfg = d.config
    seed = source.seed if isinstance(source, TraceMetricsSource) else 0
    return JudgeSettings(cfg.slo.ttft_ms, cfg.slo.itl_ms, cfg.startup_s, seed)


def closed_loop_wanted(d: DeploymentSpec, source: MetricsSource, judge: str) -> bool:
    return judge == "des" and d.config.slo.attainment is not None and judgeable(source)


def plants(
    fleet: Fleet, sources: Mapping[str, MetricsSource], start: float, end: float, judge: str
) -> dict[str, LoopPlant]:
    out = {}
    for d in fleet.deployments:
        src = sources[d.name]
        if not closed_loop_wanted(d, src, judge):
            continue
        plant = plant_for(src, start, end, d.profiles, judge_settings(d, src))

        def curves(variant: str, spec: DeploymentSpec = d) -> tuple[Any, Any]:
            e = spec.engines(variant)
            return e.prefill.curves, e.decode.curves

        out[d.name] = LoopPlant(plant, d.config, reactive_hook(d.config, curves))
    return out


def replay(
    fleet: Fleet,
    sources: Mapping[str, MetricsSource],
    start: float,
    end: float,
    *,
    warmup: Mapping[str, int] | None = None,
    judge: str = "des",
    policy: Policy | None = None,
    allocator: Allocator | None = None,
    progress: Callable[[int], None] | None = None,
) -> Replayed:
    """Plan the fleet's demand for [start, end), then judge it. `allocator`: the planner shares
    the GPUs its way (the loop still closed where it can be); `policy`: another policy
    altogether (a baseline), its decisions from demand alone, judged afterwards."""
    loops = plants(fleet, sources, start, end, judge) if policy is None else {}
    run = run_dry_run(
        sources,
        policy if policy is not None else fleet.planner(allocator=allocator),
        start,
        end,
        fleet.interval_s,
        warmup=warmup,
        plants=loops,
        progress=progress,
    )
    judged: dict[str, ReplayResult | None] = {}
    lengths: dict[str, LengthUsage | None] = {}
    for d in fleet.deployments:
        r = run.deployments[d.name]
        if r.judged is not None:
            judged[d.name], lengths[d.name] = r.judged, loops[d.name].plant.lengths
        else:
            judged[d.name], lengths[d.name] = _judge(d, sources[d.name], r, run, judge)
    return Replayed(run, judged, lengths)


def _judge(
    d: DeploymentSpec, source: MetricsSource, r: DeploymentRun, run: DryRun, judge: str
) -> tuple[ReplayResult | None, LengthUsage | None]:
    """The open loop's verdict: the finished schedule replayed (sources with requests)."""
    if judge != "des" or not judgeable(source) or not r.decisions:
        return None, None
    end = run.start + len(r.decisions) * run.interval_s
    plant = plant_for(source, run.start, end, d.profiles, judge_settings(d, source))
    return replay_decisions(r.decisions, plant, run.interval_s), plant.lengths
