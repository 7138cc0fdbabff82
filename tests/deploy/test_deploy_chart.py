"""The Helm chart, rendered by the real Helm engine (helm-python-sdk = Helm v4's Go SDK), is lint
clean, every object it renders is schema-valid, and its pieces agree with each other and with
the planner (config file, port, probes, Lease)."""

from __future__ import annotations

import pytest
import yaml
from support.deploy_manifests import (
    CHART,
    NAMESPACE,
    RELEASE,
    ManifestError,
    by_kind,
    check_fleet_config,
    check_run_config,
    example_values,
    mutated,
    one,
    render_chart,
    validate_manifest,
)

helm = pytest.importorskip("helm_python", reason="test dependency helm-python-sdk is not installed")


@pytest.fixture(scope="module")
def default_docs() -> list[dict]:
    return render_chart({})


def _container(docs: list[dict]) -> dict:
    containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _run_config(docs: list[dict]) -> dict:
    return yaml.safe_load(one(docs, "ConfigMap")["data"]["config.yaml"])


def test_helm_lint_strict_has_no_warnings_or_errors():
    report = helm.lint(str(CHART), strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("path", example_values(), ids=lambda p: p.name)
def test_helm_lint_strict_with_each_example_values_file(path):
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    report = helm.lint(str(CHART), values, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


def test_default_render_has_exactly_the_expected_objects(default_docs):
    kinds = sorted(d["kind"] for d in default_docs)
    assert kinds == sorted(
        ["ServiceAccount", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"]
        + ["Role", "RoleBinding"]  # the Lease only: the default targets are MetricsOnly
    )
    assert all(d["metadata"]["namespace"] == NAMESPACE for d in default_docs)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}},
        {
            "replicaCount": 1,
            "leaderElection": {"enabled": False},
            "rbac": {"restrictToTargetNames": False},
        },
        {"serviceAccount": {"create": False, "name": "existing"}, "rbac": {"create": False}},
    ],
    ids=["defaults", "servicemonitor", "single", "no-rbac"],
)
def test_every_rendered_object_is_schema_valid(values):
    docs = render_chart(values)
    assert docs
    for doc in docs:
        validate_manifest(doc, "chart")


@pytest.mark.parametrize("path", example_values(), ids=lambda p: p.name)
def test_chart_renders_valid_objects_with_each_example_values_file(path):
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    docs = render_chart(values)
    # An empty render would pass the loop below: the planner's own objects must be there.
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ServiceAccount", "ConfigMap", "Service"} <= kinds, (path.name, kinds)
    for doc in docs:
        validate_manifest(doc, path.name)


def test_validation_rejects_a_broken_deployment(default_docs):
    # The validator is what every other test relies on: show it catches real mistakes.
    dep = one(default_docs, "Deployment")
    for path, bad in [
        ("spec.template.spec.containers.0.readinessProbe.httpGet.pat", "/readyz"),
        ("spec.replicas", "2"),
        ("spec.template.spec.securityContext.runAsNonRoot", "yes"),
    ]:
        with pytest.raises(ManifestError):
            validate_manifest(mutated(dep, path, bad))


