"""`python -m sla_planner.profiles`: list, describe and import sla_planner.profiles (a maintainer's tool).

python -m sla_planner.profiles list
python -m sla_planner.profiles describe NAME|PATH
python -m sla_planner.profiles import-dynamo DIR OUT.yaml --gpu H200 --model M --backend vllm [...]
python -m sla_planner.profiles generate --system h200_sxm --model LLAMA3.1_8B --tp 1 --quant fp8 OUT.yaml
python -m sla_planner.profiles generate --list
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from sla_planner.errors import UsageError
from sla_planner.profiles.describe import describe
from sla_planner.profiles.dynamo_import import import_dynamo_dir
from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.generate import generate
from sla_planner.profiles.native import check_suffix, save_profile
from sla_planner.profiles.registry import list_bundled, load_profile
from sla_planner.profiles.sweep import (
    DEFAULT_DECODE_GRANULARITY,
    DEFAULT_DECODE_OSL,
    DEFAULT_MAX_BATCHED_TOKENS,
    DEFAULT_MAX_CONTEXT_LENGTH,
    DEFAULT_MAX_NUM_SEQS,
    DEFAULT_PREFILL_GRANULARITY,
    SweepSettings,
)


def _numbers(kind: type[int] | type[float]) -> Callable[[str], tuple[float, ...]]:
    def parse(text: str) -> tuple[float, ...]:
        try:
            return tuple(kind(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers: {text}") from None

    return parse


def add_generate_parser(sub: Any) -> None:
    """`generate`: a profile estimated by aiconfigurator (the optional extra), no GPU."""
    gen = sub.add_parser("generate", help="estimate a profile with aiconfigurator (no GPU)")
    gen.add_argument("out", nargs="?", help="output .yaml or .json")
    gen.add_argument("--list", action="store_true", help="systems, backends, models, quant modes")
    gen.add_argument("--system", help="aiconfigurator system, e.g. h200_sxm (see --list)")
    gen.add_argument("--model", help="HuggingFace id (meta-llama/Meta-Llama-3.1-8B) or LLAMA3.1_8B")
    gen.add_argument("--backend", default="vllm", help="vllm (default), sglang or trtllm")
    gen.add_argument("--backend-version", help="current (default), previous, next or a version")
    gen.add_argument("--tp", type=int, default=1, help="GPUs per engine (tensor parallel)")
    gen.add_argument("--moe-ep", type=int, default=1, help="expert-parallel size of a MoE model")
    gen.add_argument("--quant", default="auto", help="auto (checkpoint), bf16, fp8, fp8-kv, nvfp4")
    for kind in ("gemm", "kvcache", "fmha", "moe"):
        gen.add_argument(f"--{kind}-quant", help=f"aiconfigurator {kind} mode (overrides --quant)")
    gen.add_argument("--max-batched-tokens", type=int, default=DEFAULT_MAX_BATCHED_TOKENS)
    gen.add_argument("--max-num-seqs", type=int, default=DEFAULT_MAX_NUM_SEQS, help="0: no cap")
    gen.add_argument("--gpu-memory-utilization", type=float, help="default: aiconfigurator's")
    gen.add_argument("--max-kv-tokens", type=int, help="override the KV-capacity estimate")
    gen.add_argument("--no-chunked-prefill", action="store_true")
    gen.add_argument("--raw", action="store_true", help="keep aiconfigurator's non-monotone dips")
    gen.add_argument("--max-context-length", type=int, default=DEFAULT_MAX_CONTEXT_LENGTH)
    gen.add_argument("--prefill-granularity", type=int, default=DEFAULT_PREFILL_GRANULARITY)
    gen.add_argument("--prefill-margin", type=int, default=0)
    gen.add_argument("--decode-granularity", type=int, default=DEFAULT_DECODE_GRANULARITY)
    gen.add_argument("--decode-osl", type=int, default=DEFAULT_DECODE_OSL)
    gen.add_argument("--isl", type=_numbers(int), help="prefill ISLs, comma-separated")
    gen.add_argument("--context", type=_numbers(float), help="decode context rows, comma-separated")
    gen.add_argument("--kv-usage", type=_numbers(float), help="KV-usage fractions per row")
    gen.add_argument("--name", help="profile name (default from the configuration)")
    gen.add_argument("--gpu", help="GPU label (default from the system, e.g. H200)")


def _sweep_settings(args: argparse.Namespace) -> SweepSettings:
    return SweepSettings(
        isl_grid=args.isl,
        context_rows=args.context,
        kv_usage=args.kv_usage,
        max_context_length=args.max_context_length,
        prefill_granularity=args.prefill_granularity,
        prefill_margin=args.prefill_margin,
        decode_granularity=args.decode_granularity,
        decode_osl=args.decode_osl,
        max_batched_tokens=args.max_batched_tokens,
        max_num_seqs=args.max_num_seqs or None,
        chunked_prefill=not args.no_chunked_prefill,
        monotone=not args.raw,
    )


def _listing() -> str:
    from sla_planner.profiles import aiconfigurator as aic

    lines = [f"aiconfigurator-core {aic.aiconfigurator_version()}", "", "systems:"]
    for system, backends in sorted(aic.databases().items()):
        parts = [
            f"{backend} ({', '.join(f'{slot} {ver}' for slot, ver in slots.items())})"
            for backend, slots in sorted(backends.items())
        ]
        lines.append(f"  {system}: " + "; ".join(parts))
    lines += ["", "models (HuggingFace ids, or a local folder holding config.json):"]
    lines += [f"  {m}" for m in aic.shipped_models()]
    lines += ["", "legacy names:", *(f"  {a} -> {m}" for a, m in aic.model_aliases().items())]
    lines += ["", f"quant presets (--quant): {', '.join(aic.QUANT_PRESETS)}", "quant modes:"]
    lines += [f"  --{k}-quant {', '.join(v)}" for k, v in aic.quant_mode_names().items()]
    return "\n".join(lines)


def run_generate(args: argparse.Namespace, command: str) -> None:
    """Body of `generate`; raises ProfileError for main() to print."""
    if args.list:
        print(_listing())
        return
    needed = {"--system": args.system, "--model": args.model, "OUT": args.out}
    missing = [flag for flag, value in needed.items() if not value]
    if missing:
        raise ProfileError(f"generate needs {', '.join(missing)} (--list shows the choices)")
    if not check_suffix(args.out).parent.is_dir():
        raise ProfileError(f"output folder {Path(args.out).parent} does not exist")
    settings = _sweep_settings(args)
    engine = {k: getattr(args, k) for k in ("quant", "moe_ep", "backend_version")}
    engine |= {
        f"{k}_quant": getattr(args, f"{k}_quant") for k in ("gemm", "kvcache", "fmha", "moe")
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = generate(
            args.system, args.model, args.backend, args.tp, sweep=settings,
            gpu_memory_utilization=args.gpu_memory_utilization, max_kv_tokens=args.max_kv_tokens,
            name=args.name, gpu=args.gpu, command=command, **engine,
        )  # fmt: skip
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    path = save_profile(result.profile, args.out, header=result.header())
    p, d = result.profile.prefill, result.profile.decode
    print(
        f"wrote {path}: {result.profile.name}, ESTIMATED; {len(p.isl)} prefill points (TTFT "
        f"{min(p.ttft_ms):.1f}-{max(p.ttft_ms):.1f} ms), {len(d.itl_ms)} decode points on "
        f"{len(set(d.context_length))} context rows (ITL {min(d.itl_ms):.1f}-"
        f"{max(d.itl_ms):.1f} ms), max_kv_tokens {d.max_kv_tokens:,}"
    )


class _Parser(argparse.ArgumentParser):
    """argparse prints usage + error over two lines and exits; we want one line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sla_planner.profiles", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="names of the bundled profiles")
    show = sub.add_parser("describe", help="summarise a profile")
    show.add_argument("profile", help="bundled name, profile file or Dynamo profiler directory")
    imp = sub.add_parser("import-dynamo", help="convert Dynamo profiler output to a native file")
    imp.add_argument("directory")
    imp.add_argument("out", help="output .yaml or .json")
    imp.add_argument("--name")
    imp.add_argument("--gpu", default="unknown")
    imp.add_argument("--model", default="unknown")
    imp.add_argument("--backend", default="unknown")
    imp.add_argument("--gpus-per-replica", type=int, help="default: inferred from prefill data")
    imp.add_argument("--max-batched-tokens", type=int, default=8192)
    imp.add_argument("--source")
    imp.add_argument("--license", default="")
    imp.add_argument("--header", default="", help="comment lines written atop a YAML file")
    add_generate_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        if args.command == "generate":
            run_generate(args, f"python -m sla_planner.profiles {shlex.join(argv)}")
        elif args.command == "list":
            print("\n".join(list_bundled()))
        elif args.command == "describe":
            print(describe(load_profile(args.profile)))
        else:
            profile = import_dynamo_dir(
                args.directory,
                name=args.name,
                gpu=args.gpu,
                model=args.model,
                backend=args.backend,
                gpus_per_replica=args.gpus_per_replica,
                max_batched_tokens=args.max_batched_tokens,
                source=args.source,
                license=args.license,
            )
            print(f"wrote {save_profile(profile, args.out, header=args.header)}")
    except (ProfileError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
