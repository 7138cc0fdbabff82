"""Writes the two reduced Grove CRDs (PodClique, PodCliqueSet) from the vendored trimmed schema.

Run once by hand (`python3 tests/kube/crds/reduce_grove.py`); the output is committed. See
PROVENANCE.md for why these two are reduced while the PodCliqueScalingGroup CRD is upstream's.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
TRIMMED = HERE.parent.parent / "deploy" / "schemas" / "grove.io_podcliquesets.yaml"
HEADER = (
    "# REDUCED (not upstream's file): see tests/kube/crds/PROVENANCE.md. Names, scope, version,\n"
    "# subresources, field names, types, enums, required lists and defaults as upstream has them;\n"
    "# every core/v1 PodSpec and HPA config is an open object.\n"
)
INT32 = {"type": "integer", "format": "int32"}
# PodClique status at ai-dynamo/grove 4d416a5c (the fields and defaults the scale subresource
# and the planner read; conditions, lastErrors and rollingUpdateProgress kept open).
PCLQ_STATUS: dict[str, Any] = {
    "type": "object",
    "required": [
        "readyReplicas",
        "scheduleGatedReplicas",
        "scheduledReplicas",
        "updatedReplicas",
        "wasAvailable",
    ],
    "properties": {
        "conditions": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "currentPodCliqueSetGenerationHash": {"type": "string"},
        "currentPodTemplateHash": {"type": "string"},
        "hpaPodSelector": {"type": "string"},
        "lastErrors": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "observedGeneration": {"type": "integer", "format": "int64"},
        "readyReplicas": {**INT32, "default": 0},
        "replicas": INT32,
        "rollingUpdateProgress": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "scheduleGatedReplicas": {**INT32, "default": 0},
        "scheduledReplicas": {**INT32, "default": 0},
        "updatedReplicas": {**INT32, "default": 0},
        "wasAvailable": {"type": "boolean", "default": False},
    },
}


def _strip_markers(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_markers(v) for k, v in node.items() if k != "x-sla-planner-podspec"}
    if isinstance(node, list):
        return [_strip_markers(v) for v in node]
    return node


def _crd(
    kind: str, plural: str, short: str, schema: dict[str, Any], sub: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.grove.io"},
        "spec": {
            "group": "grove.io",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "shortNames": [short],
                "singular": kind.lower(),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": sub,
                }
            ],
        },
    }


def main() -> None:
    trimmed = _strip_markers(yaml.safe_load(TRIMMED.read_text()))
    pcs_schema = trimmed["openAPIV3Schema"]
    clique_spec = pcs_schema["properties"]["spec"]["properties"]["template"]["properties"][
        "cliques"
    ]["items"]["properties"]["spec"]
    pclq_schema = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": copy.deepcopy(clique_spec),
            "status": PCLQ_STATUS,
        },
    }
    out = {
        "grove.io_podcliquesets.yaml": _crd(
            "PodCliqueSet", "podcliquesets", "pcs", pcs_schema, trimmed["subresources"]
        ),
        "grove.io_podcliques.yaml": _crd(
            "PodClique",
            "podcliques",
            "pclq",
            pclq_schema,
            {
                "scale": {
                    "labelSelectorPath": ".status.hpaPodSelector",
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                },
                "status": {},
            },
        ),
    }
    for name, crd in out.items():
        (HERE / name).write_text(HEADER + yaml.safe_dump(crd, sort_keys=False))


if __name__ == "__main__":
    main()
