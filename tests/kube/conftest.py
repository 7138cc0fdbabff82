"""Fixtures of the kube tests: one real control plane per session (scripts/kube_testenv.sh,
reused when already running), the Grove and LWS CRDs, and a fresh namespace per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.kube_env import KubeEnv, KubeEnvUnavailable, namespace_fixture
from support.kube_operators import start_lws


@pytest.fixture(scope="session")
def kube_env() -> KubeEnv:
    try:
        env = KubeEnv.start()
    except KubeEnvUnavailable as exc:
        pytest.skip(f"the real control plane could not be built or started: {exc}")
    env.install_crds()
    start_lws(env)  # the real LWS controller and its webhooks: LWS objects reconcile
    return env


@pytest.fixture
def kube_ns(kube_env: KubeEnv, request: pytest.FixtureRequest) -> Iterator[str]:
    prefix = request.node.name.split("[")[0].removeprefix("test_").replace("_", "-")[:40]
    yield from namespace_fixture(kube_env, prefix.rstrip("-"))


@pytest.fixture
def admin(kube_env: KubeEnv):
    api = kube_env.admin_client()
    yield api
    api.close()
