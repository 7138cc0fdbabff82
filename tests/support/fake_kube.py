"""A stateful fake Kubernetes API server on 127.0.0.1 for tests that use the official client.

Kept beside the real control plane of tests/kube (scripts/kube_testenv.sh) for fast fault
injection: actuator and leader-election tests talk real HTTP to this server through
`kubernetes.client`; tests/kube/test_kube_fake_parity.py checks it answers as the real one.
It speaks the subset of the REST API those paths need, with the shapes the client's pydantic
models validate:

* custom resources with the scale subresource: grove.io/v1alpha1 ``podcliquescalinggroups`` and
  ``podcliques``, leaderworkerset.x-k8s.io/v1 ``leaderworkersets``; apps/v1 ``deployments``:
  GET/PUT/PATCH object, GET/PUT/PATCH ``.../scale`` (autoscaling/v1 Scale), LIST, POST, DELETE;
* coordination.k8s.io/v1 ``leases``: GET, LIST, POST (409 AlreadyExists), PUT/PATCH (409 Conflict
  on a stale ``metadata.resourceVersion``), DELETE;
* core/v1 ``pods`` of objects that opted in (``kube.pods.enable(plural, ns, name)``), kept as
  each target's controller keeps them: see tests/support/fake_pods.py.

Semantics mirrored from the real API server:

* one global resourceVersion counter (like etcd) bumped by every write that changes the object
  (a write that changes nothing keeps it) and by each status publication (a replica turning
  ready, as a controller's status write does); ``metadata.generation`` bumped when ``spec``
  changes; Leases have no generation;
* PUT / PATCH carrying ``metadata.resourceVersion`` that is not the current one -> 409 Conflict;
* missing object -> 404 NotFound; a resource type not served (``unserve()``: a CRD not installed)
  -> a plain-text "404 page not found", not a Status; ``forbid()`` rules -> 403 Forbidden
  (checked first, like RBAC); a body naming another object -> 400 before any 409; a
  resourceVersion that is not a number -> 500;
* every error is a ``v1 Status`` object with code, reason and message;
* PATCH accepts merge-patch and JSON-patch; strategic-merge-patch only on built-in kinds
  (deployments): custom resources answer 415, as the real server does;
* validation: negative replicas -> 422 with the real server's message and ``causes``; a PodClique with 0 < replicas < spec.minAvailable -> 422
  (Grove's CEL rule);
* readiness: status is recomputed on each read from an injected clock. Replicas added by a
  scale-up become ready ``ready_delay_s`` after the write; scale-down removes the newest replicas
  at once. Status fields per kind mirror the real controllers (see ``_status_for``), including Go
  ``omitempty`` (a zero ``readyReplicas`` on a Deployment or LWS is absent, not 0).

Python API (all thread-safe)::

    with FakeKube(ready_delay_s=30) as kube:          # starts on a free port; stops on exit
        kube.add_pcsg("llm", "llama-0-decode", replicas=2)
        api = kube.api_client(retries=0)               # kubernetes.client.ApiClient for kube.url
        ... exercise code ...
        kube.clock.advance(30)                         # time for readiness is the fake clock
        kube.get(PCSG, "llm", "llama-0-decode")        # dict, status recomputed now
        kube.spec_replicas(PCSG, "llm", "llama-0-decode")
        kube.writes()                                  # logged PUT/PATCH/POST/DELETE requests

    Objects: add_pcsg / add_podclique / add_lws / add_deployment / add_lease / add_object,
             get, exists, spec_replicas, resource_version, delete, set_replicas (another writer),
             set_ready (force the ready count now).
    Faults:  unserve(plural)                            the CRD is not installed
             forbid(resource, verbs=None, namespace=None)  e.g. forbid("leases", {"update"}),
                                                            forbid("podcliques/scale", {"patch", "update"})
             fail_next(n, status=500 | mode="drop", method=None, path_contains=None, headers=None)
             strip_next(n, keys=("metadata",), ...): a 200 reply missing keys
             dribble_next(n, seconds_per_byte, ...): the reply body one byte at a time
             concurrent_writes(n, plural=None, name=None): before each of the next n writes to a
                 matching object, another writer bumps its resourceVersion -> stale PUTs get 409
             set_latency(seconds, method=None, path_contains=None); clear_faults()
    Lifecycle: start(), stop() (the port is kept, so start() again brings the "API" back), url.
    Log:     requests (list[RequestRecord]), writes(), clear_log(). Each record has the
             bearer token sent (`user`, see api_client(token=...)), the fake-clock time it was
             handled (`at`) and, for writes, every Lease's spec at that moment (`leases`), so
             a test can check that no one wrote without holding the Lease.

The pytest fixture ``fake_kube`` (see tests/actuators/conftest.py) yields a started FakeKube.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from support.fake_pods import FakePods

GROVE = "grove.io/v1alpha1"
LWS_API = "leaderworkerset.x-k8s.io/v1"
PCSG = "podcliquescalinggroups"
PCLQ = "podcliques"
LWS = "leaderworkersets"
DEPLOYMENTS = "deployments"
LEASES = "leases"

CREATION_TIMESTAMP = "2025-01-01T00:00:00Z"


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    scalable: bool
    builtin: bool  # built-in kinds accept strategic-merge-patch; custom resources do not

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


RESOURCE_TYPES: dict[str, ResourceType] = {
    PCSG: ResourceType("grove.io", "v1alpha1", PCSG, "PodCliqueScalingGroup", True, False),
    PCLQ: ResourceType("grove.io", "v1alpha1", PCLQ, "PodClique", True, False),
    LWS: ResourceType("leaderworkerset.x-k8s.io", "v1", LWS, "LeaderWorkerSet", True, False),
    DEPLOYMENTS: ResourceType("apps", "v1", DEPLOYMENTS, "Deployment", True, True),
    LEASES: ResourceType("coordination.k8s.io", "v1", LEASES, "Lease", False, True),
}

_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "POST": "create", "DELETE": "delete"}
_PATH_RE = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?/?$"
)


class FakeClock:
    """Manually advanced clock (seconds) so tests control readiness without sleeping."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += float(seconds)
            return self._now


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    body: Any  # parsed JSON (or raw text when not JSON), None when empty
    status: int | None = None  # None: the connection was dropped without a reply
    user: str | None = None  # the bearer token the client sent (who wrote)
    at: float | None = None  # fake-clock time the request was handled
    # Every Lease's spec when the request was handled (writes only): who led at that moment.
    leases: dict[str, dict[str, Any]] | None = None


