"""Helpers for the deploy/ tests: render the Helm chart with the real Helm engine, load manifests
and validate them against the Kubernetes OpenAPI schemas (built-in kinds: the strict JSON schemas shipped by the
`kubernetes-validate` package, with resource.Quantity's grammar added) and the vendored upstream CRD schemas (tests/deploy/schemas)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "sla-planner"
EXAMPLES = DEPLOY / "examples"
SCHEMAS = REPO / "tests" / "deploy" / "schemas"

# Oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest schema shipped.
K8S_VERSIONS = ("1.25", "1.37")
RELEASE = "sla-planner"
NAMESPACE = "llm"

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# ----------------------------------------------------------------------------- loading


def load_docs(text: str) -> list[dict[str, Any]]:
    """All non-empty YAML documents of a multi-document string."""
    return [d for d in yaml.safe_load_all(text) if d]


def load_file(path: Path) -> list[dict[str, Any]]:
    return load_docs(path.read_text(encoding="utf-8"))


def example_manifests() -> list[Path]:
    """Every Kubernetes manifest under deploy/examples (values files for Helm are not manifests)."""
    return sorted(
        p
        for p in EXAMPLES.rglob("*.yaml")
        if not p.name.startswith("values") and "-values" not in p.name
    )


def example_values() -> list[Path]:
    return sorted(EXAMPLES.rglob("values*.yaml"))


def render_chart(
    values: dict[str, Any] | None = None, *, namespace: str = NAMESPACE
) -> list[dict[str, Any]]:
    """Render the chart with the Helm v4 engine (helm-python-sdk) and return its objects."""
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart:
        out = chart.render(values or {}, name=RELEASE, namespace=namespace)
    docs: list[dict[str, Any]] = []
    for fname, text in sorted(out.items()):
        if fname.endswith(".yaml"):
            docs.extend(load_docs(text))
    return docs


def by_kind(docs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: Iterable[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


# ----------------------------------------------------------------------------- CRD schemas


@cache
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    """Vendored CRDs keyed by (apiVersion, kind)."""
    out = {}
    for path in sorted(SCHEMAS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        out[(f"{crd['group']}/{crd['version']}", crd["kind"])] = crd
    return out


def _strict(schema: Any) -> Any:
    """Structural schema -> JSON Schema with the API server's strict field validation: an object
    with `properties` rejects unknown fields unless it preserves them."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _podspecs(schema: dict[str, Any], value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(path, value) of every subtree the schema marks as a core/v1 PodSpec."""
    if not isinstance(schema, dict):
        return
    if schema.get("x-sla-planner-podspec"):
        yield path, value
        return
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                yield from _podspecs(sub, value[key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from _podspecs(schema["items"], item, f"{path}[{i}]")


def has_scale_subresource(api_version: str, kind: str) -> bool:
    """Whether HPA/KEDA/the planner can scale this kind through /scale."""
    builtin = {("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "ReplicaSet")}
    if (api_version, kind) in builtin:
        return True
    crd = crds().get((api_version, kind))
    return bool(crd and (crd.get("subresources") or {}).get("scale"))


# ----------------------------------------------------------------------------- validation


class ManifestError(AssertionError):
    pass


def _check_metadata(doc: dict[str, Any], where: str) -> None:
    meta = doc.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        raise ManifestError(f"{where}: metadata.name {name!r} is not a DNS-1123 subdomain")
    ns = meta.get("namespace")
    if ns is not None and not _DNS1123_LABEL.match(str(ns)):
        raise ManifestError(f"{where}: metadata.namespace {ns!r} is not a DNS-1123 label")
    for key, value in (meta.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63:
            raise ManifestError(f"{where}: label {key}={value!r} must be a string of <= 63 chars")


# The API server parses every resource.Quantity with this grammar (the same pattern CRDs carry);
# the OpenAPI documents only say "string or number", so it is added here.
QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


@cache
def _k8s_registry(version: str) -> tuple[str, Any]:
    """(schema dir, referencing registry) of kubernetes-validate's strict schemas for `version`."""
    import importlib.resources as resources

    from referencing import Registry, Resource

    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    dirs = sorted(
        (p.name for p in root.iterdir() if p.name.endswith("-local-strict")),
        key=lambda n: tuple(int(x) for x in n[1:].split("-")[0].split(".")),
    )
    want = tuple(int(x) for x in version.split("."))
    chosen = [d for d in dirs if tuple(int(x) for x in d[1:].split("-")[0].split("."))[:2] <= want]
    assert chosen, f"kubernetes-validate has no schema for Kubernetes {version}"
    schema_dir = chosen[-1]
    defs = json.loads((root / schema_dir / "_definitions.json").read_text(encoding="utf-8"))
    defs["$defs"]["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
        "oneOf": [{"type": "string", "pattern": QUANTITY}, {"type": "number"}, {"type": "null"}]
    }
    registry = Resource.from_contents(defs) @ Registry()
    return schema_dir, registry


def _validate_builtin(doc: dict[str, Any], where: str) -> None:
    import importlib.resources as resources

    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
    for version in K8S_VERSIONS:
        schema_dir, registry = _k8s_registry(version)
        path = (
            resources.files("kubernetes_validate")
            / "kubernetes-json-schema"
            / schema_dir
            / f"{doc['kind'].lower()}-{group_version}.json"
        )
        if not path.is_file():
            raise ManifestError(
                f"{where}: no Kubernetes {version} schema for {doc['apiVersion']} {doc['kind']}"
            )
        schema = json.loads(path.read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            loc = ".".join(str(p) for p in e.path)
            raise ManifestError(f"{where}: Kubernetes {version}: {loc}: {e.message}")


def _validate_podspec(spec: Any, where: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "podspec"}, "spec": spec}
    _validate_builtin(pod, where)


def validate_manifest(doc: dict[str, Any], where: str = "manifest") -> None:
    """Raise ManifestError unless `doc` is a valid object of a kind we know the schema of."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not api_version or not kind:
        raise ManifestError(f"{where}: apiVersion and kind are required")
    where = f"{where} ({kind} {doc.get('metadata', {}).get('name')})"
    _check_metadata(doc, where)
    crd = crds().get((api_version, kind))
    if crd is None:
        _validate_builtin(doc, where)
        return
    if "openAPIV3Schema" not in crd:
        raise ManifestError(f"{where}: only the subresources of {kind} are vendored")
    schema = _strict(crd["openAPIV3Schema"])
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path)
    )
    if errors:
        e = errors[0]
        loc = ".".join(str(p) for p in e.path)
        raise ManifestError(f"{where}: CRD {crd['group']}/{crd['version']}: {loc}: {e.message}")
    for path, spec in _podspecs(crd["openAPIV3Schema"], doc, ""):
        _validate_podspec(spec, f"{where} {path.lstrip('.')}")


def mutated(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `doc` with the dotted `path` set to `value` (list indices as numbers)."""
    out = copy.deepcopy(doc)
    cur: Any = out
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys[:-1]:
        cur = cur[k]
    cur[keys[-1]] = value
    return out


# ----------------------------------------------------------------------------- run config


def check_run_config(data: Any, source: str) -> Any:
    """Validate a config with the planner's own parsers (sla_planner.config): a fleet file (it
    has `deployments:`) as `sla-planner run` reads one, else a run config."""
    from sla_planner.config.load import ConfigError, parse_run_config, validate
    from sla_planner.config.schema import FleetFile

    if isinstance(data, dict) and "deployments" in data:
        cfg = validate(FleetFile, data, source, "a fleet file")
        problems = cfg.for_run()
        if problems:
            raise ConfigError(f"{source}: {'; '.join(problems)}")
        return cfg
    return parse_run_config(data, source=source)


def check_fleet_config(data: Any, path: Path) -> Any:
    """Validate a fleet run file with the planner's own loader (written to `path`, so its
    profiles are resolved as the planner would); returns the loaded fleet."""
    from sla_planner.config.resolve import load_fleet

    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_fleet(path, for_run=True)
