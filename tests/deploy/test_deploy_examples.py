"""Every example manifest is schema-valid, and the examples agree with each other and with the
planner: the ScaledObjects/HPAs scale kinds that have a scale subresource and objects that the
examples create, read the planner's Service at the right port and path and the right JSON field,
and each values file's targets name objects that the example workloads produce."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from support.deploy_manifests import (
    EXAMPLES,
    NAMESPACE,
    RELEASE,
    ManifestError,
    by_kind,
    example_manifests,
    has_scale_subresource,
    load_file,
    mutated,
    one,
    validate_manifest,
)

SCALED_OBJECT_FILES = sorted((EXAMPLES / "keda").glob("scaledobjects-*.yaml"))


def _values(rel: str) -> dict:
    return yaml.safe_load((EXAMPLES / rel).read_text(encoding="utf-8"))


def _docs(rel: str) -> list[dict]:
    return load_file(EXAMPLES / rel)


def _workloads() -> dict[tuple[str, str, str], dict]:
    """(kind, namespace, name) of every object the example workloads create, including the
    PodCliques and PodCliqueScalingGroups Grove's operator derives from each PodCliqueSet."""
    out: dict[tuple[str, str, str], dict] = {}
    for path in example_manifests():
        for doc in load_file(path):
            ns, name = doc["metadata"].get("namespace", "default"), doc["metadata"]["name"]
            out[(doc["kind"], ns, name)] = doc
            if doc["kind"] != "PodCliqueSet":
                continue
            tmpl = doc["spec"]["template"]
            grouped = {c for g in tmpl.get("podCliqueScalingGroups", []) for c in g["cliqueNames"]}
            for i in range(doc["spec"].get("replicas", 0)):
                for g in tmpl.get("podCliqueScalingGroups", []):
                    out[("PodCliqueScalingGroup", ns, f"{name}-{i}-{g['name']}")] = g
                    for j in range(g.get("replicas", 1)):
                        for c in g["cliqueNames"]:
                            out[("PodClique", ns, f"{name}-{i}-{g['name']}-{j}-{c}")] = g
                for c in tmpl["cliques"]:
                    if c["name"] not in grouped:
                        out[("PodClique", ns, f"{name}-{i}-{c['name']}")] = c
    return out


