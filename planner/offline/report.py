"""Dry-run outputs: decisions.csv, report.json, and the figures they hold.

`evaluate_attainment` is the one place that judges whether an interval met the SLA; it uses
the latency model (expected latency at the decided replicas and the demand that actually
arrived). A closed-loop simulator can replace it with measured attainment.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sla_planner.config.fleet import DeploymentSpec, Fleet
from sla_planner.evaluation.cold_start import ColdStarts
from sla_planner.evaluation.estimate import Verdict
from sla_planner.model.config import SLA
from sla_planner.model.reasons import FleetReason
from sla_planner.model.size.latency_curves import Curves
from sla_planner.model.types import Decision, DemandSample
from sla_planner.offline.dryrun import DeploymentRun, DryRun
from sla_planner.offline.shortfall import slo_shortfall

DECISION_COLUMNS = (
    "timestamp",
    "prefill_replicas",
    "decode_replicas",
    "prefill_gpus",
    "decode_gpus",
    "predicted_requests",
    "predicted_isl",
    "predicted_osl",
    "expected_ttft_ms",
    "expected_itl_ms",
)


@dataclass(frozen=True)
class Attainment:
    """Expected SLA attainment: share of actual requests in intervals that meet the targets."""

    overall: float  # both TTFT and ITL met; request-weighted; NaN when there were no requests
    ttft: float  # TTFT alone
    itl: float  # ITL alone
    ttft_ms: tuple[float, ...]  # per interval, at decided replicas and ACTUAL demand (NaN: idle)
    itl_ms: tuple[float, ...]
    method: str = (
        "expected: request-weighted share of actual requests in intervals whose modelled TTFT "
        "and ITL (latency model at the decided replicas and the actual demand) meet the targets"
    )


LatencyFn = Callable[..., float]


def evaluate_attainment(
    decisions: Sequence[Decision],
    actual: Sequence[DemandSample],
    curves: Curves,
    sla: SLA,
    ttft_fn: LatencyFn | None = None,
    itl_fn: LatencyFn | None = None,
    decode_curves: Curves | None = None,
) -> Attainment:
    """Judge each interval by the latency the model expects for the replicas the planner
    decided and the demand that really came; weight by that interval's request count.
    `curves` serve prefill (and decode unless `decode_curves` is given)."""
    dcurves = curves if decode_curves is None else decode_curves
    if ttft_fn is None or itl_fn is None:
        from sla_planner.model.size.decode_latency import expected_itl_ms
        from sla_planner.model.size.prefill_latency import expected_ttft_ms

        ttft_fn = ttft_fn or expected_ttft_ms
        itl_fn = itl_fn or expected_itl_ms
    if len(decisions) != len(actual):
        raise ValueError(f"{len(decisions)} decisions for {len(actual)} intervals")
    ttft: list[float] = []
    itl: list[float] = []
    total = ok = ok_ttft = ok_itl = 0.0
    for d, a in zip(decisions, actual, strict=True):
        if not (a.requests > 0):
            ttft.append(math.nan)
            itl.append(math.nan)
            continue
        rate = a.rate
        t = _latency(ttft_fn, d.prefill.replicas, curves, rate, a.isl_mean)
        i = _latency(itl_fn, d.decode.replicas, dcurves, rate, a.isl_mean, a.osl_mean)
        ttft.append(t)
        itl.append(i)
        t_ok, i_ok = t <= sla.ttft_ms, i <= sla.itl_ms
        total += a.requests
        ok_ttft += a.requests * t_ok
        ok_itl += a.requests * i_ok
        ok += a.requests * (t_ok and i_ok)
    share = (lambda x: x / total) if total > 0 else (lambda x: math.nan)
    return Attainment(share(ok), share(ok_ttft), share(ok_itl), tuple(ttft), tuple(itl))


def _latency(fn: LatencyFn, replicas: int, curves: Curves, rate: float, *tokens: float) -> float:
    if replicas <= 0:
        return math.inf  # demand with no replica to serve it
    return float(fn(curves, rate, *tokens, replicas))


@dataclass(frozen=True)
class Summary:
    intervals: int
    start: float
    end: float
    total_requests: float
    gpu_hours: float
    peak_gpus: int
    mean_gpus: float
    scaling_actions: int  # replica-count changes summed over both pools
    prefill_scaling_actions: int
    decode_scaling_actions: int
    expected_sla_attainment: float
    expected_ttft_attainment: float
    expected_itl_attainment: float


def summarize(result: DeploymentRun, attainment: Attainment, interval_s: float) -> Summary:
    """Cost and stability figures. Replicas are paid from the decision for the whole interval."""
    ds = result.decisions
    gpus = [d.prefill.gpus + d.decode.gpus for d in ds]
    pre = sum(
        a.prefill.replicas != b.prefill.replicas for a, b in zip(ds[:-1], ds[1:], strict=True)
    )
    dec = sum(a.decode.replicas != b.decode.replicas for a, b in zip(ds[:-1], ds[1:], strict=True))
    return Summary(
        intervals=len(ds),
        start=ds[0].timestamp if ds else math.nan,
        end=ds[-1].timestamp + interval_s if ds else math.nan,
        total_requests=float(sum(a.requests for a in result.actual)),
        gpu_hours=sum(gpus) * interval_s / 3600.0,
        peak_gpus=max(gpus, default=0),
        mean_gpus=sum(gpus) / len(gpus) if gpus else 0.0,
        scaling_actions=pre + dec,
        prefill_scaling_actions=pre,
        decode_scaling_actions=dec,
        expected_sla_attainment=attainment.overall,
        expected_ttft_attainment=attainment.ttft,
        expected_itl_attainment=attainment.itl,
    )


# Observed latency columns, appended after DECISION_COLUMNS only when the demand source has
# them (Prometheus with latency histograms): (column, DemandSample field).
OBSERVED_COLUMNS = (
    ("observed_ttft_ms", "ttft_mean_ms"),
    ("observed_ttft_p95_ms", "ttft_p95_ms"),
    ("observed_itl_ms", "itl_mean_ms"),
    ("observed_itl_p95_ms", "itl_p95_ms"),
)


def write_decisions_csv(
    path: Path, decisions: Sequence[Decision], actual: Sequence[DemandSample] | None = None
) -> None:
    """One row per decision. With `actual` (the demand of each decision's interval, same
    order), observed latencies the source measured are added as extra columns at the end."""
    observed = [
        (col, attr)
        for col, attr in OBSERVED_COLUMNS
        if actual and any(getattr(a, attr) is not None for a in actual)
    ]
    seen = {a.start: a for a in actual} if observed and actual else {}
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(DECISION_COLUMNS + tuple(col for col, _ in observed))
        for d in sorted(decisions, key=lambda d: d.timestamp):
            a = seen.get(d.timestamp)
            extra = [
                _num(math.nan if a is None or getattr(a, attr) is None else getattr(a, attr))
                for _, attr in observed
            ]
            w.writerow(
                [
                    _num(d.timestamp),
                    d.prefill.replicas,
                    d.decode.replicas,
                    d.prefill.gpus,
                    d.decode.gpus,
                    _num(d.forecast.requests),
                    _num(d.forecast.isl),
                    _num(d.forecast.osl),
                    _num(d.prefill.expected_latency_ms),
                    _num(d.decode.expected_latency_ms),
                    *extra,
                ]
            )


def _num(x: float) -> str:
    """Compact, round-trippable numbers; inf/nan spelled so float() reads them back."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.6f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def build_report(summary: Summary, attainment: Attainment, settings: Mapping[str, Any]) -> dict:
    s = asdict(summary)
    return {
        "gpu_hours": s.pop("gpu_hours"),
        "expected_sla_attainment": s.pop("expected_sla_attainment"),
        "peak_gpus": s.pop("peak_gpus"),
        "scaling_actions": s.pop("scaling_actions"),
        **s,
        "attainment_method": attainment.method,
        "settings": dict(settings),
    }


