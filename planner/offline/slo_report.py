"""What a closed-loop dry run says about the SLO: report.json's "slo" block and slo.csv.

Per interval (slo.csv): the replicas that ran (after reactive scale-ups), the requests that
completed and met both targets (measured by the judge), and the error-budget controller's
state after it took that window in: planned miss share, margin, burn rates, cumulative
attainment. The block summarises them: target, measured attainment (cumulative and the
worst windows), the budget burn, the final margin, and the reactive scale-ups.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

SLO_COLUMNS = (
    "start",
    "prefill_replicas",
    "decode_replicas",
    "finished",
    "met",
    "window_attainment",
    "cumulative_attainment",
    "planned_miss",
    "margin",
    "burn_window",
    "burn_short",
    "burn_long",
)
_REACTIONS_SHOWN = 20


def _holds(result: Any) -> dict[str, Any]:
    """The reactive checks a guard held or bounded without raising (only when there were)."""
    holds = getattr(result, "reactive_holds", [])
    if not holds:
        return {}
    shown = [
        {"time": x.time, "prefill": x.prefill, "decode": x.decode, "why": list(x.reasons)}
        for x in holds[:_REACTIONS_SHOWN]
    ]
    return {"reactive_holds": len(holds), "held": shown}


def slo_block(result: Any, target: float | None) -> dict[str, Any]:
    """report.json's "slo" block for a closed-loop DeploymentRun."""
    recs = result.records
    finished = sum(r.finished for r in recs)
    met = sum(r.met for r in recs)
    windows = [r.met / r.finished for r in recs if r.finished > 0]
    below = sum(1 for w in windows if target is not None and w < target)
    last = recs[-1].budget if recs else None
    out: dict[str, Any] = {
        "target": target,
        "attainment": met / finished if finished else math.nan,
        "requests": finished,
        "windows": len(recs),
        "windows_below_target": below if target is not None else None,
        "worst_window_attainment": min(windows) if windows else math.nan,
        "reactive_scale_ups": len(result.reactions),
        "reactions": [
            {"time": x.time, "prefill": x.prefill, "decode": x.decode, "why": list(x.reasons)}
            for x in result.reactions[:_REACTIONS_SHOWN]
        ],
        **_holds(result),
        "method": (
            "closed loop: each interval the planner decided with the measured attainment of "
            "the intervals before it (the discrete-event judge as the plant); attainment is "
            "counted by completion window"
        ),
    }
    if last is not None:
        out.update(
            burn_rate=last.burn_cumulative,
            burn_rate_long=last.burn_long,
            burn_rate_short=last.burn_short,
            final_margin=last.margin,
            final_planned_miss=last.planned_miss,
        )
    return out


def write_slo_csv(out: Path, result: Any) -> Path:
    """slo.csv (one row per interval), written whole or not at all."""
    path = out / "slo.csv"
    tmp = out / ".tmp-slo.csv"
    try:
        with tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(SLO_COLUMNS)
            for r in result.records:
                w.writerow(_row(r))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _row(r: Any) -> list[Any]:
    b = r.budget
    state = (
        [
            b.cumulative_attainment,
            b.planned_miss,
            b.margin,
            b.burn_window,
            b.burn_short,
            b.burn_long,
        ]
        if b is not None
        else [math.nan] * 6
    )
    att = r.met / r.finished if r.finished else math.nan
    return [
        _num(r.start),
        r.prefill,
        r.decode,
        r.finished,
        r.met,
        _num(att),
        *(_num(x) for x in state),
    ]


def _num(x: float) -> str:
    x = float(x)
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.6g}"
