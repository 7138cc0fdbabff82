"""Fleet benchmark: the demo fleet (or --config) under ours and three ways peers share GPUs.

    python benchmarks/fleet_benchmark.py [--config FLEET.yaml] [--out benchmarks/fleet_results]

Every policy gets the same needs each tick: the same per-deployment forecasting and sizing
(the single-deployment planner's), stabilisation and scale-to-zero rules. They differ only in
how the cluster's GPUs are shared (see sla_planner_bench.baselines.fleet):
- ours: priority classes, SLO-weighted attainment per dollar, preemption, variant choice;
- static split: per-deployment planners inside fixed quotas per GPU type, in proportion to each
  deployment's peak wants in an unbounded run (generous: the quotas know the peaks);
- first-come cap (Dynamo global planner): scale requests accepted whole if the fleet stays
  within every type's cap, else rejected, in random arrival order each tick;
- greedy saturation (llm-d WVA limiter): most saturated first, partial, no preemption;
- unbounded: every want granted, budget ignored (a reference; it breaks the budget).
The baselines run each deployment on the variant ours ran most (so the GPU types match and
only the sharing differs). Attainment is judged by the discrete-event replay of every request
(`evaluation.fleet_des_judge`, independent of the sizing); the closed-loop simulator's figure
(a model estimate that shares the sizing's queueing model) is reported beside it, labelled.
`--judge simulator` makes the estimate the judge (faster). Writes OUT.json and OUT.md, and
prints the table.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from sla_planner.evaluation.fleet_des_judge import DesJudge
from sla_planner.evaluation.fleet_judge import SimulatorJudge
from sla_planner.model.fleet.fleet import FleetAllocator
from sla_planner.model.fleet.plan import FleetSettings
from sla_planner.offline.fleet_dryrun import FleetRun, replay_fleet
from sla_planner.offline.fleet_outputs import build_fleet_report, judge_fleet
from sla_planner.offline.fleet_sources import FleetSources, build_sources
from sla_planner.offline.report import write_report_json
from sla_planner.sources.fleet_file import LoadedFleet, demo_fleet_path, load_fleet_file
from sla_planner_bench.baselines.fleet import (
    FirstComeCapPolicy,
    GreedySaturationPolicy,
    StaticSplitPolicy,
    UnboundedPolicy,
    static_quotas,
)

HERE = Path(__file__).resolve().parent


def run_policy(
    loaded: LoadedFleet, fs: FleetSources, policy: Any, judge: str = "des"
) -> tuple[FleetRun, dict, float]:
    t0 = time.perf_counter()
    run = replay_fleet(loaded, fs, policy)
    wall = time.perf_counter() - t0
    cfg, variants = loaded.config, loaded.variants
    if judge == "des":
        judged = judge_fleet(run, cfg, variants, fs.sources, DesJudge(), estimate=SimulatorJudge())
    else:
        judged = judge_fleet(run, cfg, variants, fs.sources, SimulatorJudge())
    return run, build_fleet_report(run, cfg, judged, {}), wall


def peaks_and_minimums(
    loaded: LoadedFleet, run: FleetRun, placement: dict[str, str]
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    peaks: dict[str, dict[str, int]] = {}
    mins: dict[str, dict[str, int]] = {}
    for d in loaded.config.deployments:
        per = [a.by_name(d.name).gpus_by_type() for a in run.allocations]
        types = {t for p in per for t in p}
        peaks[d.name] = {t: max(p.get(t, 0) for p in per) for t in types}
        v = next(v for v in loaded.variants[d.name] if v.name == placement[d.name])
        m: dict[str, int] = {}
        for e, lim in ((v.prefill, d.prefill), (v.decode, d.decode)):
            m[e.gpu_type] = m.get(e.gpu_type, 0) + lim.min_replicas * e.gpus_per_replica
        mins[d.name] = m
    return peaks, mins


def row(name: str, report: dict, wall: float) -> dict[str, Any]:
    f = report["fleet"]
    est = f.get("model_estimate") or {}
    return {
        "policy": name,
        "slo_weighted_attainment": f["slo_weighted_attainment"],
        "attainment": f["attainment"],
        "by_class": report["priority_classes"],
        "by_deployment": {n: d["attainment"] for n, d in report["deployments"].items()},
        "model_estimate_slo_weighted": est.get("slo_weighted_attainment", math.nan),
        "model_estimate_by_deployment": {
            n: (d["model_estimate"] or {}).get("attainment", math.nan)
            for n, d in report["deployments"].items()
        },
        "slo_met": f["deployments_meeting_slo"],
        "cost": f["cost"],
        "gpu_hours": f["gpu_hours"],
        "peak_gpus_by_type": f["peak_gpus_by_type"],
        "budget_respected": f["budget_respected"],
        "preemptions": f["priority_preemptions"],
        "cold_delayed": sum(
            (d["cold_start"] or {}).get("delayed_requests", 0.0)
            for d in report["deployments"].values()
        ),
        "wall_s": wall,
    }


def pct(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.2f}%"


def markdown(
    rows: list[dict], loaded: LoadedFleet, quotas: dict, placement: dict, method: str
) -> str:
    cfg = loaded.config
    names = [d.name for d in cfg.deployments]
    budget = ", ".join(f"{n} {t}" for t, n in ((t, p.count) for t, p in cfg.cluster.gpus.items()))
    head = (
        "| policy | SLO-weighted attainment | attainment | "
        + " | ".join(f"{n} ({d.priority}, target {100 * d.slo.attainment:g}%)" for n, d in zip(names, cfg.deployments, strict=True))
        + " | SLOs met | cost | GPU-hours | peak GPUs | within budget | SLO-weighted, model estimate |"
    )  # fmt: skip
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        peak = ", ".join(f"{t} {n}" for t, n in r["peak_gpus_by_type"].items())
        lines.append(
            f"| {r['policy']} | {pct(r['slo_weighted_attainment'])} | {pct(r['attainment'])} | "
            + " | ".join(pct(r["by_deployment"][n]) for n in names)
            + f" | {len(r['slo_met'])}/{len(names)} | {r['cost']:.2f} | {r['gpu_hours']:.2f} | "
            f"{peak} | {'yes' if r['budget_respected'] else 'NO'} | "
            f"{pct(r['model_estimate_slo_weighted'])} |"
        )
    quota = "; ".join(
        f"{n}: " + ", ".join(f"{g} {t}" for t, g in q.items()) for n, q in quotas.items()
    )
    where = ", ".join(f"{n} {v}" for n, v in placement.items())
    return "\n".join(
        [
            f"Fleet: `{loaded.path.name}`, budget {budget}; baselines' variants: {where}; "
            f"static quotas: {quota}.",
            "",
            f"Attainment by {method}.",
            "",
            *lines,
            "",
        ]
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", help="fleet config (default: the bundled demo fleet)")
    ap.add_argument("--out", default=str(HERE / "fleet_results"), help="OUT.json / OUT.md")
    ap.add_argument("--judge", choices=("des", "simulator"), default="des")
    args = ap.parse_args(argv)
    loaded = load_fleet_file(args.config or demo_fleet_path())
    fs = build_sources(loaded)
    settings = FleetSettings.from_config(loaded.config)

    ours_run, ours, ours_wall = run_policy(loaded, fs, FleetAllocator(settings), args.judge)
    placement = {
        n: d["variant_main"] or loaded.variants[n][0].name for n, d in ours["deployments"].items()
    }
    unb_run, unb, unb_wall = run_policy(
        loaded, fs, UnboundedPolicy(settings, placement), args.judge
    )
    peaks, mins = peaks_and_minimums(loaded, unb_run, placement)
    quotas = static_quotas(settings.gpus, peaks, mins)
    results = [row("ours (sla-planner fleet)", ours, ours_wall)]
    for name, policy in (
        ("per-deployment planners, static split", StaticSplitPolicy(settings, quotas, placement)),
        ("first-come accept/reject under the cap (Dynamo global planner)", FirstComeCapPolicy(settings, placement)),
        ("greedy by saturation, no preemption (WVA limiter)", GreedySaturationPolicy(settings, placement)),
    ):  # fmt: skip
        _, rep, wall = run_policy(loaded, fs, policy, args.judge)
        results.append(row(name, rep, wall))
    results.append(row("unbounded (budget ignored; reference)", unb, unb_wall))
    method = (
        "the discrete-event replay of every request (independent of the sizing); the last "
        "column is the closed-loop simulator's model estimate"
        if args.judge == "des"
        else "the closed-loop simulator (a model estimate that shares the sizing's model)"
    )
    md = markdown(results, loaded, quotas, placement, method)
    out = Path(args.out)
    write_report_json(out.with_suffix(".json"), {"rows": results, "quotas": quotas, "placement": placement,
                                                 "peaks_unbounded": peaks})  # fmt: skip
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
