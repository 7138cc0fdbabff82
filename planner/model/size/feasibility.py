"""Latency targets the profile cannot meet, said before planning (pure).

Sizing adds replicas to cut queueing; it cannot make one request faster than an idle engine
runs it. So a target below the profile's floor -- the idle TTFT of its shortest measured prompt,
the ITL of one sequence at its shortest measured context -- can be met by no request at any
size: that is a configuration error, refused with the number to beat. A target above the floor
but below the idle latency of the demand's mean request is met only by shorter-than-average
requests (the expected attainment, judged at interval means, is then 0): legitimate to explore,
so it is a warning, not an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sla_planner.model.config import SLA
from sla_planner.model.size.decode_latency import decode_context
from sla_planner.model.size.latency_curves import Curves


@dataclass(frozen=True)
class ImpossibleTarget:
    target: str  # "ttft_ms" | "itl_ms"
    value_ms: float
    floor_ms: float
    message: str  # what the floor is, for a message that names the setting


def _shortest(curves: Curves, attr: str) -> float:
    """The low end of a measured range (ProfileCurves); 1.0 for curves without ranges (the
    curves are monotone, so their floor is at the smallest argument)."""
    rng = getattr(curves, attr, None)
    return float(rng[0]) if rng else 1.0


def impossible_targets(
    sla: SLA, prefill_curves: Curves, decode_curves: Curves
) -> list[ImpossibleTarget]:
    """Targets below the profile's floor, which no request can meet at any replica count."""
    out: list[ImpossibleTarget] = []
    tokens = _shortest(prefill_curves, "prefill_isl_range")
    ttft_floor = float(prefill_curves.prefill_ttft_ms(tokens))
    if sla.ttft_ms < ttft_floor:
        out.append(
            ImpossibleTarget(
                "ttft_ms",
                sla.ttft_ms,
                ttft_floor,
                f"the profile's idle TTFT for its shortest prompt ({tokens:g} tokens) is "
                f"{ttft_floor:.4g} ms, so no request can meet it at any replica count",
            )
        )
    ctx = _shortest(decode_curves, "decode_context_range")
    itl_floor = float(decode_curves.decode_itl_ms(1.0, ctx))
    if sla.itl_ms < itl_floor:
        out.append(
            ImpossibleTarget(
                "itl_ms",
                sla.itl_ms,
                itl_floor,
                f"one sequence alone at the profile's shortest context ({ctx:g} tokens) runs at "
                f"{itl_floor:.3g} ms per token, so no request can meet it at any replica count",
            )
        )
    return out


def target_warnings(
    sla: SLA, prefill_curves: Curves, decode_curves: Curves, isl: float, osl: float
) -> list[str]:
    """Targets below the idle latency of a mean request (mean ISL `isl`, mean OSL `osl`)."""
    out: list[str] = []
    if math.isfinite(isl) and isl > 0:
        idle = float(prefill_curves.prefill_ttft_ms(isl))
        if sla.ttft_ms < idle:
            out.append(
                f"TTFT target {sla.ttft_ms:g} ms is below the idle TTFT of the mean "
                f"{isl:.0f}-token prompt ({idle:.4g} ms): only shorter prompts can meet it, at "
                "any replica count"
            )
    if math.isfinite(isl) and math.isfinite(osl) and isl >= 0 and osl >= 0:
        ctx = decode_context(isl, osl)
        lone = float(decode_curves.decode_itl_ms(1.0, ctx))
        if sla.itl_ms < lone:
            out.append(
                f"ITL target {sla.itl_ms:g} ms is below the ITL of one sequence alone at the "
                f"mean context {ctx:.0f} ({lone:.3g} ms): only shorter contexts can meet it, at "
                "any replica count"
            )
    return out
