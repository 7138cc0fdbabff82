"""Fixtures for the discrete-event judge: the bundled measured profile as a dict (tests mutate
copies of it) (real traces as request arrays: support/des_requests.py)."""

from __future__ import annotations

import copy

import pytest
from support.paths import BUNDLED_PROFILE

from sla_planner.profiles.registry import load_profile


@pytest.fixture(scope="session")
def profile_dict() -> dict:
    return load_profile(BUNDLED_PROFILE).model_dump()


@pytest.fixture()
def profile(profile_dict: dict) -> dict:
    return copy.deepcopy(profile_dict)
