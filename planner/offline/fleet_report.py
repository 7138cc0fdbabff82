"""The fleet dry run's figures: per deployment and for the fleet (GPU-hours and cost per GPU
type, attainment against each SLO, variants, preemptions, cold starts), from the allocations
and the judge's replay."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sla_planner.evaluation.fleet_cold_start import ColdStarts
from sla_planner.evaluation.fleet_judge import JudgeResult
from sla_planner.model.fleet.config import Deployment, FleetConfig
from sla_planner.model.fleet.types import FleetReason
from sla_planner.offline.fleet_dryrun import FleetRun


@dataclass(frozen=True)
class Judged:
    """One deployment's replay verdict (None where the judge cannot replay its source), and
    the closed-loop simulator's model estimate beside it when asked for."""

    result: JudgeResult | None
    cold: ColdStarts | None
    estimate: JudgeResult | None = None


def slo_score(attainment: float, target: float) -> float:
    """How much of its SLO a deployment met: attainment over target, capped at 1."""
    return math.nan if math.isnan(attainment) else min(1.0, attainment / target)


def deployment_report(
    d: Deployment, cfg: FleetConfig, run: FleetRun, judged: Judged
) -> dict[str, Any]:
    allocs = [a.by_name(d.name) for a in run.allocations]
    hours = run.interval_s / 3600.0
    prices = {t: p.price_per_gpu_hour for t, p in cfg.cluster.gpus.items()}
    gpu_hours: dict[str, float] = {}
    for a in allocs:
        for t, g in a.gpus_by_type().items():
            gpu_hours[t] = gpu_hours.get(t, 0.0) + g * hours
    cost = sum(h * prices[t] for t, h in gpu_hours.items())
    # Time share of each variant while the deployment ran anything (idle ticks say nothing).
    running = [a for a in allocs if a.gpus_by_type() and sum(a.gpus_by_type().values()) > 0]
    share = (
        {v.name: sum(a.variant == v.name for a in running) / len(running) for v in d.variants}
        if running
        else {}
    )
    switches = sum(FleetReason.VARIANT_SWITCH in a.reasons for a in allocs)
    pre = [p for a in run.allocations for p in a.preemptions if p.victim == d.name]
    requests = float(sum(s.requests for s in run.actual[d.name]))
    res = judged.result
    att = res.attainment if res is not None else math.nan
    total_gpus = [sum(a.gpus_by_type().values()) for a in allocs]
    actions = sum(_shape(a) != _shape(b) for a, b in zip(allocs[:-1], allocs[1:], strict=True))
    return {
        "priority": d.priority,
        "rank": allocs[0].rank if allocs else None,
        "slo": d.slo.model_dump(),
        "requests": requests,
        "gpu_hours": sum(gpu_hours.values()),
        "gpu_hours_by_type": gpu_hours,
        "cost": cost,
        "attainment": att,
        "ttft_attainment": res.ttft_attainment if res is not None else math.nan,
        "itl_attainment": res.itl_attainment if res is not None else math.nan,
        "slo_met": bool(att >= d.slo.attainment) if not math.isnan(att) else None,
        "slo_score": slo_score(att, d.slo.attainment),
        "expected_attainment_mean": _mean([a.expected_attainment for a in allocs]),
        "variant_main": max(share, key=lambda v: share[v]) if share else None,
        "variant_final": allocs[-1].variant if allocs else None,
        "variant_share": share,
        "variant_switches": switches,
        # Ticks on which it gave GPUs up to a higher class, and how many in all.
        "priority_preemptions": sum(
            any(p.victim == d.name for p in a.preemptions) for a in run.allocations
        ),
        "preempted_gpus": sum(p.gpus for p in pre),
        "cold_start": judged.cold.as_dict() if judged.cold is not None else None,
        "model_estimate": _estimate(judged.estimate),
        "peak_gpus": max(total_gpus, default=0),
        "scaling_actions": actions,
    }


def fleet_totals(
    cfg: FleetConfig, run: FleetRun, per: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    hours = run.interval_s / 3600.0
    budget = {t: p.count for t, p in cfg.cluster.gpus.items()}
    used = [a.used() for a in run.allocations]
    peak = {t: max((u.get(t, 0) for u in used), default=0) for t in budget}
    gpu_hours = {t: sum(u.get(t, 0) for u in used) * hours for t in budget}
    prices = {t: p.price_per_gpu_hour for t, p in cfg.cluster.gpus.items()}
    judged = [n for n, r in per.items() if not math.isnan(r["attainment"])]
    main = _weighted(per, {n: r["attainment"] for n, r in per.items()})
    est = {n: r["model_estimate"]["attainment"] for n, r in per.items() if r["model_estimate"]}
    return {
        "gpu_hours": sum(gpu_hours.values()),
        "gpu_hours_by_type": gpu_hours,
        "cost": sum(gpu_hours[t] * prices[t] for t in budget),
        "requests": sum(r["requests"] for r in per.values()),
        "attainment": main["attainment"],
        "slo_weighted_attainment": main["slo_weighted_attainment"],
        # The closed-loop simulator's figures (a model estimate), when it ran beside the judge.
        "model_estimate": _weighted(per, est) if est else None,
        "deployments_meeting_slo": sorted(n for n in judged if per[n]["slo_met"]),
        "priority_preemptions": sum(r["priority_preemptions"] for r in per.values()),
        "budget": budget,
        "peak_gpus_by_type": peak,
        "budget_respected": all(u.get(t, 0) <= budget[t] for u in used for t in budget),
        "mean_gpus_by_type": {t: _mean([u.get(t, 0) for u in used]) for t in budget},
    }


def _estimate(e: JudgeResult | None) -> dict[str, float] | None:
    if e is None:
        return None
    return {
        "attainment": e.attainment,
        "ttft_attainment": e.ttft_attainment,
        "itl_attainment": e.itl_attainment,
    }


def _weighted(
    per: Mapping[str, Mapping[str, Any]], attainment: Mapping[str, float]
) -> dict[str, float]:
    """Request-weighted attainment and SLO score over the deployments judged."""
    judged = [n for n, a in attainment.items() if not math.isnan(a)]
    total = sum(per[n]["requests"] for n in judged)
    if total <= 0:
        return {"attainment": math.nan, "slo_weighted_attainment": math.nan}
    ok = sum(per[n]["requests"] * attainment[n] for n in judged)
    scored = sum(
        per[n]["requests"] * slo_score(attainment[n], per[n]["slo"]["attainment"]) for n in judged
    )
    return {"attainment": ok / total, "slo_weighted_attainment": scored / total}


def _shape(a: Any) -> tuple[int, int, str]:
    return a.prefill.replicas, a.decode.replicas, a.variant


def _mean(xs: Sequence[float]) -> float:
    vals = [x for x in xs if not math.isnan(x)]
    return sum(vals) / len(vals) if vals else math.nan


def class_attainment(cfg: FleetConfig, per: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Request-weighted attainment per priority class (named or the integer)."""
    groups: dict[str, list[str]] = {}
    for d in cfg.deployments:
        groups.setdefault(str(d.priority), []).append(d.name)
    out = {}
    for cls, names in groups.items():
        judged = [n for n in names if not math.isnan(per[n]["attainment"])]
        total = sum(per[n]["requests"] for n in judged)
        ok = sum(per[n]["requests"] * per[n]["attainment"] for n in judged)
        out[cls] = ok / total if total > 0 else math.nan
    return out
