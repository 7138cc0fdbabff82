"""TargetConfig validation, Grove name resolution, build_actuator and load_api_client."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError
from support.fake_kube import DEPLOYMENTS, LWS, PCLQ, PCSG

from sla_planner.actuators.base import Actuator, ActuatorError, ReplicaStatus
from sla_planner.actuators.config import TargetConfig
from sla_planner.actuators.deployment import DeploymentActuator
from sla_planner.actuators.factory import build_actuator
from sla_planner.actuators.grove_names import podclique_name, scaling_group_name
from sla_planner.actuators.grove_podclique import GrovePodCliqueActuator
from sla_planner.actuators.grove_scaling_group import GroveScalingGroupActuator
from sla_planner.actuators.kube_client import KubeConfigError, load_api_client
from sla_planner.actuators.leaderworkerset import LeaderWorkerSetActuator
from sla_planner.actuators.metrics_only import MetricsOnlyActuator

NS = "llm"


def test_grove_names_match_the_operator():
    assert scaling_group_name("llama", 0, "decode") == "llama-0-decode"
    assert scaling_group_name("llama", 2, "prefill") == "llama-2-prefill"
    assert podclique_name("llama", 1, "frontend") == "llama-1-frontend"
    assert (
        podclique_name("llama", 0, "worker", scaling_group="decode", scaling_group_replica_index=3)
        == "llama-0-decode-3-worker"
    )
    with pytest.raises(ValueError, match="scalingGroupReplicaIndex"):
        podclique_name("llama", 0, "worker", scaling_group="decode")
    with pytest.raises(ValueError, match="DNS-1123"):
        scaling_group_name("Llama", 0, "decode")


def test_target_config_resolves_grove_fields_from_yaml():
    doc = yaml.safe_load(
        """
        prefill: {kind: PodCliqueScalingGroup, namespace: llm, podCliqueSet: llama, replicaIndex: 1, group: prefill}
        decode: {kind: PodCliqueScalingGroup, namespace: llm, name: llama-0-decode}
        worker: {kind: PodClique, namespace: llm, podCliqueSet: llama, clique: worker}
        router: {kind: Deployment, namespace: llm, name: router, request_timeout_s: 3}
        """
    )
    targets = {pool: TargetConfig.model_validate(v) for pool, v in doc.items()}
    assert targets["prefill"].resolved_name() == "llama-1-prefill"
    assert targets["decode"].resolved_name() == "llama-0-decode"
    assert targets["worker"].resolved_name() == "llama-0-worker"
    assert targets["router"].request_timeout_s == 3


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "StatefulSet", "namespace": NS, "name": "x"}, "PodCliqueScalingGroup"),
        ({"kind": "Deployment", "name": "x"}, "needs namespace"),
        ({"kind": "Deployment", "namespace": NS}, "needs name"),
        (
            {"kind": "PodCliqueScalingGroup", "namespace": NS},
            r"podCliqueSet \+ replicaIndex \+ group",
        ),
        (
            {
                "kind": "PodCliqueScalingGroup",
                "namespace": NS,
                "name": "a",
                "podCliqueSet": "b",
                "group": "c",
            },
            "not both",
        ),
        (
            {"kind": "PodCliqueScalingGroup", "namespace": NS, "podCliqueSet": "llama"},
            "needs podCliqueSet and group",
        ),
        ({"kind": "LeaderWorkerSet", "namespace": NS, "podCliqueSet": "x"}, "takes name only"),
        ({"kind": "MetricsOnly", "name": "x"}, "changes nothing"),
        ({"kind": "Deployment", "namespace": NS, "name": "Bad_Name"}, "DNS-1123"),
        ({"kind": "Deployment", "namespace": NS, "name": "x", "replicas": 3}, "Extra inputs"),
        (
            {"kind": "Deployment", "namespace": NS, "name": "x", "request_timeout_s": 0},
            "greater than 0",
        ),
    ],
)
def test_target_config_rejects_bad_input_with_a_clear_message(raw, message):
    with pytest.raises(ValidationError, match=message):
        TargetConfig.model_validate(raw)


@pytest.mark.parametrize(
    ("raw", "cls", "plural", "name"),
    [
        (
            {"kind": "PodCliqueScalingGroup", "podCliqueSet": "llama", "group": "decode"},
            GroveScalingGroupActuator,
            PCSG,
            "llama-0-decode",
        ),
        (
            {"kind": "PodClique", "podCliqueSet": "llama", "clique": "prefill"},
            GrovePodCliqueActuator,
            PCLQ,
            "llama-0-prefill",
        ),
        ({"kind": "LeaderWorkerSet", "name": "dec"}, LeaderWorkerSetActuator, LWS, "dec"),
        ({"kind": "Deployment", "name": "router"}, DeploymentActuator, DEPLOYMENTS, "router"),
    ],
)
def test_build_actuator_scales_the_resolved_object(raw, cls, plural, name, fake_kube, api_client):
    add = {
        PCSG: fake_kube.add_pcsg,
        PCLQ: fake_kube.add_podclique,
        LWS: fake_kube.add_lws,
        DEPLOYMENTS: fake_kube.add_deployment,
    }[plural]
    add(NS, name, replicas=1)
    actuator = build_actuator(TargetConfig.model_validate({**raw, "namespace": NS}), api_client)
    assert type(actuator) is cls and isinstance(actuator, Actuator)
    actuator.scale(3)
    assert fake_kube.spec_replicas(plural, NS, name) == 3


def test_metrics_only_records_and_writes_nothing(fake_kube, api_client):
    actuator = build_actuator(TargetConfig(kind="MetricsOnly"), None, pool="decode")
    assert isinstance(actuator, MetricsOnlyActuator) and isinstance(actuator, Actuator)
    assert actuator.status() == ReplicaStatus(desired=0, ready=0)
    actuator.scale(4)
    assert actuator.last_published == 4
    assert actuator.status() == ReplicaStatus(desired=4, ready=4)
    with pytest.raises(ActuatorError):
        actuator.scale(-1)
    assert actuator.last_published == 4
    assert fake_kube.requests == []


def test_metrics_only_observes_a_target_read_only(fake_kube, api_client):
    fake_kube.add_lws(NS, "dec", replicas=3, ready=2)
    target = TargetConfig.model_validate(
        {
            "kind": "MetricsOnly",
            "observe": {"kind": "LeaderWorkerSet", "namespace": NS, "name": "dec"},
        }
    )
    actuator = build_actuator(target, api_client, pool="decode")
    assert "LeaderWorkerSet llm/dec" in actuator.description
    actuator.scale(8)
    assert actuator.status() == ReplicaStatus(desired=3, ready=2)  # live, not what was published
    assert fake_kube.writes() == []
    assert fake_kube.spec_replicas(LWS, NS, "dec") == 3


def test_build_actuator_needs_a_client_for_kube_kinds():
    with pytest.raises(ValueError, match="load_api_client"):
        build_actuator(TargetConfig(kind="Deployment", namespace=NS, name="r"), None)


def test_load_api_client_from_a_kubeconfig_talks_to_the_server(tmp_path, fake_kube):
    fake_kube.add_deployment(NS, "router", replicas=2, ready=1)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": fake_kube.url}}],
                "users": [{"name": "planner", "user": {"token": "t0ken"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "planner"}}],
                "current-context": "fake",
            }
        )
    )
    api = load_api_client(kubeconfig)
    try:
        status = DeploymentActuator(api, NS, "router").status()
    finally:
        api.close()
    assert status == ReplicaStatus(desired=2, ready=1)
    with pytest.raises(KubeConfigError, match="context 'nope'"):
        load_api_client(kubeconfig, context="nope")


def test_load_api_client_without_credentials_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(KubeConfigError, match="pass a kubeconfig path"):
        load_api_client()
