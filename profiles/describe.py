"""A short human summary of a profile, for the CLI and for reviewing a new profile."""

from __future__ import annotations

from collections.abc import Sequence

from sla_planner.profiles.interpolation import ProfileCurves
from sla_planner.profiles.model import EngineProfile


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}"


def describe(
    profile: EngineProfile,
    isls: Sequence[float] = (500, 2000, 8000),
    contexts: Sequence[float] = (1000, 4000, 12000),
    itl_targets_ms: Sequence[float] = (10, 25, 50),
) -> str:
    """Ranges, prefill capacity at a few ISLs, decode capacity at a few contexts and ITL targets."""
    curves = ProfileCurves(profile, warn=lambda _msg: None)  # a summary; no range warnings
    p, d = profile.prefill, profile.decode
    isl_lo, isl_hi = curves.prefill_isl_range
    ctx_lo, ctx_hi = curves.decode_context_range
    gpus = profile.gpus_per_replica
    lines = [
        f"profile {profile.name}: {profile.model} on {gpus}x {profile.gpu} per replica "
        f"({profile.backend})",
    ]
    if profile.source or profile.license:
        lines.append(f"  source: {profile.source or '-'}; licence: {profile.license or '-'}")
    lines += [
        f"  prefill: ISL {_num(isl_lo)}..{_num(isl_hi)} tokens ({len(p.isl)} points), TTFT "
        f"{min(p.ttft_ms):.1f}..{max(p.ttft_ms):.1f} ms alone; batches up to "
        f"{profile.max_batched_tokens:,} tokens",
    ]
    for isl in isls:
        lines.append(
            f"    ISL {_num(isl):>6}: TTFT alone {float(curves.prefill_ttft_ms(isl)):6.1f} ms, "
            f"capacity {_num(curves.prefill_capacity_tps(isl)):>7} tokens/s per replica"
        )
    rows = len(set(d.context_length))
    lines.append(
        f"  decode: context {_num(ctx_lo)}..{_num(ctx_hi)} tokens ({rows} rows, {len(d.itl_ms)} "
        f"points), ITL {min(d.itl_ms):.1f}..{max(d.itl_ms):.1f} ms, KV cache {d.max_kv_tokens:,} "
        "tokens"
    )
    header = "    context \\ ITL target " + "".join(f"{t:>22g} ms" for t in itl_targets_ms)
    lines.append(header)
    for ctx in contexts:
        cells = []
        for target in itl_targets_ms:
            n = curves.decode_max_concurrency(ctx, target)
            tps = curves.decode_max_throughput_tps(ctx, target)
            cells.append(f"{n:7.0f} seq {_num(tps):>9} tok/s")
        lines.append(f"    {_num(ctx):>8} tokens      " + "".join(f"{c:>25}" for c in cells))
    return "\n".join(lines)
