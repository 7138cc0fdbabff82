"""`python -m sla_planner.profiles`: list, describe and import sla_planner.profiles (a maintainer's tool).

python -m sla_planner.profiles list
python -m sla_planner.profiles describe NAME|PATH
python -m sla_planner.profiles import-dynamo DIR OUT.yaml --gpu H200 --model M --backend vllm [...]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sla_planner.profiles.describe import describe
from sla_planner.profiles.dynamo_import import import_dynamo_dir
from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.native import save_profile
from sla_planner.profiles.registry import list_bundled, load_profile


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sla_planner.profiles", description=__doc__.splitlines()[0]
    )
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
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
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
