#!/usr/bin/env bash
# Checks the import-linter contracts (pyproject.toml) on the installed package layout.
# The source tree keeps planner/, profiles/, forecasters/, actuators/ side by side and maps them
# into one import name, sla_planner, at install time; import-linter reads files from the root
# package's folder, so it must look at a copy laid out as installed. The benchmark package
# (benchmarks/, sla_planner_bench) is the contracts' second root, so it is installed beside it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# setuptools reuses build/lib: a module deleted from the tree would linger there and be linted.
rm -rf "$repo/build" "$repo/benchmarks/build"
python3 -m pip install -q --disable-pip-version-check --no-deps \
  --target "$tmp/site" "$repo" "$repo/benchmarks" >/dev/null
cd "$tmp"
PYTHONPATH="$tmp/site" python3 -c \
  'import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())' \
  "$repo/pyproject.toml"
