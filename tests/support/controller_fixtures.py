"""Fixtures for the controller and run-command tests: one simulated clock shared by the controller,
the leader elector and the fake Kubernetes API (so pod readiness and Lease expiry follow
simulated time). Registered for every folder by tests/conftest.py (pytest_plugins)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.controller_harness import READY_DELAY_S, TRACE_T0
from support.fake_kube import FakeKube

from sla_planner.controller.clock import SimulatedClock


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(start=TRACE_T0)


@pytest.fixture
def kube(clock: SimulatedClock) -> Iterator[FakeKube]:
    with FakeKube(clock=clock, ready_delay_s=READY_DELAY_S) as k:  # type: ignore[arg-type]
        yield k


@pytest.fixture
def api_client(kube: FakeKube):
    c = kube.api_client()
    yield c
    c.close()
