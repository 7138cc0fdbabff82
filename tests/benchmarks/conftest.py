"""The benchmark package under test (sla_planner_bench: benchmarks/, the dev distribution
sla-planner-bench) must be this checkout's, as the root conftest requires of sla_planner: an
editable install of another checkout would otherwise be tested silently."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.paths import REPO

_FIX = f"run `bash scripts/install_bench.sh` (or `pip install --no-deps -e benchmarks`) in {REPO}"

try:
    import sla_planner_bench
except ImportError:
    raise pytest.UsageError(f"tests/benchmarks need the benchmark package: {_FIX}") from None

_IMPORTED = Path(sla_planner_bench.__file__).resolve().parent
if _IMPORTED != REPO / "benchmarks" / "sla_planner_bench":
    raise pytest.UsageError(
        f"sla_planner_bench is imported from {_IMPORTED}, not from this checkout: {_FIX}"
    )
