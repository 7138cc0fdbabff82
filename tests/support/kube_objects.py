"""Objects the kube tests create on the real API server, and status written as their
controllers would (no Grove controller runs: its module is not served)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

GROVE = ("grove.io", "v1alpha1")
LWS_GV = ("leaderworkerset.x-k8s.io", "v1")
KINDS = {  # kind -> (group, version, plural)
    "PodCliqueScalingGroup": (*GROVE, "podcliquescalinggroups"),
    "PodClique": (*GROVE, "podcliques"),
    "LeaderWorkerSet": (*LWS_GV, "leaderworkersets"),
    "Deployment": ("apps", "v1", "deployments"),
}


# KWOK's pod-ready stage reads these: each pod turns Ready `delay` after it starts.
def ready_delay_annotations(delay_s: float) -> dict[str, str]:
    return {
        "pod-ready.stage.kwok.x-k8s.io/delay": f"{int(delay_s * 1000)}ms",
        "pod-ready.stage.kwok.x-k8s.io/jitter-delay": f"{int(delay_s * 1000)}ms",
    }


def pod_template(app: str, delay_s: float = 0.0) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}, "annotations": ready_delay_annotations(delay_s)},
        "spec": {
            "containers": [{"name": "engine", "image": "registry.invalid/engine:1"}],
            "nodeSelector": {"type": "kwok"},
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
        },
    }


def body(kind: str, name: str, replicas: int, delay_s: float = 0.0) -> dict[str, Any]:
    group, version, _ = KINDS[kind]
    api_version = f"{group}/{version}"
    meta = {"name": name}
    if kind == "PodCliqueScalingGroup":
        spec: dict[str, Any] = {"cliqueNames": ["leader", "worker"], "replicas": replicas}
    elif kind == "PodClique":
        spec = {"roleName": "decode", "replicas": replicas, "podSpec": pod_template(name)["spec"]}
    elif kind == "LeaderWorkerSet":
        spec = {
            "replicas": replicas,
            "leaderWorkerTemplate": {"size": 2, "workerTemplate": pod_template(name, delay_s)},
        }
    else:
        spec = {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, delay_s),
        }
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec}


def create(
    api: client.ApiClient, kind: str, ns: str, name: str, replicas: int, delay_s: float = 0.0
) -> dict[str, Any]:
    obj = body(kind, name, replicas, delay_s)
    if kind == "Deployment":
        return api.sanitize_for_serialization(
            client.AppsV1Api(api).create_namespaced_deployment(ns, obj)
        )
    group, version, plural = KINDS[kind]
    return client.CustomObjectsApi(api).create_namespaced_custom_object(
        group, version, ns, plural, obj)  # fmt: skip


def get(api: client.ApiClient, kind: str, ns: str, name: str) -> dict[str, Any]:
    if kind == "Deployment":
        return api.sanitize_for_serialization(
            client.AppsV1Api(api).read_namespaced_deployment(name, ns)
        )
    group, version, plural = KINDS[kind]
    return client.CustomObjectsApi(api).get_namespaced_custom_object(
        group, version, ns, plural, name)  # fmt: skip


def spec_replicas(api: client.ApiClient, kind: str, ns: str, name: str) -> int:
    return int(get(api, kind, ns, name)["spec"].get("replicas", 0))


def delete(api: client.ApiClient, kind: str, ns: str, name: str) -> None:
    if kind == "Deployment":
        client.AppsV1Api(api).delete_namespaced_deployment(name, ns)
        return
    group, version, plural = KINDS[kind]
    client.CustomObjectsApi(api).delete_namespaced_custom_object(group, version, ns, plural, name)


def write_grove_status(api: client.ApiClient, kind: str, ns: str, name: str, ready: int) -> None:
    """Status as the Grove operator publishes it (field names from its CRD)."""
    group, version, plural = KINDS[kind]
    replicas = int(get(api, kind, ns, name)["spec"]["replicas"])
    if kind == "PodCliqueScalingGroup":
        status = {
            "replicas": replicas,
            "availableReplicas": ready,
            "scheduledReplicas": replicas,
            "updatedReplicas": replicas,
            "selector": f"app.kubernetes.io/part-of={name}",
        }
    else:
        status = {
            "replicas": replicas,
            "readyReplicas": ready,
            "scheduledReplicas": replicas,
            "updatedReplicas": replicas,
            "scheduleGatedReplicas": 0,
            "wasAvailable": True,
            "hpaPodSelector": f"app.kubernetes.io/part-of={name}",
        }
    client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        group, version, ns, plural, name, {"status": status})  # fmt: skip


def touch(api: client.ApiClient, kind: str, ns: str, name: str, value: str) -> None:
    """Another writer changes the object (a label): its resourceVersion moves on."""
    patch = {"metadata": {"labels": {"touched-by": value}}}
    if kind == "Deployment":
        client.AppsV1Api(api).patch_namespaced_deployment(name, ns, patch)
        return
    group, version, plural = KINDS[kind]
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        group, version, ns, plural, name, patch)  # fmt: skip