@dataclass
class _Fault:
    remaining: int
    status: int | None  # None with modes other than "status"
    mode: str  # "status" | "drop" | "strip" | "dribble"
    method: str | None
    path_contains: str | None
    headers: dict[str, str] = field(default_factory=dict)  # extra reply headers ("status")
    strip: tuple[str, ...] = ()  # dotted keys removed from the reply ("strip")
    byte_s: float = 0.0  # seconds between reply body bytes ("dribble")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path
        )


@dataclass
class _Latency:
    seconds: float
    method: str | None
    path_contains: str | None


@dataclass
class _ForbidRule:
    resource: str  # "plural" or "plural/subresource"
    verbs: frozenset[str] | None
    namespace: str | None


@dataclass
class _ConcurrentWriter:
    remaining: int
    plural: str | None
    name: str | None


@dataclass
class _Stored:
    rtype: ResourceType
    obj: dict[str, Any]
    # per replica: the fake-clock time it becomes ready (inf = never); index order = creation order
    ready_at: list[float] = field(default_factory=list)
    ready_delay_s: float = 0.0
    published_ready: int = 0  # the ready count of the last status "the controller" wrote


class ApiError(Exception):
    """Internal: becomes a v1 Status reply."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}


def _negative_replicas(rtype: ResourceType, name: str, replicas: int, *, scale: bool) -> ApiError:
    """The real server's 422: Scale validation for built-in kinds written through /scale, the
    CRD's OpenAPI check (`minimum: 0` on the scale path) for custom resources."""
    if rtype.builtin:
        kind, group = ("Scale", "autoscaling") if scale else (rtype.kind, rtype.group)
        field, why = "spec.replicas", "must be greater than or equal to 0"
    else:
        kind, group = rtype.kind, rtype.group
        field, why = ".spec.replicas", "should be a non-negative integer"
    cause = f"Invalid value: {replicas}: {why}"
    return ApiError(
        422,
        "Invalid",
        f'{kind}.{group} "{name}" is invalid: {field}: {cause}',
        {"name": name, "group": group, "kind": kind,
         "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": field}]},
    )  # fmt: skip


