#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, then runs it.
# Real Prometheus (Debian package) is used by the Prometheus and /metrics tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "installing Prometheus (Debian package)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

if ! command -v kubectl >/dev/null 2>&1; then
  echo "installing kubectl (Debian package kubernetes-client)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# Judge 2's optional packages (Dynamo's engine simulator, ~75 MB, ~70 s from the package index)
# so its tests run here instead of skipping.
bash scripts/install_bench.sh
python3 -m ruff check .
python3 -m ruff format --check .
bash scripts/lint_imports.sh
# The real control plane for tests/kube (built once from the Go module proxy, ~10 min on 2
# cores, then cached in .kube-testenv/; started in ~5 s). Without Go the kube tests skip.
if command -v go >/dev/null 2>&1; then
  trap 'bash scripts/kube_testenv.sh stop' EXIT
  bash scripts/kube_testenv.sh start
else
  echo "WARNING: no Go toolchain (>= 1.26): the kube tests (real kube-apiserver) will skip" >&2
fi
python3 -m pytest -q "$@"
