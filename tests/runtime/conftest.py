"""Fixtures for runtime tests: one simulated clock shared by the controller, the leader
elector and the fake Kubernetes API (so pod readiness and Lease expiry follow simulated time)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ holds the shared `support` package; this folder holds rt_support (helpers used here).
for _dir in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

from rt_support import READY_DELAY_S, TRACE_T0  # noqa: E402
from support.fake_kube import FakeKube  # noqa: E402

from planner.clock import SimulatedClock  # noqa: E402


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