class NotServed(ApiError):
    """A route the API server does not have (a group/version/resource it does not serve, e.g. a
    CRD not installed): the real server answers a plain-text "404 page not found", not a Status."""

    def __init__(self) -> None:
        super().__init__(404, "NotFound", "404 page not found")


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _json_patch(doc: dict, ops: list) -> dict:
    """RFC 6902 subset: add / replace / remove / test on object paths."""
    result = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, "BadRequest", "json patch operation needs 'op' and 'path'")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = result
        for part in parts[:-1]:
            if not isinstance(parent, dict) or part not in parent:
                raise ApiError(422, "Invalid", f"json patch path {op['path']} does not exist")
            parent = parent[part]
        last = parts[-1] if parts else ""
        kind = op["op"]
        if kind in ("add", "replace"):
            if kind == "replace" and last not in parent:
                raise ApiError(422, "Invalid", f"json patch replace: {op['path']} does not exist")
            parent[last] = copy.deepcopy(op.get("value"))
        elif kind == "remove":
            if last not in parent:
                raise ApiError(422, "Invalid", f"json patch remove: {op['path']} does not exist")
            del parent[last]
        elif kind == "test":
            if parent.get(last) != op.get("value"):
                raise ApiError(422, "Invalid", f"json patch test failed at {op['path']}")
        else:
            raise ApiError(400, "BadRequest", f"unsupported json patch op {kind!r}")
    return result


