"""Fleet benchmark: the demo fleet (or --config) under ours and three ways peers share GPUs.

    python benchmarks/fleet_benchmark.py [--config FLEET.yaml] [--out benchmarks/fleet_results]

Every policy is the same `Planner` (`Fleet.planner(allocator=...)`): the same per-deployment
forecasting, sizing, error budget, stabilisation and scale-to-zero rules, each deployment's loop
closed through the discrete-event judge as `sla-planner fleet dry-run` closes it. They differ
only in how the cluster's GPUs are shared (see sla_planner_bench.baselines.fleet):
- ours: priority classes, SLO-weighted attainment per dollar, preemption, variant choice;
- static split: per-deployment planners inside fixed quotas per GPU type, in proportion to each
  deployment's peak wants in an unbounded run (generous: the quotas know the peaks);
- first-come cap (Dynamo global planner): scale requests accepted whole if the fleet stays
  within every type's cap, else rejected, in random arrival order each tick;
- greedy saturation (llm-d WVA limiter): most saturated first, partial, no preemption;
- unbounded: every want granted, budget ignored (a reference; it breaks the budget).
The baselines run each deployment on the variant ours ran most (so the GPU types match and
only the sharing differs). Attainment is judged by the discrete-event replay of every request
(`evaluation.judge`, independent of the sizing); the closed-loop simulator's figure
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

from sla_planner.config.fleet import Fleet
from sla_planner.config.resolve import demo_fleet_path, load_fleet
from sla_planner.model.planner import Allocator
from sla_planner.offline.dryrun import DryRun
from sla_planner.offline.outputs import build_fleet_report, verdicts
from sla_planner.offline.report import write_report_json
from sla_planner.offline.session import replay
from sla_planner.offline.sources import FleetSources, build_sources
from sla_planner_bench.baselines.fleet import (
    FirstComeCapPolicy,
    GreedySaturationPolicy,
    StaticSplitPolicy,
    UnboundedPolicy,
    static_quotas,
)

HERE = Path(__file__).resolve().parent


def run_policy(
    fleet: Fleet, fs: FleetSources, allocator: Allocator | None, judge: str = "des"
) -> tuple[DryRun, dict, float]:
    """The fleet's dry run with `allocator` sharing the GPUs (None: ours), judged."""
    t0 = time.perf_counter()
    replayed = replay(
        fleet, fs.sources, fs.start, fs.end, warmup=fs.warmup, judge=judge, allocator=allocator
    )
    judged = verdicts(replayed, fleet, fs.sources, judge)
    wall = time.perf_counter() - t0
    return replayed.run, build_fleet_report(replayed.run, fleet, judged, {}), wall


def peaks_and_minimums(
    fleet: Fleet, run: DryRun, placement: dict[str, str]
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    peaks: dict[str, dict[str, int]] = {}
    mins: dict[str, dict[str, int]] = {}
    for d in fleet.deployments:
        per = [a.by_name(d.name).gpus_by_type() for a in run.ticks]
        types = {t for p in per for t in p}
        peaks[d.name] = {t: max(p.get(t, 0) for p in per) for t in types}
        v = d.engines(placement[d.name])
        m: dict[str, int] = {}
        for e, lim in ((v.prefill, d.config.prefill), (v.decode, d.config.decode)):
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
    rows: list[dict], fleet: Fleet, path: Path, quotas: dict, placement: dict, method: str
) -> str:
    names = [d.name for d in fleet.deployments]
    budget = ", ".join(f"{n} {t}" for t, n in fleet.settings.gpus.items())
    head = (
        "| policy | SLO-weighted attainment | attainment | "
        + " | ".join(f"{d.name} ({d.priority}, target {100 * (d.config.slo.attainment or 1.0):g}%)" for d in fleet.deployments)
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
            f"Fleet: `{path.name}`, budget {budget}; baselines' variants: {where}; "
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
    path = Path(args.config) if args.config else demo_fleet_path()
    fleet = load_fleet(path)
    fs = build_sources(fleet)
    settings = fleet.settings

    ours_run, ours, ours_wall = run_policy(fleet, fs, None, args.judge)
    placement = {
        n: d["variant_main"] or fleet.deployment(n).variants[0].name
        for n, d in ours["deployments"].items()
    }
    unb_run, unb, unb_wall = run_policy(fleet, fs, UnboundedPolicy(settings, placement), args.judge)
    peaks, mins = peaks_and_minimums(fleet, unb_run, placement)
    quotas = static_quotas(settings.gpus, peaks, mins)
    results = [row("ours (sla-planner fleet)", ours, ours_wall)]
    for name, policy in (
        ("per-deployment planners, static split", StaticSplitPolicy(settings, quotas, placement)),
        ("first-come accept/reject under the cap (Dynamo global planner)", FirstComeCapPolicy(settings, placement)),
        ("greedy by saturation, no preemption (WVA limiter)", GreedySaturationPolicy(settings, placement)),
    ):  # fmt: skip
        _, rep, wall = run_policy(fleet, fs, policy, args.judge)
        results.append(row(name, rep, wall))
    results.append(row("unbounded (budget ignored; reference)", unb, unb_wall))
    method = (
        "the discrete-event replay of every request (independent of the sizing); the last "
        "column is the closed-loop simulator's model estimate"
        if args.judge == "des"
        else "the closed-loop simulator (a model estimate that shares the sizing's model)"
    )
    md = markdown(results, fleet, path, quotas, placement, method)
    out = Path(args.out)
    write_report_json(out.with_suffix(".json"), {"rows": results, "quotas": quotas, "placement": placement,
                                                 "peaks_unbounded": peaks})  # fmt: skip
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
