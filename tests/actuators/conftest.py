"""Fixtures for actuator tests: a fake Kubernetes API server per test and a per-kind table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from support.fake_kube import DEPLOYMENTS, LWS, PCLQ, PCSG, FakeKube

from sla_planner.actuators.deployment import DeploymentActuator
from sla_planner.actuators.grove_podclique import GrovePodCliqueActuator
from sla_planner.actuators.grove_scaling_group import GroveScalingGroupActuator
from sla_planner.actuators.leaderworkerset import LeaderWorkerSetActuator
from sla_planner.actuators.scale_subresource import ScaleSubresourceActuator

READY_DELAY_S = 60.0
NS = "llm"


@dataclass(frozen=True)
class Kind:
    id: str
    plural: str
    actuator: type[ScaleSubresourceActuator]
    add: Callable[..., dict]  # add(kube, namespace, name, replicas=, ready=)
    ready_field: str  # status field the real controller publishes for readiness
    api_group: str


KINDS = [
    Kind(
        "pcsg", PCSG, GroveScalingGroupActuator, FakeKube.add_pcsg, "availableReplicas", "grove.io"
    ),
    Kind("pclq", PCLQ, GrovePodCliqueActuator, FakeKube.add_podclique, "readyReplicas", "grove.io"),
    Kind(
        "lws",
        LWS,
        LeaderWorkerSetActuator,
        FakeKube.add_lws,
        "readyReplicas",
        "leaderworkerset.x-k8s.io",
    ),
    Kind(
        "deploy",
        DEPLOYMENTS,
        DeploymentActuator,
        FakeKube.add_deployment,
        "availableReplicas",
        "apps",
    ),
]


@pytest.fixture
def fake_kube() -> Iterator[FakeKube]:
    with FakeKube(ready_delay_s=READY_DELAY_S) as kube:
        yield kube


@pytest.fixture
def api_client(fake_kube: FakeKube):
    client = fake_kube.api_client()
    yield client
    client.close()


@pytest.fixture(params=KINDS, ids=[k.id for k in KINDS])
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param


@pytest.fixture
def make_actuator(kind: Kind, fake_kube: FakeKube, api_client):
    """make_actuator(replicas=2, ready=None, **actuator_kwargs) -> (actuator, name)."""

    def make(replicas: int = 2, ready: int | None = None, name: str = "pool", **kwargs):
        kind.add(fake_kube, NS, name, replicas=replicas, ready=ready)
        kwargs.setdefault("retry_backoff_s", 0.0)
        return kind.actuator(api_client, NS, name, **kwargs), name

    return make