def test_deployment_runs_the_planner_with_the_mounted_config(default_docs):
    dep = one(default_docs, "Deployment")
    spec = dep["spec"]["template"]["spec"]
    c = _container(default_docs)
    assert dep["spec"]["replicas"] == 2
    assert c["args"] == ["run", "--config", "/etc/sla-planner/config.yaml"]
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/sla-planner")
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    cm = one(default_docs, "ConfigMap")
    assert volume["configMap"]["name"] == cm["metadata"]["name"]
    assert "config.yaml" in cm["data"]
    # The pod rolls when the config changes.
    assert len(dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]) == 64
    # Leader election identity and namespace come from the downward API.
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_probes_port_and_service_match_the_planner_http_server(default_docs):
    c = _container(default_docs)
    port = next(p for p in c["ports"] if p["name"] == "http")
    cfg = _run_config(default_docs)
    assert port["containerPort"] == cfg["server"]["port"] == 8080
    assert cfg["server"]["host"] == "0.0.0.0"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    svc = one(default_docs, "Service")
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    pod_labels = one(default_docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()


def test_pod_is_non_root_with_read_only_root_and_resource_requests(default_docs):
    pod = one(default_docs, "Deployment")["spec"]["template"]["spec"]
    c = _container(default_docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= c["resources"]["requests"].keys()
    # A read-only root needs a writable /tmp for temp files and caches (HOME, MPLCONFIGDIR).
    tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HOME"] == "/tmp" and env["MPLCONFIGDIR"].startswith("/tmp/")


def test_config_map_holds_the_users_config_with_chart_owned_fields_forced():
    docs = render_chart(
        {
            "containerPort": 9090,
            "service": {"port": 80},
            "leaderElection": {"leaseName": "planner-lease"},
            "config": {
                "server": {"host": "127.0.0.1", "port": 1},  # overridden: must match the probes
                "leader_election": {"enabled": False, "lease_duration_s": 20.0},
                "planner": {"interval_s": 30},
            },
        }
    )
    cfg = _run_config(docs)
    assert cfg["server"] == {"host": "0.0.0.0", "port": 9090}
    assert cfg["leader_election"] == {
        "enabled": True,
        "namespace": NAMESPACE,
        "lease_name": "planner-lease",
        "lease_duration_s": 20.0,  # user's timing kept
    }
    assert cfg["planner"]["interval_s"] == 30
    assert cfg["targets"]["prefill"] == {"kind": "MetricsOnly"}  # defaults merged in
    assert _container(docs)["ports"][0]["containerPort"] == 9090
    assert one(docs, "Service")["spec"]["ports"][0]["port"] == 80


def test_config_map_config_is_a_valid_planner_run_config(default_docs):
    data = yaml.safe_load(one(default_docs, "ConfigMap")["data"]["config.yaml"])
    check_run_config(data, "ConfigMap config.yaml")
    assert data["server"] == {"host": "0.0.0.0", "port": 8080}
    assert data["leader_election"] == {
        "enabled": True,
        "namespace": NAMESPACE,
        "lease_name": RELEASE,
    }
    assert data["targets"] == {
        "prefill": {"kind": "MetricsOnly"},
        "decode": {"kind": "MetricsOnly"},
    }


@pytest.mark.parametrize("path", example_values(), ids=lambda p: p.name)
def test_example_config_maps_are_valid_run_configs(path, tmp_path):
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    docs = render_chart(values)
    data = yaml.safe_load(one(docs, "ConfigMap")["data"]["config.yaml"])
    if "fleetConfig" in values:  # a fleet file: the user's deployments, nothing merged in
        loaded = check_fleet_config(data, tmp_path / "fleet.yaml")
        assert data["deployments"] == values["fleetConfig"]["deployments"]
        assert not {"planner", "targets", "metrics", "profile"} & set(data)
        assert loaded.source.server.port == 8080 and loaded.source.leader_election.enabled
        return
    check_run_config(data, f"{path.name} ConfigMap")
    # The user's targets arrive unchanged: Helm's deep merge with the chart defaults adds nothing.
    assert data["targets"] == values["config"]["targets"]
    assert data["leader_election"]["enabled"] is values.get("leaderElection", {}).get(
        "enabled", True
    )


def test_user_targets_are_not_merged_with_default_target_keys():
    # A regression guard: chart defaults must not leak keys (name, group, ...) into user targets.
    targets = {
        "prefill": {
            "kind": "PodClique",
            "namespace": "llm",
            "podCliqueSet": "llama",
            "clique": "prefill",
        },
        "decode": {"kind": "LeaderWorkerSet", "namespace": "llm", "name": "dec"},
    }
    data = yaml.safe_load(
        one(render_chart({"config": {"targets": targets}}), "ConfigMap")["data"]["config.yaml"]
    )
    assert data["targets"] == targets


def test_service_monitor_scrapes_the_service_metrics_port():
    docs = render_chart(
        {"serviceMonitor": {"enabled": True, "interval": "30s", "labels": {"release": "kps"}}}
    )
    sm = one(docs, "ServiceMonitor")
    svc = one(docs, "Service")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kps"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    (ep,) = sm["spec"]["endpoints"]
    assert ep["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert ep["path"] == "/metrics" and ep["interval"] == "30s"
    assert not by_kind(render_chart({}), "ServiceMonitor")  # optional, off by default


def test_pod_disruption_budget_only_with_several_replicas():
    assert one(render_chart({}), "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    single = render_chart({"replicaCount": 1, "leaderElection": {"enabled": False}})
    assert not by_kind(single, "PodDisruptionBudget")
    assert not by_kind(
        render_chart({"podDisruptionBudget": {"enabled": False}}), "PodDisruptionBudget"
    )


def test_several_replicas_without_leader_election_is_refused():
    with pytest.raises(helm.HelmError, match="leaderElection.enabled=true"):
        render_chart({"replicaCount": 2, "leaderElection": {"enabled": False}})


def test_unknown_target_kind_is_refused_with_the_valid_kinds():
    values = {
        "config": {"targets": {"prefill": {"kind": "StatefulSet", "namespace": "llm", "name": "x"}}}
    }
    with pytest.raises(helm.HelmError, match="unknown kind .*StatefulSet.*PodCliqueScalingGroup"):
        render_chart(values)


def test_nothing_cluster_scoped_is_rendered():
    for values in [
        {},
        {"serviceMonitor": {"enabled": True}},
        *[yaml.safe_load(p.read_text(encoding="utf-8")) for p in example_values()],
    ]:
        kinds = {d["kind"] for d in render_chart(values)}
        assert not kinds & {
            "ClusterRole",
            "ClusterRoleBinding",
            "Namespace",
            "CustomResourceDefinition",
        }
