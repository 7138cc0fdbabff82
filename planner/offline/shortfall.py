"""Why a deployment missed its SLO in a dry run, with the evidence (report.json's `slo_shortfall`).

A miss has a few causes a report can show from what the run recorded, each with the requests
it touched:
- `cold_start`: requests that waited for a wake from zero (`startup_s`; the judge's cold-start
  count). A deployment that scales to zero cannot meet an SLO whose allowed misses are fewer.
- `held_by_priority`: intervals in which a pool was held below its wants because higher
  classes held the rest of its GPU type (`priority_limited`, `preempted`);
- `budget_limited`: intervals held below its wants by its own class's share of the budget or
  its `max_gpus` (`budget_limited`);
- `unattainable`: intervals in which no variant meets the SLO at any size within the cluster;
- `model_optimistic`: none of the above covers the misses: it ran what sizing asked for and the
  replay measured less than the model expected (the error budget raises the margin over time).
`within_budget` is False when the budget (priorities or caps) explains the misses: the SLO does
not fit the GPUs as the fleet shares them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sla_planner.model.reasons import FleetReason
from sla_planner.model.types import Decision, DemandSample

_PRIORITY = {FleetReason.PRIORITY_LIMITED, FleetReason.PREEMPTED}
_BUDGET = {FleetReason.BUDGET_LIMITED}


def slo_shortfall(
    decisions: Sequence[Decision],
    actual: Sequence[DemandSample],
    attainment: float,
    target: float,
    cold_delayed: float,
) -> dict[str, Any] | None:
    """The shortfall of a deployment judged below `target` (None when it met it, or was not
    judged)."""
    if not (attainment == attainment) or attainment >= target:  # NaN: not judged
        return None
    requests = float(sum(s.requests for s in actual if s.requests == s.requests))
    causes = []
    if cold_delayed > 0:
        causes.append(_cause("cold_start", cold_delayed, None, _cold_text(cold_delayed)))
    for cause, codes in (("held_by_priority", _PRIORITY), ("budget_limited", _BUDGET)):
        ks = [k for k, d in enumerate(decisions) if _pool_codes(d) & codes]
        if ks:
            n = float(sum(actual[k].requests for k in ks if k < len(actual)))
            causes.append(_cause(cause, n, len(ks), _held_text(cause, len(ks), n)))
    ks = [k for k, d in enumerate(decisions) if FleetReason.UNATTAINABLE in d.reasons]
    if ks:
        n = float(sum(actual[k].requests for k in ks if k < len(actual)))
        text = f"no variant meets the SLO at any size in {len(ks)} intervals"
        causes.append(_cause("unattainable", n, len(ks), text))
    if not causes:
        causes.append(_cause("model_optimistic", requests, None, _OPTIMISTIC))
    within = not any(c["cause"] in ("held_by_priority", "budget_limited") for c in causes)
    misses = (1.0 - attainment) * requests
    head = (
        f"below its SLO ({100 * attainment:.2f}% < {100 * target:g}%: {misses:,.0f} misses, "
        f"{(1.0 - target) * requests:,.0f} allowed)"
    )
    return {
        "misses": misses,
        "allowed_misses": (1.0 - target) * requests,
        "causes": causes,
        "within_budget": within,
        "text": f"{head}: " + "; ".join(c["text"] for c in causes),
    }


def _pool_codes(d: Decision) -> set[FleetReason]:
    return {r for p in (d.prefill, d.decode) for r in p.reasons}


def _cause(cause: str, requests: float, intervals: int | None, text: str) -> dict[str, Any]:
    return {"cause": cause, "requests": requests, "intervals": intervals, "text": text}


def _cold_text(n: float) -> str:
    return (
        f"cold_start: {n:,.0f} requests waited for a wake from zero (keep min_replicas >= 1, or "
        "a shorter startup, where the SLO must hold from the first request)"
    )


def _held_text(cause: str, intervals: int, requests: float) -> str:
    who = "higher priority classes" if cause == "held_by_priority" else "the budget"
    return (
        f"{cause}: held below its wants by {who} in {intervals} intervals ({requests:,.0f} "
        "requests): the SLO does not fit the GPUs as the fleet shares them"
    )


_OPTIMISTIC = (
    "model_optimistic: it ran what sizing asked for and the replay measured less than the "
    "model expected (the error budget raises its margin as it measures the misses)"
)
