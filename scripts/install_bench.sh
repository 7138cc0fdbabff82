#!/usr/bin/env bash
# Installs the benchmark package, sla-planner-bench (benchmarks/: the baselines and judge 2), with
# judge 2's optional packages: Dynamo's engine simulator (the mocker trace replay) and Dynamo's
# planner, for sla_planner_bench.dynamo_replay and benchmarks/judge2_benchmark.py.
#
# ai-dynamo 1.6.1 cannot be installed with its own dependency list: it requires NVIDIA's
# `aisimulate`, which PyPI serves only as a stub that downloads from NVIDIA's index, and it pins
# kubernetes<33 and certifi>=2026.10.19 for parts we do not use. So the two Dynamo wheels go in
# with --no-deps, and the Python packages the replay, the profile converter and the planner
# import are sla-planner-bench's own dependencies (benchmarks/pyproject.toml).
# sla_planner_bench.dynamo_replay.ais_shim stands in for aisimulate at import time
# (docs/judges.md says what it stubs). x86-64 / aarch64 Linux wheels.
#
# The product (`pip install .`) needs none of this.
#
#   bash scripts/install_bench.sh            # into the python3 on PATH (or $PYTHON)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
PIP=("$PY" -m pip install -q --disable-pip-version-check)

"${PIP[@]}" --no-deps "ai-dynamo==1.6.1" "ai-dynamo-runtime==1.6.1"
# Both checkouts in one call, so sla-planner-bench's `sla-planner` requirement is this one and
# pip never looks that name up on an index.
"${PIP[@]}" -e . -e ./benchmarks
"$PY" - <<'PY'
from sla_planner_bench.dynamo_replay import require_dynamo
from sla_planner_bench.dynamo_replay.runtime import dynamo_module, env_info

require_dynamo()
for name in ("dynamo.mocker.utils.planner_profiler_perf_data_converter", "dynamo.replay.planner"):
    dynamo_module(name)  # the converter and the planner import (with the aisimulate stubs)
print("judge 2 ready:", env_info())
PY