class FakeKube:
    """The fake API server and its state. See the module docstring for the API."""

    def __init__(
        self,
        *,
        clock: FakeClock | None = None,
        ready_delay_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.clock = clock or FakeClock()
        self.ready_delay_s = float(ready_delay_s)
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str, str], _Stored] = {}
        self._rv = 1000
        self._faults: list[_Fault] = []
        self._latencies: list[_Latency] = []
        self._forbid: list[_ForbidRule] = []
        self._unserved: set[str] = set()
        self._writers: list[_ConcurrentWriter] = []
        self.requests: list[RequestRecord] = []
        self.pods = FakePods(self)  # opt-in per object: kube.pods.enable(plural, ns, name)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        if not self._port:
            raise RuntimeError("FakeKube has not been started yet")
        return f"http://{self._host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> FakeKube:
        if self._server is not None:
            return self
        self._stopping.clear()
        handler = _make_handler(self)
        server = ThreadingHTTPServer((self._host, self._port), handler)
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (connections are refused). The port is kept for a later start()."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in injected latency
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api_client(self, *, retries: int | bool = 0, token: str | None = None) -> Any:
        """A kubernetes.client.ApiClient pointed at this server (plain HTTP), built as the
        planner builds its own (every call with a total deadline). `token` is sent as a
        bearer token and logged as the request's `user` (tells clients apart)."""
        from kubernetes import client

        from sla_planner.actuators.kube_client import make_api_client

        cfg = client.Configuration()
        cfg.host = self.url
        cfg.retries = retries  # 0: no hidden urllib3 retries, so fault counts are exact
        if token is not None:
            cfg.api_key = {"authorization": token}
            cfg.api_key_prefix = {"authorization": "Bearer"}
        return make_api_client(cfg)

    def lease_specs(self) -> dict[str, dict[str, Any]]:
        """Every Lease's spec now, by "namespace/name"."""
        with self._lock:
            return {
                f"{ns}/{name}": copy.deepcopy(st.obj["spec"])
                for (plural, ns, name), st in self._objects.items()
                if plural == LEASES
            }

    # ------------------------------------------------------------------ objects
    def add_pcsg(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 1,
        ready: int | None = None,
        min_available: int = 1,
        clique_names: Iterable[str] = ("leader", "worker"),
        ready_delay_s: float | None = None,
    ) -> dict:
        spec = {
            "replicas": replicas,
            "minAvailable": min_available,
            "cliqueNames": list(clique_names),
        }
        return self.add_object(
            PCSG, namespace, name, spec, ready=ready, ready_delay_s=ready_delay_s
        )

    def add_podclique(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 1,
        ready: int | None = None,
        min_available: int | None = None,
        role_name: str = "worker",
        ready_delay_s: float | None = None,
    ) -> dict:
        spec: dict[str, Any] = {
            "roleName": role_name,
            "replicas": replicas,
            "podSpec": {"containers": [{"name": "main", "image": "engine:latest"}]},
        }
        if min_available is not None:
            spec["minAvailable"] = min_available
        return self.add_object(
            PCLQ, namespace, name, spec, ready=ready, ready_delay_s=ready_delay_s
        )

    def add_lws(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 1,
        size: int = 2,
        ready: int | None = None,
        ready_delay_s: float | None = None,
    ) -> dict:
        pod = {"spec": {"containers": [{"name": "main", "image": "engine:latest"}]}}
        spec = {
            "replicas": replicas,
            "leaderWorkerTemplate": {"size": size, "leaderTemplate": pod, "workerTemplate": pod},
            "startupPolicy": "LeaderCreated",
        }
        return self.add_object(LWS, namespace, name, spec, ready=ready, ready_delay_s=ready_delay_s)

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 1,
        ready: int | None = None,
        ready_delay_s: float | None = None,
    ) -> dict:
        labels = {"app": name}
        spec = {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "router:latest"}]},
            },
        }
        return self.add_object(
            DEPLOYMENTS, namespace, name, spec, ready=ready, ready_delay_s=ready_delay_s
        )

    def add_lease(
        self,
        namespace: str,
        name: str,
        *,
        holder: str | None = None,
        lease_duration_s: int = 15,
        renew_time: str | None = None,
    ) -> dict:
        spec: dict[str, Any] = {"leaseDurationSeconds": lease_duration_s, "leaseTransitions": 0}
        if holder is not None:
            spec["holderIdentity"] = holder
            spec["acquireTime"] = spec["renewTime"] = renew_time or "2025-01-01T00:00:00.000000Z"
        return self.add_object(LEASES, namespace, name, spec)

    def add_object(
        self,
        plural: str,
        namespace: str,
        name: str,
        spec: dict,
        *,
        ready: int | None = None,
        ready_delay_s: float | None = None,
    ) -> dict:
        """Create (or overwrite) an object directly, bypassing HTTP. `ready` defaults to all."""
        rtype = _rtype(plural)
        with self._lock:
            obj = {
                "apiVersion": rtype.api_version,
                "kind": rtype.kind,
                "metadata": self._new_metadata(namespace, name, generation=plural != LEASES),
                "spec": copy.deepcopy(spec),
            }
            stored = _Stored(
                rtype,
                obj,
                ready_delay_s=self.ready_delay_s if ready_delay_s is None else float(ready_delay_s),
            )
            if rtype.scalable:
                n = int(spec.get("replicas", 1))
                k = n if ready is None else max(0, min(int(ready), n))
                now = self.clock.now()
                stored.ready_at = [now] * k + [float("inf")] * (n - k)
                stored.published_ready = k
            self._objects[(plural, namespace, name)] = stored
            return self._render(stored)

    def get(self, plural: str, namespace: str, name: str) -> dict:
        """The object as a GET would return it now (status recomputed on the fake clock)."""
        with self._lock:
            return self._render(self._require(plural, namespace, name))

    def exists(self, plural: str, namespace: str, name: str) -> bool:
        with self._lock:
            return (plural, namespace, name) in self._objects

    def spec_replicas(self, plural: str, namespace: str, name: str) -> int:
        return int(self.get(plural, namespace, name)["spec"]["replicas"])

    def resource_version(self, plural: str, namespace: str, name: str) -> str:
        return self.get(plural, namespace, name)["metadata"]["resourceVersion"]

    def delete(self, plural: str, namespace: str, name: str) -> None:
        with self._lock:
            self._objects.pop((plural, namespace, name), None)

    def set_replicas(self, plural: str, namespace: str, name: str, replicas: int) -> None:
        """Another writer (a human, an HPA) changes spec.replicas: bumps resourceVersion."""
        with self._lock:
            stored = self._require(plural, namespace, name)
            self._apply_replicas(stored, int(replicas))
            self._bump(stored, spec_changed=True)

    def set_ready(self, plural: str, namespace: str, name: str, ready: int) -> None:
        """Force the ready count now: the first `ready` replicas ready, the rest never."""
        with self._lock:
            stored = self._require(plural, namespace, name)
            n = len(stored.ready_at)
            k = max(0, min(int(ready), n))
            now = self.clock.now()
            stored.ready_at = [now] * k + [float("inf")] * (n - k)

    # ------------------------------------------------------------------ faults
    def forbid(
        self, resource: str, verbs: Iterable[str] | None = None, namespace: str | None = None
    ) -> None:
        """403 for `resource` ("plural" or "plural/scale") and these RBAC verbs (None: all)."""
        with self._lock:
            self._forbid.append(
                _ForbidRule(resource, frozenset(verbs) if verbs is not None else None, namespace)
            )

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        mode: str = "status",
        method: str | None = None,
        path_contains: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next `n` matching requests fail: an HTTP `status` Status reply (with extra
        `headers`, e.g. {"Retry-After": "5"}), or with mode="drop" the connection is closed
        without any reply. Nothing is applied."""
        if mode not in ("status", "drop"):
            raise ValueError("mode must be 'status' or 'drop'")
        with self._lock:
            self._faults.append(
                _Fault(
                    n,
                    None if mode == "drop" else status,
                    mode,
                    method,
                    path_contains,
                    headers=dict(headers or {}),
                )
            )

    def strip_next(
        self,
        n: int,
        keys: Iterable[str] = ("metadata",),
        *,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """The next `n` matching requests are handled normally but their JSON replies lose
        the dotted `keys` (e.g. "metadata" or "metadata.resourceVersion"): a proxy or a broken
        server answering 200 with less than the API promises."""
        with self._lock:
            self._faults.append(_Fault(n, None, "strip", method, path_contains, strip=tuple(keys)))

    def dribble_next(
        self,
        n: int,
        seconds_per_byte: float,
        *,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """The next `n` matching requests are handled (and applied) normally, but the reply
        body is sent one byte every `seconds_per_byte` (real time): a per-read socket timeout
        never fires, only a deadline on the whole call bounds it."""
        with self._lock:
            self._faults.append(
                _Fault(n, None, "dribble", method, path_contains, byte_s=float(seconds_per_byte))
            )

    def concurrent_writes(
        self, n: int, *, plural: str | None = None, name: str | None = None
    ) -> None:
        """Before each of the next `n` writes to a matching existing object, another writer
        updates it (resourceVersion bumps), so a write carrying the version it read gets 409."""
        with self._lock:
            self._writers.append(_ConcurrentWriter(n, plural, name))

    def set_latency(
        self, seconds: float, *, method: str | None = None, path_contains: str | None = None
    ) -> None:
        """Matching requests wait `seconds` (real time) before being handled; the request is
        then processed normally, so a write whose client timed out may still land, as in life."""
        with self._lock:
            self._latencies.append(_Latency(float(seconds), method, path_contains))

    def unserve(self, plural: str) -> None:
        """Stop serving a resource type, as when its CRD is not installed (plain-text 404)."""
        with self._lock:
            self._unserved.add(_rtype(plural).plural)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._latencies.clear()
            self._forbid.clear()
            self._writers.clear()

    # ------------------------------------------------------------------ log
    def writes(self) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.method in ("PUT", "PATCH", "POST", "DELETE")]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # ------------------------------------------------------------------ internals
    def _require(self, plural: str, namespace: str, name: str) -> _Stored:
        stored = self._objects.get((plural, namespace, name))
        if stored is None:
            rtype = _rtype(plural)
            raise ApiError(
                404,
                "NotFound",
                f'{rtype.plural}.{rtype.group} "{name}" not found',
                {"name": name, "group": rtype.group, "kind": rtype.plural},
            )
        return stored

    def _new_metadata(self, namespace: str, name: str, *, generation: bool = True) -> dict:
        self._rv += 1
        meta = {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": str(self._rv),
            "generation": 1,
            "creationTimestamp": CREATION_TIMESTAMP,
        }
        if not generation:  # Leases carry no generation on a real server
            del meta["generation"]
        return meta

    def _bump(self, stored: _Stored, *, spec_changed: bool) -> None:
        self._rv += 1
        meta = stored.obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        if spec_changed and stored.rtype.plural != LEASES:
            meta["generation"] = int(meta.get("generation", 1)) + 1

    def _apply_replicas(self, stored: _Stored, replicas: int, *, scale: bool = False) -> None:
        name = stored.obj["metadata"]["name"]
        rtype = stored.rtype
        if replicas < 0:
            raise _negative_replicas(rtype, name, replicas, scale=scale)
        min_avail = stored.obj["spec"].get("minAvailable")
        if rtype.plural == PCLQ and min_avail is not None and 0 < replicas < int(min_avail):
            raise ApiError(
                422,
                "Invalid",
                f'PodClique.grove.io "{name}" is invalid: spec: Invalid value: "object": '
                "spec.replicas must be 0 (idle) or greater than or equal to spec.minAvailable",
            )
        stored.obj["spec"]["replicas"] = replicas
        current = len(stored.ready_at)
        if replicas > current:
            ready_time = self.clock.now() + stored.ready_delay_s
            stored.ready_at.extend([ready_time] * (replicas - current))
        else:
            del stored.ready_at[replicas:]  # scale-down removes the newest replicas at once
        meta = stored.obj["metadata"]
        self.pods.sync(rtype.plural, meta["namespace"], name)  # with pods: as its controller

    def _ready_count(self, stored: _Stored) -> int:
        now = self.clock.now()
        return sum(1 for t in stored.ready_at if t <= now)

    def _selector(self, stored: _Stored) -> str:
        if stored.rtype.plural == DEPLOYMENTS:
            labels = stored.obj["spec"].get("selector", {}).get("matchLabels", {})
            return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        name = stored.obj["metadata"]["name"]
        if stored.rtype.plural == LWS:
            return f"leaderworkerset.sigs.k8s.io/name={name},leaderworkerset.sigs.k8s.io/worker-index=0"
        return f"app.kubernetes.io/part-of={name}"

    def _status_for(self, stored: _Stored) -> dict:
        """Status as each real controller publishes it (field names from their Go types)."""
        plural = stored.rtype.plural
        spec_n = int(stored.obj["spec"].get("replicas", 0))
        ready = self._ready_count(stored)
        generation = int(stored.obj["metadata"].get("generation", 1))
        if plural == PCSG:  # grove operator/api/core/v1alpha1/scalinggroup.go
            status: dict[str, Any] = {
                "replicas": spec_n,
                "scheduledReplicas": spec_n,
                "availableReplicas": ready,
                "updatedReplicas": spec_n,
                "selector": self._selector(stored),
                "observedGeneration": generation,
            }
            if spec_n == 0:
                del status["replicas"]  # omitempty
            return status
        if plural == PCLQ:  # grove operator/api/core/v1alpha1/podclique.go
            status = {
                "observedGeneration": generation,
                "replicas": spec_n,
                "readyReplicas": ready,
                "updatedReplicas": spec_n,
                "scheduleGatedReplicas": 0,
                "scheduledReplicas": spec_n,
                "hpaPodSelector": self._selector(stored),
            }
            if spec_n == 0:
                del status["replicas"]
            return status
        if plural == LWS:  # lws api/leaderworkerset/v1/leaderworkerset_types.go (all omitempty)
            status = {
                "readyReplicas": ready,
                "updatedReplicas": spec_n,
                "replicas": spec_n,
                "hpaPodSelector": self._selector(stored),
            }
            return {k: v for k, v in status.items() if v not in (0, "")}
        if plural == DEPLOYMENTS:  # apps/v1 DeploymentStatus (omitempty counters)
            status = {
                "observedGeneration": generation,
                "replicas": spec_n,
                "updatedReplicas": spec_n,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "unavailableReplicas": spec_n - ready,
            }
            return {k: v for k, v in status.items() if v != 0}
        return {}

    def _publish_status(self, stored: _Stored) -> None:
        """A replica turned ready since the last look: the controller wrote status, which moves
        the resourceVersion on a real server (a PUT carrying the older one gets 409)."""
        if stored.rtype.scalable:
            ready = self._ready_count(stored)
            if ready != stored.published_ready:
                stored.published_ready = ready
                self._bump(stored, spec_changed=False)

    def _render(self, stored: _Stored) -> dict:
        self._publish_status(stored)
        obj = copy.deepcopy(stored.obj)
        if stored.rtype.scalable:
            obj["status"] = self._status_for(stored)
        return obj

    def _render_scale(self, stored: _Stored) -> dict:
        self._publish_status(stored)
        meta = stored.obj["metadata"]
        status = self._status_for(stored)
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            },
            "spec": {"replicas": int(stored.obj["spec"].get("replicas", 0))},
            "status": {
                "replicas": int(status.get("replicas", 0)),
                "selector": self._selector(stored),
            },
        }

    def _check_forbidden(
        self, method: str, rtype: ResourceType, ns: str, name: str | None, sub: str | None
    ) -> None:
        verb = _VERBS.get(method, method.lower())
        if method == "GET" and name is None:
            verb = "list"
        resource = f"{rtype.plural}/{sub}" if sub else rtype.plural
        for rule in self._forbid:
            if rule.resource != resource:
                continue
            if rule.verbs is not None and verb not in rule.verbs:
                continue
            if rule.namespace is not None and rule.namespace != ns:
                continue
            target = (
                f'{rtype.plural}.{rtype.group} "{name}"'
                if name
                else f"{rtype.plural}.{rtype.group}"
            )
            raise ApiError(
                403,
                "Forbidden",
                f'{target} is forbidden: User "system:serviceaccount:{ns}:sla-planner" cannot '
                f'{verb} resource "{resource}" in API group "{rtype.group}" in the namespace "{ns}"',
                {"name": name or "", "group": rtype.group, "kind": rtype.plural},
            )

    def _concurrent_writer_hits(self, stored: _Stored) -> None:
        meta = stored.obj["metadata"]
        for w in self._writers:
            if w.remaining <= 0:
                continue
            if w.plural is not None and w.plural != stored.rtype.plural:
                continue
            if w.name is not None and w.name != meta["name"]:
                continue
            w.remaining -= 1
            self._bump(stored, spec_changed=False)  # e.g. a label or annotation change
            return

    def _check_precondition(self, stored: _Stored, body_meta: Any) -> None:
        if not isinstance(body_meta, dict):
            return
        wanted = body_meta.get("resourceVersion")
        if wanted and not str(wanted).isdigit():  # etcd's revision is parsed first
            raise ApiError(500, "", f'strconv.ParseUint: parsing "{wanted}": invalid syntax')
        if wanted and wanted != stored.obj["metadata"]["resourceVersion"]:
            rtype = stored.rtype
            name = stored.obj["metadata"]["name"]
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rtype.plural}.{rtype.group} "{name}": the '
                "object has been modified; please apply your changes to the latest version and try again",
                {"name": name, "group": rtype.group, "kind": rtype.plural},
            )

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.matches(method, path):
                fault.remaining -= 1
                return fault
        return None

    def _latency_for(self, method: str, path: str) -> float:
        return sum(
            lat.seconds
            for lat in self._latencies
            if (lat.method is None or lat.method == method)
            and (lat.path_contains is None or lat.path_contains in path)
        )

    def handle(
        self,
        method: str,
        path: str,
        content_type: str | None,
        body: Any,
        query: dict[str, list[str]] | None = None,
    ) -> tuple[int, dict]:
        """Route one request; returns (status, JSON body). Runs under the state lock."""
        if self.pods.handles(path):
            return self.pods.handle(method, path, query or {}, body)
        m = _PATH_RE.match(path)
        rtype = RESOURCE_TYPES.get(m["plural"]) if m else None
        if (
            m is None
            or rtype is None
            or (m["group"], m["version"]) != (rtype.group, rtype.version)
            or rtype.plural in self._unserved
        ):
            raise NotServed()  # a type the server does not serve (CRD not installed)
        ns, name, sub = m["ns"], m["name"], m["sub"]
        if sub is not None and (sub != "scale" or not rtype.scalable):
            # a served type without that subresource: a Status, as the real server answers
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        self._check_forbidden(method, rtype, ns, name, sub)
        key = (rtype.plural, ns, name or "")

        if name is None:
            if method == "GET":
                items = [
                    self._render(s)
                    for (p, n, _), s in sorted(self._objects.items())
                    if p == rtype.plural and n == ns
                ]
                return 200, {
                    "apiVersion": rtype.api_version,
                    "kind": f"{rtype.kind}List",
                    "metadata": {"resourceVersion": str(self._rv)},
                    "items": items,
                }
            if method == "POST":
                return self._create(rtype, ns, body)
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on a collection")

        if method == "GET":
            stored = self._require(rtype.plural, ns, name)
            return 200, (self._render_scale(stored) if sub else self._render(stored))
        if method == "DELETE":
            stored = self._require(rtype.plural, ns, name)
            del self._objects[key]
            return 200, status_body(200, "", "deleted") | {"status": "Success"}
        if method not in ("PUT", "PATCH"):
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

        stored = self._require(rtype.plural, ns, name)
        self._concurrent_writer_hits(stored)
        self._publish_status(stored)
        current = self._render_scale(stored) if sub else self._render(stored)
        if method == "PUT":
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "PUT body must be a JSON object")
            new = body
        else:
            new = self._patched(rtype, current, content_type, body)
        body_name = (new.get("metadata") or {}).get("name")
        if body_name and body_name != name:  # checked before the resourceVersion, as for real
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({body_name}) does not match the name on the URL ({name})",
            )
        self._check_precondition(stored, (new or {}).get("metadata"))

        if sub == "scale":
            # an absent spec.replicas means 0, as on a real server
            replicas = (new.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool):
                raise ApiError(400, "BadRequest", "spec.replicas must be an integer")
            changed = replicas != stored.obj["spec"].get("replicas")
            self._apply_replicas(stored, replicas, scale=True)
            if changed:  # a write that changes nothing keeps the resourceVersion
                self._bump(stored, spec_changed=True)
            return 200, self._render_scale(stored)

        # whole-object update: spec and metadata labels/annotations; status is a subresource
        new_spec = new.get("spec")
        if not isinstance(new_spec, dict):
            raise ApiError(422, "Invalid", f"{rtype.kind} {name}: spec is required")
        changed = new_spec != stored.obj["spec"]
        if rtype.scalable and "replicas" in new_spec:
            self._apply_replicas(stored, int(new_spec["replicas"]))
        stored.obj["spec"] = copy.deepcopy(new_spec)
        meta_changed = False
        for k in ("labels", "annotations"):
            if k in (new.get("metadata") or {}):
                meta_changed |= new["metadata"][k] != stored.obj["metadata"].get(k)
                stored.obj["metadata"][k] = copy.deepcopy(new["metadata"][k])
        if changed or meta_changed:  # a write that changes nothing keeps the resourceVersion
            self._bump(stored, spec_changed=changed)
        return 200, self._render(stored)

    def _patched(
        self, rtype: ResourceType, current: dict, content_type: str | None, body: Any
    ) -> dict:
        ctype = (content_type or "").split(";")[0].strip()
        if ctype == "application/json-patch+json":
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "json patch body must be a list of operations")
            return _json_patch(current, body)
        if ctype == "application/merge-patch+json" or (
            ctype == "application/strategic-merge-patch+json" and rtype.builtin
        ):
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "merge patch body must be a JSON object")
            return _merge_patch(current, body)
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format ({ctype or 'none'}) - accepted media "
            "types include: application/json-patch+json, application/merge-patch+json"
            + (", application/strategic-merge-patch+json" if rtype.builtin else ""),
        )

    def _create(self, rtype: ResourceType, ns: str, body: Any) -> tuple[int, dict]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "POST body must be a JSON object")
        meta = body.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{rtype.kind}: metadata.name is required")
        if meta.get("namespace") not in (None, ns):
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the URL")
        if (rtype.plural, ns, name) in self._objects:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{rtype.plural}.{rtype.group} "{name}" already exists',
                {"name": name, "group": rtype.group, "kind": rtype.plural},
            )
        self.add_object(rtype.plural, ns, name, body.get("spec") or {})
        stored = self._objects[(rtype.plural, ns, name)]
        for k in ("labels", "annotations"):
            if k in meta:
                stored.obj["metadata"][k] = copy.deepcopy(meta[k])
        return 201, self._render(stored)


def _stripped(reply: dict, keys: Iterable[str]) -> dict:
    out = copy.deepcopy(reply)
    for key in keys:
        *parents, last = key.split(".")
        node: Any = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def _rtype(plural: str) -> ResourceType:
    try:
        return RESOURCE_TYPES[plural]
    except KeyError:
        raise ValueError(f"unknown resource {plural!r}; known: {sorted(RESOURCE_TYPES)}") from None


def _make_handler(kube: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: simple, no stale keep-alives

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            method, path = self.command, parts.path
            ctype = self.headers.get("Content-Type")
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            auth = self.headers.get("Authorization") or ""
            user = auth.split(" ", 1)[1] if auth.startswith("Bearer ") else None
            record = RequestRecord(method, path, parse_qs(parts.query), ctype, body, user=user)
            with kube._lock:
                kube.requests.append(record)
                delay = kube._latency_for(method, path)
            if delay > 0 and kube._stopping.wait(delay):
                self.close_connection = True
                return  # server stopping: drop
            with kube._lock:
                record.at = kube.clock.now()
                if method != "GET":
                    record.leases = kube.lease_specs()
                fault = kube._take_fault(method, path)
                if fault is not None and fault.mode == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault is not None and fault.mode == "status":
                    code = int(fault.status or 500)
                    reason = _REASONS.get(code, "InternalError")
                    reply = status_body(code, reason, f"injected failure: {reason} ({code})")
                elif isinstance(body, str):
                    code, reply = 400, status_body(400, "BadRequest", "request body is not JSON")
                else:
                    try:
                        code, reply = kube.handle(method, path, ctype, body, record.query)
                    except NotServed as err:
                        code, reply = err.code, err.message + "\n"
                    except ApiError as err:
                        code, reply = (
                            err.code,
                            status_body(err.code, err.reason, err.message, err.details),
                        )
                record.status = code
            if fault is not None and fault.mode == "strip" and not isinstance(reply, str):
                reply = _stripped(reply, fault.strip)
            plain = isinstance(reply, str)
            data = reply.encode() if plain else json.dumps(reply).encode()
            self.send_response(code)
            self.send_header(
                "Content-Type", "text/plain; charset=utf-8" if plain else "application/json"
            )
            self.send_header("Content-Length", str(len(data)))
            for k, v in (fault.headers if fault is not None else {}).items():
                self.send_header(k, v)
            self.end_headers()
            if fault is not None and fault.mode == "dribble":
                self._dribble(data, fault.byte_s)
                return
            self.wfile.write(data)

        def _dribble(self, data: bytes, byte_s: float) -> None:
            for i in range(len(data)):
                try:
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                except OSError:
                    return  # the client gave up
                if kube._stopping.wait(byte_s):
                    return

        do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _serve

    return Handler
