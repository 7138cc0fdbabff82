"""A profile estimated by aiconfigurator against the measured bundled H200 profile, per point.

    python benchmarks/aiconfigurator_compare.py     # writes benchmarks/aiconfigurator_compare.{md,json}

Needs the optional extra: pip install 'sla-planner[aiconfigurator]' (~10 s).

Measured: `dynamo-h200-llama3.1-8b-fp8-tp1`, Dynamo's profiler on one H200 running vLLM with
nvidia/Llama-3.1-8B-Instruct-FP8, TP1. Estimated: aiconfigurator-core, h200_sxm / vllm, Llama-3.1-8B
with FP8 GEMMs and a 16-bit KV cache (the measured deployment's 945,029 KV tokens only fit at
128 KiB per token, i.e. a 16-bit cache). Each measured point is estimated at the same load:
prefill at the measured ISL, chunked at the profile's max_batched_tokens; decode on the measured
context row with n = kv_usage x max_kv_tokens / context sequences, of which at most vLLM's
max_num_seqs (1024) run, as the generator assumes. Error = (estimated - measured) / measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from sla_planner.profiles.aiconfigurator import AicEstimator
from sla_planner.profiles.generate import generate
from sla_planner.profiles.model import EngineProfile
from sla_planner.profiles.registry import load_profile
from sla_planner.profiles.sweep import (
    DEFAULT_DECODE_OSL,
    DEFAULT_MAX_NUM_SEQS,
    SweepSettings,
    run_sweep,
)

HERE = Path(__file__).resolve().parent
MEASURED = "dynamo-h200-llama3.1-8b-fp8-tp1"
CONFIG: dict[str, Any] = dict(
    system="h200_sxm", model="meta-llama/Meta-Llama-3.1-8B", backend="vllm", tp=1, quant="fp8"
)
CAP = DEFAULT_MAX_NUM_SEQS  # vLLM's max_num_seqs on an H200 (profiles/bundled/README.md)
ITL_TARGETS_MS = (10.0, 20.0, 30.0)
Row = dict[str, Any]


def estimator() -> AicEstimator:
    engine = {k: v for k, v in CONFIG.items() if k not in ("system", "model", "backend", "tp")}
    return AicEstimator(
        CONFIG["system"], CONFIG["model"], CONFIG["backend"], CONFIG["tp"], **engine
    )


def prefill_rows(est: AicEstimator, measured: EngineProfile) -> list[Row]:
    """One row per measured prefill point: TTFT measured vs estimated."""
    rows = []
    for isl, ttft in zip(measured.prefill.isl, measured.prefill.ttft_ms, strict=True):
        gen = est.prefill_ms(int(isl), measured.max_batched_tokens)
        rows.append(
            {"isl": int(isl), "measured_ms": ttft, "estimated_ms": gen, "rel_err": gen / ttft - 1}
        )
    return rows


def decode_rows(est: AicEstimator, measured: EngineProfile) -> list[Row]:
    """One row per measured decode point, at the same context and number of sequences."""
    d, osl = measured.decode, DEFAULT_DECODE_OSL
    rows = []
    for kv, ctx, itl, thpt in zip(
        d.kv_usage, d.context_length, d.itl_ms, d.throughput_per_gpu, strict=True
    ):
        n = max(1, round(kv * d.max_kv_tokens / ctx))
        gen = est.decode_itl_ms(min(n, CAP), round(ctx - osl / 2), osl)
        rows.append(
            {
                "context": int(ctx),
                "kv_usage": kv,
                "sequences": n,
                "running_measured": thpt * itl / 1000.0,  # Little's law: what the engine ran
                "measured_ms": itl,
                "estimated_ms": gen,
                "rel_err": gen / itl - 1,
            }
        )
    return rows


def prefill_region(row: Row) -> str:
    if row["isl"] <= 2200:
        return "ISL <= 2k"
    return "2k < ISL <= 8k (one chunk)" if row["isl"] <= 8192 else "ISL > 8k (chunked)"


def decode_region(row: Row) -> str:
    if row["sequences"] == 1:
        return "1 sequence"
    if row["sequences"] > CAP or row["running_measured"] < 0.85 * row["sequences"]:
        return f"offered > {CAP} sequences (engine ran fewer)"
    if row["context"] <= 400:
        return f"context 350, 2-{CAP} sequences"
    return "context >= 3k, KV <= 35%" if row["kv_usage"] <= 0.35 else "context >= 3k, KV > 35%"


def summary(errors: list[float]) -> dict[str, float]:
    a = np.abs(np.asarray(errors))
    return {
        "n": len(errors),
        "median_abs": float(np.median(a)),
        "mean_signed": float(np.mean(errors)),
        "max_abs": float(a.max()),
    }


def by_region(rows: list[Row], region: Any) -> dict[str, dict[str, float]]:
    out = {"all": summary([r["rel_err"] for r in rows])}
    for name in dict.fromkeys(region(r) for r in rows):
        out[name] = summary([r["rel_err"] for r in rows if region(r) == name])
    return out


def throughput_at_itl(points: list[tuple[float, float]], target: float) -> float | None:
    """Most output tokens/s on one row with ITL <= target, linear between (sequences, ITL)."""
    pts, best = sorted(points), None
    for (n0, t0), (n1, t1) in zip(pts, pts[1:], strict=False):
        if t0 <= target < t1:
            return (n0 + (target - t0) * (n1 - n0) / (t1 - t0)) / target * 1000.0
        if t0 <= target:
            best = n0 / t0 * 1000.0
    if pts and pts[-1][1] <= target:
        best = pts[-1][0] / pts[-1][1] * 1000.0
    return best


def planner_view(drows: list[Row]) -> list[Row]:
    """Decode tokens/s per GPU meeting an ITL target, the number the planner sizes with."""
    out = []
    for ctx in sorted({r["context"] for r in drows}):
        row = [r for r in drows if r["context"] == ctx]
        meas = [(min(r["sequences"], r["running_measured"]), r["measured_ms"]) for r in row]
        est = [(min(r["sequences"], CAP), r["estimated_ms"]) for r in row]
        for target in ITL_TARGETS_MS:
            m, e = throughput_at_itl(meas, target), throughput_at_itl(est, target)
            ratio = e / m if m and e else None
            out.append(
                {"context": ctx, "itl_ms": target, "measured": m, "estimated": e, "x": ratio}
            )
    return out


def fits(prows: list[Row], drows: list[Row]) -> dict[str, float]:
    """Least-squares diagnosis of the gap (not applied to any profile)."""
    est = np.array([r["estimated_ms"] for r in prows])
    meas = np.array([r["measured_ms"] for r in prows])
    pb, pa = np.polyfit(est, meas, 1)
    clean = [r for r in drows if r["context"] > 400 and "offered" not in decode_region(r)]
    n = np.array([min(r["sequences"], CAP) for r in clean], dtype=float)
    gap = np.array([r["measured_ms"] - r["estimated_ms"] for r in clean])
    db, da = np.polyfit(n, gap, 1)
    d_meas = np.array([r["measured_ms"] for r in clean])
    d_fit = np.array([r["estimated_ms"] for r in clean]) + da + db * n
    return {
        "prefill_fixed_ms": float(pa),
        "prefill_scale": float(pb),
        "prefill_residual": float(np.median(np.abs(pa + pb * est - meas) / meas)),
        "decode_fixed_ms": float(da),
        "decode_us_per_seq": float(db * 1000.0),
        "decode_residual": float(np.median(np.abs(d_fit - d_meas) / d_meas)),
    }


def timings() -> dict[str, float]:
    """Seconds to compile one engine (database load included), to sweep, and to generate."""
    t0 = time.perf_counter()
    generate(**CONFIG)
    cold = time.perf_counter() - t0
    t1 = time.perf_counter()
    generated = generate(**CONFIG)
    warm = time.perf_counter() - t1
    t2 = time.perf_counter()
    est = estimator()
    compile_s = time.perf_counter() - t2
    t3 = time.perf_counter()
    run_sweep(est, SweepSettings(), generated.info.max_kv_tokens)
    points = len(generated.profile.prefill.isl) + len(generated.profile.decode.itl_ms)
    return {
        "generate_cold": cold,
        "generate_warm": warm,
        "compile": compile_s,
        "sweep": time.perf_counter() - t3,
        "points": points,
    }


def _pct(x: float, signed: bool = True) -> str:
    return f"{100 * x:+.1f}%" if signed else f"{100 * x:.1f}%"


def _summary_md(title: str, table: dict[str, dict[str, float]]) -> list[str]:
    lines = [f"| {title} | points | median abs error | mean signed | max abs |"]
    lines.append("|---|---:|---:|---:|---:|")
    for name, s in table.items():
        lines.append(
            f"| {name} | {s['n']:.0f} | {_pct(s['median_abs'], False)} | "
            f"{_pct(s['mean_signed'])} | {_pct(s['max_abs'], False)} |"
        )
    return lines


def _prefill_md(result: dict[str, Any]) -> list[str]:
    lines = [
        "| ISL | measured TTFT ms | estimated ms | error | measured tok/s/GPU | estimated |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["prefill"]:
        m, e = r["measured_ms"], r["estimated_ms"]
        lines.append(
            f"| {r['isl']:,} | {m:.1f} | {e:.1f} | {_pct(r['rel_err'])} | "
            f"{r['isl'] / m * 1000:,.0f} | {r['isl'] / e * 1000:,.0f} |"
        )
    return lines + [""] + _summary_md("prefill region", result["prefill_summary"])


def _decode_md(result: dict[str, Any]) -> list[str]:
    lines = [
        "| context | points | sequences | measured ITL ms | estimated ITL ms | error per point "
        "(%) | median abs |",
        "|---:|---:|---|---|---|---|---:|",
    ]
    for ctx in sorted({r["context"] for r in result["decode"]}):
        row = [r for r in result["decode"] if r["context"] == ctx]
        med = float(np.median([abs(r["rel_err"]) for r in row]))
        lines.append(
            f"| {ctx:,} | {len(row)} | {row[0]['sequences']}-{row[-1]['sequences']} | "
            + " ".join(f"{r['measured_ms']:.1f}" for r in row)
            + " | "
            + " ".join(f"{r['estimated_ms']:.1f}" for r in row)
            + " | "
            + " ".join(f"{100 * r['rel_err']:+.0f}" for r in row)
            + f" | {_pct(med, False)} |"
        )
    return lines + [""] + _summary_md("decode region", result["decode_summary"])


def _planner_md(result: dict[str, Any]) -> list[str]:
    head = " | ".join(f"ITL {t:g} ms" for t in ITL_TARGETS_MS)
    lines = [f"| context | {head} |", "|---:|" + "---|" * len(ITL_TARGETS_MS)]
    for ctx in sorted({r["context"] for r in result["planner_view"]}):
        cells = []
        for r in (x for x in result["planner_view"] if x["context"] == ctx):
            m = f"{r['measured']:,.0f}" if r["measured"] else "-"
            e = f"{r['estimated']:,.0f}" if r["estimated"] else "-"
            cells.append(f"{m} / {e}" + (f" ({r['x']:.2f}x)" if r["x"] else ""))
        lines.append(f"| {ctx:,} | " + " | ".join(cells) + " |")
    return lines


def markdown(result: dict[str, Any]) -> str:
    kv, f, t = result["kv"], result["fits"], result["timing_s"]
    lines = [
        f"# aiconfigurator-core {result['aiconfigurator_version']} vs the measured H200 profile",
        "",
        "Written by `python benchmarks/aiconfigurator_compare.py`; see its docstring for the "
        "method. Error = (estimated - measured) / measured.",
        "",
        "## KV capacity",
        "",
        "| | max_kv_tokens | vs measured |",
        "|---|---:|---:|",
        f"| measured (vLLM, gpu_memory_utilization 0.9) | {kv['measured']:,} | |",
        *(
            f"| aiconfigurator, gpu_memory_utilization {u} | {v:,} | "
            f"{_pct(v / kv['measured'] - 1)} |"
            for u, v in kv["estimates"].items()
        ),
        "",
        "## Prefill TTFT, one row per measured point",
        "",
        *_prefill_md(result),
        "",
        "## Decode ITL, one row per context row",
        "",
        *_decode_md(result),
        "",
        "## Decode tokens/s per GPU meeting an ITL target (measured / estimated)",
        "",
        *_planner_md(result),
        "",
        "## Where the gap comes from (least-squares fits; diagnosis only, not applied)",
        "",
        f"- prefill: measured TTFT = {f['prefill_fixed_ms']:.1f} ms + {f['prefill_scale']:.3f} x "
        f"estimated (median residual {_pct(f['prefill_residual'], False)}).",
        f"- decode (context >= 3k, uncapped): measured - estimated ITL = "
        f"{f['decode_fixed_ms']:.2f} ms + {f['decode_us_per_seq']:.1f} us x running sequences "
        f"(median residual {_pct(f['decode_residual'], False)}).",
        "",
        f"Time: {t['generate_cold']:.1f} s for the first profile in a process (database load and "
        f"engine compile), {t['generate_warm']:.2f} s for the next; an engine compile with the "
        f"database loaded {t['compile']:.2f} s, the {t['points']:.0f}-point sweep "
        f"{t['sweep']:.2f} s.",
    ]
    return "\n".join(lines) + "\n"


def compare(measured: EngineProfile) -> dict[str, Any]:
    timing = timings()
    est = estimator()
    kv = {
        f"{u:g}": est.kv_capacity(measured.max_batched_tokens, CAP, u).max_kv_tokens
        for u in (0.9, 0.92)
    }
    prows, drows = prefill_rows(est, measured), decode_rows(est, measured)
    return {
        "aiconfigurator_version": version("aiconfigurator-core"),
        "config": CONFIG | {"max_num_seqs": CAP, "measured": measured.name},
        "kv": {"measured": measured.decode.max_kv_tokens, "estimates": kv},
        "prefill": prows,
        "prefill_summary": by_region(prows, prefill_region),
        "decode": drows,
        "decode_summary": by_region(drows, decode_region),
        "planner_view": planner_view(drows),
        "fits": fits(prows, drows),
        "timing_s": timing,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", default=MEASURED, help="bundled name or profile file")
    parser.add_argument("--out", type=Path, default=HERE / "aiconfigurator_compare")
    args = parser.parse_args(argv)
    result = compare(load_profile(args.measured))
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
