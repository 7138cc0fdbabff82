"""Fixtures for judge 2 (Dynamo's mocker replay). Tests that replay need the optional ai-dynamo
packages (support.dynamo.requires_dynamo) and skip without them, naming the install command;
they carry the slow marker."""

from __future__ import annotations

import pytest
from support.paths import BUNDLED_PROFILE


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory):
    """Mocker engines timed by Dynamo's converter from the bundled H200 profile (120 s startup)."""
    from sla_planner_bench.dynamo_replay.engine import mocker_engines

    return mocker_engines(BUNDLED_PROFILE, cache_dir=tmp_path_factory.mktemp("mocker_npz"))


@pytest.fixture(scope="session")
def replay_cfg(engines):
    from sla_planner_bench.dynamo_replay.replay import ReplayConfig

    return ReplayConfig(engines, ttft_ms=200.0, itl_ms=20.0)
