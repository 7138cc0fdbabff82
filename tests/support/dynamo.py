"""Judge 2's optional packages: a skip marker naming the install command."""

from __future__ import annotations

import pytest

from sla_planner_bench.dynamo_replay import INSTALL_COMMAND, dynamo_available

requires_dynamo = pytest.mark.skipif(
    not dynamo_available(),
    reason=f"ai-dynamo 1.6.1 not installed (optional bench packages): {INSTALL_COMMAND}",
)