@pytest.mark.parametrize("path", example_manifests(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_manifest_is_schema_valid(path: Path):
    docs = load_file(path)
    assert docs
    for doc in docs:
        validate_manifest(doc, path.name)


def test_validation_rejects_broken_examples():
    pcs = _docs("grove/podcliqueset.yaml")[0]
    lws = _docs("lws/leaderworkersets.yaml")[0]
    so = _docs("keda/scaledobjects-metrics-api.yaml")[0]
    hpa = _docs("hpa/hpa-external.yaml")[0]
    for doc, path, bad in [
        (pcs, "spec.template.cliques.1.spec.replicas", "1"),
        (pcs, "spec.template.cliques.1.spec.podSpec.containers.0.imagePullPolicy", ["Always"]),
        (
            pcs,
            "spec.template.podCliqueScalingGroups",
            [{"name": "prefill"}],
        ),  # cliqueNames required
        (lws, "spec.leaderWorkerTemplate.restartPolicy", "Always"),
        (lws, "spec.leaderWorkerTemplate.workerTemplate.spec.containers", [{"image": "x"}]),
        (so, "spec.triggers.0.metadata.targetValue", 1),
        (so, "spec.scaleTargetRef.nam", "x"),
        (hpa, "spec.metrics.0.external.target.averageValue", "one"),
    ]:
        with pytest.raises(ManifestError):
            validate_manifest(mutated(doc, path, bad))


def test_grove_example_targets_are_the_objects_grove_creates():
    from sla_planner.actuators.config import TargetConfig

    objects = _workloads()
    for rel, kind in [
        ("grove/values-grove.yaml", "PodClique"),
        ("grove/values-grove-multinode.yaml", "PodCliqueScalingGroup"),
    ]:
        for pool, raw in _values(rel)["config"]["targets"].items():
            t = TargetConfig.model_validate(raw)
            assert t.kind == kind
            assert (kind, t.namespace, t.resolved_name()) in objects, (
                f"{rel} {pool}: no such object"
            )
    # Named the way the issue describes: <pcs>-<index>-<group> for the scaling groups.
    assert ("PodCliqueScalingGroup", "llm", "llama-405b-0-prefill") in objects
    assert ("PodCliqueScalingGroup", "llm", "llama-405b-0-decode") in objects


def test_every_scaling_group_lists_cliques_that_exist():
    for doc in by_kind(_docs("grove/podcliqueset-multinode.yaml"), "PodCliqueSet"):
        cliques = {c["name"] for c in doc["spec"]["template"]["cliques"]}
        for g in doc["spec"]["template"]["podCliqueScalingGroups"]:
            assert set(g["cliqueNames"]) <= cliques
            assert 1 <= g.get("minAvailable", 1) <= g.get("replicas", 1)


def test_lws_and_metrics_only_targets_name_example_objects():
    from sla_planner.actuators.config import TargetConfig

    objects = _workloads()
    for rel in ["lws/values-lws.yaml", "keda/values-keda.yaml", "hpa/values-hpa.yaml"]:
        for pool, raw in _values(rel)["config"]["targets"].items():
            t = TargetConfig.model_validate(raw)
            obj = t.observe if t.kind == "MetricsOnly" else t
            assert obj is not None
            assert (obj.kind, obj.namespace, obj.resolved_name()) in objects, f"{rel} {pool}"
            assert pool in obj.resolved_name()


def test_fleet_targets_name_example_objects_one_per_pool_of_each_variant():
    from sla_planner.actuators.config import TargetConfig

    objects = _workloads()
    seen = set()
    for d in _values("fleet/values-fleet.yaml")["fleetConfig"]["deployments"]:
        for v in d["variants"]:
            for pool, raw in v["targets"].items():
                t = TargetConfig.model_validate(raw)
                obj = (t.kind, t.namespace, t.resolved_name())
                assert obj in objects, f"{d['name']}/{v['name']}/{pool}: no such object"
                assert pool in t.resolved_name() and obj not in seen
                seen.add(obj)
    assert len(seen) == 6


def _scalers() -> list[tuple[str, dict]]:
    """(pool, object) for every ScaledObject and HPA in the examples."""
    out = []
    for path in [*SCALED_OBJECT_FILES, EXAMPLES / "hpa" / "hpa-external.yaml"]:
        for doc in load_file(path):
            pool = "prefill" if "prefill" in doc["metadata"]["name"] else "decode"
            out.append((pool, doc))
    return out


def test_scalers_target_a_scale_subresource_of_an_example_object():
    objects = _workloads()
    scalers = _scalers()
    assert len(scalers) == 6  # metrics-api, prometheus, HPA: one per pool each
    for pool, doc in scalers:
        ref = doc["spec"]["scaleTargetRef"]
        assert has_scale_subresource(ref["apiVersion"], ref["kind"]), ref
        assert (ref["kind"], doc["metadata"]["namespace"], ref["name"]) in objects, ref
        assert pool in ref["name"]
    # and the checker knows a kind without /scale when it sees one
    assert has_scale_subresource("grove.io/v1alpha1", "PodCliqueScalingGroup")
    assert not has_scale_subresource("keda.sh/v1alpha1", "ScaledObject")
    assert not has_scale_subresource("v1", "ConfigMap")


def test_scalers_apply_the_published_count_exactly():
    for pool, doc in _scalers():
        if doc["kind"] == "ScaledObject":
            (trig,) = doc["spec"]["triggers"]
            assert trig["metricType"] == "AverageValue"
            target = trig["metadata"].get("targetValue") or trig["metadata"].get("threshold")
            assert target == "1"
            assert doc["spec"]["minReplicaCount"] >= 1  # never deactivate to zero
            behavior = doc["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        else:
            (metric,) = doc["spec"]["metrics"]
            assert metric["type"] == "External"
            assert metric["external"]["metric"]["name"] == "sla_planner_desired_replicas"
            assert metric["external"]["metric"]["selector"]["matchLabels"] == {"pool": pool}
            assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": "1"}
            behavior = doc["spec"]["behavior"]
        # The planner already stabilises; a second window would delay its decisions.
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 0


def test_metrics_api_trigger_reads_the_planner_service_decision_field():
    pytest.importorskip("helm_python", reason="test dependency helm-python-sdk is not installed")
    from support.deploy_manifests import render_chart

    from sla_planner.controller.api import DecisionOut

    values = _values("keda/values-keda.yaml")
    docs = render_chart(values)
    svc = one(docs, "Service")
    schema = DecisionOut.model_json_schema()
    for doc in load_file(EXAMPLES / "keda" / "scaledobjects-metrics-api.yaml"):
        pool = doc["metadata"]["name"].removeprefix("llama-")
        (trig,) = doc["spec"]["triggers"]
        assert trig["type"] == "metrics-api"
        meta = trig["metadata"]
        url = urlsplit(meta["url"])
        assert url.scheme == "http"
        assert url.hostname == f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc"
        assert url.port == svc["spec"]["ports"][0]["port"]
        assert url.path == "/api/v1/decision"
        assert svc["metadata"]["name"] == RELEASE and svc["metadata"]["namespace"] == NAMESPACE
        # valueLocation (GJSON) resolves to an integer field of the planner's decision JSON.
        assert meta["valueLocation"] == f"{pool}.desiredReplicas"
        node = schema
        for key in meta["valueLocation"].split("."):
            node = node["properties"][key]
            if "$ref" in node:
                node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        assert node["type"] == "integer"
    # KEDA reads one pod through the Service: the example runs a single planner replica.
    assert one(docs, "Deployment")["spec"]["replicas"] == 1


def _promql_queries() -> list[str]:
    out = []
    for doc in load_file(EXAMPLES / "keda" / "scaledobjects-prometheus.yaml"):
        (trig,) = doc["spec"]["triggers"]
        assert trig["type"] == "prometheus"
        assert trig["metadata"]["ignoreNullValues"] == "false"  # empty result = hold, not 0
        pool = doc["metadata"]["name"].removeprefix("llama-")
        assert f'sla_planner_desired_replicas{{pool="{pool}"}}' in trig["metadata"]["query"]
        assert "sla_planner_is_leader == 1" in trig["metadata"]["query"]
        out.append(trig["metadata"]["query"])
    adapter = _values("hpa/prometheus-adapter-values.yaml")
    for rule in adapter["rules"]["external"]:
        assert rule["name"]["as"] == "sla_planner_desired_replicas"
        # prometheus-adapter fills these Go-template holes; substitute what it would send.
        out.append(
            rule["metricsQuery"]
            .replace("<<.Series>>", "sla_planner_desired_replicas")
            .replace("<<.LabelMatchers>>", 'namespace="llm",pool="prefill"')
        )
    return out


def test_promql_in_examples_parses_with_promtool(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    queries = _promql_queries()
    rules = {
        "groups": [
            {
                "name": "examples",
                "rules": [{"record": f"q{i}", "expr": q} for i, q in enumerate(queries)],
            }
        ]
    }
    good = tmp_path / "rules.yaml"
    good.write_text(yaml.safe_dump(rules), encoding="utf-8")
    res = subprocess.run(
        [promtool, "check", "rules", str(good)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr
    # promtool does reject a broken expression (so the check above means something).
    rules["groups"][0]["rules"][0]["expr"] = queries[0].replace(")", "", 1)
    good.write_text(yaml.safe_dump(rules), encoding="utf-8")
    res = subprocess.run(
        [promtool, "check", "rules", str(good)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode != 0