def write_report_json(path: Path, report: Mapping[str, Any]) -> None:
    # JSON has no inf/NaN: write null so every JSON reader accepts the file.
    path.write_text(json.dumps(_json_safe(report), indent=2, sort_keys=False) + "\n")


def _json_safe(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x


# -- a fleet's report.json ------------------------------------------------------------------
@dataclass(frozen=True)
class Judged:
    """One deployment's replay verdict (None where the judge cannot replay its source), and
    the closed-loop simulator's model estimate beside it when asked for."""

    result: Verdict | None
    cold: ColdStarts | None
    estimate: Verdict | None = None
    lengths: str | None = None  # where the judge's request lengths came from (des_lengths)
    lengths_warning: str | None = None  # set when they are the default distribution's


def slo_score(attainment: float, target: float) -> float:
    """How much of its SLO a deployment met: attainment over target, capped at 1."""
    return math.nan if math.isnan(attainment) else min(1.0, attainment / target)


def deployment_report(
    d: DeploymentSpec, fleet: Fleet, run: DryRun, judged: Judged
) -> dict[str, Any]:
    """One deployment's block of a fleet's report.json."""
    allocs = run.deployments[d.name].decisions
    hours = run.interval_s / 3600.0
    price = fleet.settings.price
    gpu_hours: dict[str, float] = {}
    for a in allocs:
        for t, g in a.gpus_by_type().items():
            gpu_hours[t] = gpu_hours.get(t, 0.0) + g * hours
    cost = sum(h * price(t) for t, h in gpu_hours.items())
    # Time share of each variant while the deployment ran anything (idle ticks say nothing).
    running = [a for a in allocs if a.gpus_by_type() and sum(a.gpus_by_type().values()) > 0]
    share = (
        {v.name: sum(a.variant == v.name for a in running) / len(running) for v in d.variants}
        if running
        else {}
    )
    switches = sum(FleetReason.VARIANT_SWITCH in a.reasons for a in allocs)
    pre = [p for a in run.ticks for p in a.preemptions if p.victim == d.name]
    requests = float(sum(s.requests for s in run.deployments[d.name].actual))
    res = judged.result
    att = res.attainment if res is not None else math.nan
    target = d.config.slo.attainment or 1.0
    total_gpus = [sum(a.gpus_by_type().values()) for a in allocs]
    actions = sum(_shape(a) != _shape(b) for a, b in zip(allocs[:-1], allocs[1:], strict=True))
    return {
        "priority": d.priority,
        "rank": allocs[0].rank if allocs else None,
        "slo": {k: d.config.slo.model_dump()[k] for k in ("ttft_ms", "itl_ms", "attainment")},
        "requests": requests,
        "gpu_hours": sum(gpu_hours.values()),
        "gpu_hours_by_type": gpu_hours,
        "cost": cost,
        "attainment": att,
        "attainment_lengths": judged.lengths,
        "ttft_attainment": res.ttft_attainment if res is not None else math.nan,
        "itl_attainment": res.itl_attainment if res is not None else math.nan,
        "slo_met": bool(att >= target) if not math.isnan(att) else None,
        "slo_score": slo_score(att, target),
        "expected_attainment_mean": _mean([a.expected_attainment for a in allocs]),
        "variant_main": max(share, key=lambda v: share[v]) if share else None,
        "variant_final": allocs[-1].variant if allocs else None,
        "variant_share": share,
        "variant_switches": switches,
        # Ticks on which it gave GPUs up to a higher class, and how many in all.
        "priority_preemptions": sum(
            any(p.victim == d.name for p in a.preemptions) for a in run.ticks
        ),
        "preempted_gpus": sum(p.gpus for p in pre),
        "cold_start": judged.cold.as_dict() if judged.cold is not None else None,
        "slo_shortfall": slo_shortfall(
            allocs,
            run.deployments[d.name].actual,
            att,
            target,
            judged.cold.delayed_requests if judged.cold is not None else 0.0,
        ),
        "model_estimate": _estimate(judged.estimate),
        "peak_gpus": max(total_gpus, default=0),
        "scaling_actions": actions,
    }


def fleet_totals(fleet: Fleet, run: DryRun, per: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    hours = run.interval_s / 3600.0
    budget = {t: int(n or 0) for t, n in fleet.settings.gpus.items()}
    used = [a.used() for a in run.ticks]
    peak = {t: max((u.get(t, 0) for u in used), default=0) for t in budget}
    gpu_hours = {t: sum(u.get(t, 0) for u in used) * hours for t in budget}
    prices = {t: fleet.settings.price(t) for t in budget}
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
        "slo_shortfalls": {
            n: r["slo_shortfall"]["text"] for n, r in per.items() if r["slo_shortfall"]
        },
        "priority_preemptions": sum(r["priority_preemptions"] for r in per.values()),
        "budget": budget,
        "peak_gpus_by_type": peak,
        "budget_respected": all(u.get(t, 0) <= budget[t] for u in used for t in budget),
        "mean_gpus_by_type": {t: _mean([u.get(t, 0) for u in used]) for t in budget},
    }


def _estimate(e: Verdict | None) -> dict[str, float] | None:
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


def class_attainment(fleet: Fleet, per: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Request-weighted attainment per priority class (named or the integer)."""
    groups: dict[str, list[str]] = {}
    for d in fleet.deployments:
        groups.setdefault(str(d.priority), []).append(d.name)
    out = {}
    for cls, names in groups.items():
        judged = [n for n in names if not math.isnan(per[n]["attainment"])]
        total = sum(per[n]["requests"] for n in judged)
        ok = sum(per[n]["requests"] * per[n]["attainment"] for n in judged)
        out[cls] = ok / total if total > 0 else math.nan
    return out
