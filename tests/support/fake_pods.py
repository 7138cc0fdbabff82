"""Pods for the fake Kubernetes API (tests/support/fake_kube.py), kept as each target's
controller keeps them, for the drain tests. Opt-in per object (`kube.pods.enable(...)`).

Served: ``/api/v1/namespaces/{ns}/pods`` LIST (labelSelector: =, ==, !=, in, notin, exists,
!exists), GET, PATCH (merge or strategic merge: labels and annotations), DELETE.

What each controller does when `replicas` changes (the rules the planner relies on, from their
sources; see actuators/replica_pods.py):

* Deployment (ReplicaSet): one pod per replica, labels of the template plus
  ``pod-template-hash``; on a scale-down the pods go in ActivePodsWithRanks order: unassigned,
  Pending, not ready first, then the lower ``controller.kubernetes.io/pod-deletion-cost``,
  then the newest;
* Grove PodClique: one pod per replica; DeletionSorter: unassigned, Pending, not ready, an
  old template hash first, then the newest; the cost is not read; a deleted pod is replaced
  while the pods are fewer than ``spec.replicas``;
* LeaderWorkerSet: per group index i a leader ``<name>-<i>`` and ``size - 1`` workers,
  labelled ``leaderworkerset.sigs.k8s.io/group-index``; a scale-down removes indices >= n;
* Grove PodCliqueScalingGroup: per replica index one pod per clique, labelled
  ``grove.io/podcliquescalinggroup-replica-index``; a scale-down removes indices >= n.

Pods turn Ready the object's ready delay after they are created (on the fake clock);
`set_ready` forces one. Each pod's readiness also drives the object's ready count.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

DEPLOY, PCLQ, LWS, PCSG = "deployments", "podcliques", "leaderworkersets", "podcliquescalinggroups"
COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE = {"Pending": 0, "Unknown": 1, "Running": 2}
_POD_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods(?:/(?P<name>[^/]+))?/?$")


@dataclass
class FakePod:
    obj: dict[str, Any]
    owner: tuple[str, str, str]  # (plural, namespace, name) of the scaled object
    index: int | None  # group index (LWS, PCSG)
    seq: int  # creation order
    ready_at: float  # fake-clock time it turns Ready (inf: never)
    node: str = "kwok-node-0"
    phase: str = "Running"
    forced_ready: bool | None = None

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]


@dataclass
class _Owned:
    template_hash: str = "h1"
    pods: list[str] = field(default_factory=list)


class FakePods:
    def __init__(self, kube: Any) -> None:
        self.kube = kube
        self.pods: dict[tuple[str, str], FakePod] = {}
        self.owned: dict[tuple[str, str, str], _Owned] = {}
        self._seq = 0
        self._initial: list[float] = []  # ready times of the replicas enable() finds

    # -- test API ----------------------------------------------------------------------------
    def enable(self, plural: str, namespace: str, name: str) -> list[str]:
        """Keep pods for this object from now on; returns their names."""
        with self.kube._lock:
            stored = self.kube._objects[(plural, namespace, name)]
            # the replicas it has keep their readiness (ready now, or from when they will be)
            self._initial = list(stored.ready_at)
            self.owned[(plural, namespace, name)] = _Owned()
            self.sync(plural, namespace, name)
            self._initial = []
            return self.names(plural, namespace, name)

    def names(self, plural: str, namespace: str, name: str) -> list[str]:
        with self.kube._lock:
            return list(self.owned[(plural, namespace, name)].pods)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        with self.kube._lock:
            return self._render(self.pods[(namespace, name)])

    def set_ready(self, namespace: str, name: str, ready: bool | None) -> None:
        with self.kube._lock:
            pod = self.pods[(namespace, name)]
            pod.forced_ready = ready
            self.sync(*pod.owner)

    def set_template_hash(self, plural: str, namespace: str, name: str, h: str) -> None:
        """A rollout: pods created from now on carry the new hash."""
        with self.kube._lock:
            self.owned[(plural, namespace, name)].template_hash = h

    # -- the controllers ---------------------------------------------------------------------
    def sync(self, plural: str, namespace: str, name: str) -> None:
        """Create or remove pods so the object's replicas match spec.replicas (lock held)."""
        key = (plural, namespace, name)
        if key not in self.owned or (plural, namespace, name) not in self.kube._objects:
            return
        stored = self.kube._objects[key]
        want = int(stored.obj["spec"].get("replicas", 0))
        if plural in (LWS, PCSG):
            self._sync_groups(key, stored, want)
        else:
            self._sync_pods(key, stored, want)
        self._publish_ready(key, stored)

    def _sync_pods(self, key: tuple[str, str, str], stored: Any, want: int) -> None:
        live = self._live(key)
        for pod in self._removal_order(key, live)[: max(len(live) - want, 0)]:
            self._remove(pod)
        for _ in range(want - len(live)):
            self._create(key, stored, None, "")

    def _sync_groups(self, key: tuple[str, str, str], stored: Any, want: int) -> None:
        for pod in self._live(key):
            if pod.index is not None and pod.index >= want:
                self._remove(pod)
        have = {p.index for p in self._live(key)}
        for i in range(want):
            if i in have:
                continue
            if key[0] == LWS:
                size = int(stored.obj["spec"].get("leaderWorkerTemplate", {}).get("size", 1))
                for w in range(size):
                    self._create(key, stored, i, "" if w == 0 else f"-{w}")
            else:
                for clique in stored.obj["spec"].get("cliqueNames", ["worker"]):
                    self._create(key, stored, i, f"-{clique}")

    def _removal_order(self, key: tuple[str, str, str], live: list[FakePod]) -> list[FakePod]:
        h = self.owned[key].template_hash

        def cls(p: FakePod) -> tuple[int, int, int]:
            return (1 if p.node else 0, _PHASE.get(p.phase, 2), 1 if self._ready(p) else 0)

        if key[0] == DEPLOY:  # ActivePodsWithRanks (cost read), then the newest
            return sorted(live, key=lambda p: (*cls(p), _cost(p), -p.seq))
        # Grove's DeletionSorter: no cost; an old template hash first, then the newest
        return sorted(live, key=lambda p: (*cls(p), p.obj["metadata"]["labels"].get(
            "grove.io/pod-template-hash") == h, -p.seq))  # fmt: skip

    def _create(self, key: tuple[str, str, str], stored: Any, index: int | None, suffix: str) -> None:  # fmt: skip
        plural, ns, name = key
        self._seq += 1
        h = self.owned[key].template_hash
        if plural == DEPLOY:
            labels = dict(stored.obj["spec"]["template"]["metadata"]["labels"])
            labels["pod-template-hash"] = h
            pod_name = f"{name}-{h}-{self._seq:05d}"
        elif plural == PCLQ:
            labels = {"grove.io/podclique": name, "grove.io/pod-template-hash": h}
            pod_name = f"{name}-{self._seq:05d}"
        elif plural == LWS:
            labels = {"leaderworkerset.sigs.k8s.io/name": name,
                      "leaderworkerset.sigs.k8s.io/group-index": str(index),
                      "leaderworkerset.sigs.k8s.io/worker-index": suffix.lstrip("-") or "0"}  # fmt: skip
            pod_name = f"{name}-{index}{suffix}"
        else:
            labels = {"grove.io/podcliquescalinggroup": name,
                      "grove.io/podcliquescalinggroup-replica-index": str(index),
                      "grove.io/podclique": f"{name}-{index}{suffix}"}  # fmt: skip
            pod_name = f"{name}-{index}{suffix}-{self._seq:05d}"
        now = self.kube.clock.now()
        meta = self.kube._new_metadata(ns, pod_name, generation=False)
        meta.update(labels=labels, annotations={})
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
               "spec": {"containers": [{"name": "engine", "image": "engine:1"}]}}  # fmt: skip
        ready_at = now + stored.ready_delay_s
        if self._initial and index is None:
            ready_at = self._initial.pop(0)
        elif index is not None and index < len(self._initial):
            ready_at = self._initial[index]
        pod = FakePod(obj, key, index, self._seq, ready_at)
        self.pods[(ns, pod_name)] = pod
        self.owned[key].pods.append(pod_name)

    def _remove(self, pod: FakePod) -> None:
        ns = pod.obj["metadata"]["namespace"]
        self.pods.pop((ns, pod.name), None)
        owned = self.owned.get(pod.owner)
        if owned is not None and pod.name in owned.pods:
            owned.pods.remove(pod.name)

    def _live(self, key: tuple[str, str, str]) -> list[FakePod]:
        return [self.pods[(key[1], n)] for n in self.owned[key].pods]

    def _ready(self, p: FakePod) -> bool:
        if p.forced_ready is not None:
            return p.forced_ready
        return p.phase == "Running" and self.kube.clock.now() >= p.ready_at

    def _publish_ready(self, key: tuple[str, str, str], stored: Any) -> None:
        """The object's ready count follows its pods (a group: when all its pods are)."""
        replicas: dict[Any, float] = {}
        for p in self._live(key):
            k = p.index if p.index is not None else p.name
            t = -1.0 if self._ready(p) else (p.ready_at if p.forced_ready is None else float("inf"))  # fmt: skip
            replicas[k] = max(replicas.get(k, -1.0), t)
        stored.ready_at = sorted(replicas.values())

    # -- HTTP ----------------------------------------------------------------------------
    def handles(self, path: str) -> bool:
        return _POD_PATH.match(path) is not None

    def handle(self, method: str, path: str, query: dict, body: Any) -> tuple[int, dict]:
        from support.fake_kube import ApiError

        m = _POD_PATH.match(path)
        assert m is not None
        ns, name = m["ns"], m["name"]
        self._check_forbidden(method, ns, name)
        for key in list(self.owned):
            self.sync(*key)  # readiness moves with the clock
        if name is None:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")
            sel = (query.get("labelSelector") or [""])[0]
            items = [self._render(p) for (n, _), p in sorted(self.pods.items())
                     if n == ns and _matches(p.obj["metadata"]["labels"], sel)]  # fmt: skip
            return 200, {"apiVersion": "v1", "kind": "PodList",
                         "metadata": {"resourceVersion": str(self.kube._rv)}, "items": items}  # fmt: skip
        pod = self.pods.get((ns, name))
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found',
                           {"name": name, "kind": "pods"})  # fmt: skip
        if method == "GET":
            return 200, self._render(pod)
        if method == "DELETE":
            self._remove(pod)
            self.sync(*pod.owner)  # its controller replaces it while below spec.replicas
            return 200, self._render(pod)
        if method == "PATCH":
            return 200, self._patch(pod, body)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    def _patch(self, pod: FakePod, body: Any) -> dict:
        from support.fake_kube import ApiError, _merge_patch

        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "merge patch body must be a JSON object")
        meta = pod.obj["metadata"]
        new = _merge_patch({k: meta.get(k) or {} for k in ("labels", "annotations")},
                           body.get("metadata") or {})  # fmt: skip
        if (new.get("labels"), new.get("annotations")) != (meta["labels"], meta["annotations"]):
            meta["labels"], meta["annotations"] = new.get("labels") or {}, new.get("annotations") or {}  # fmt: skip
            self.kube._rv += 1
            meta["resourceVersion"] = str(self.kube._rv)
        return self._render(pod)

    def _check_forbidden(self, method: str, ns: str, name: str | None) -> None:
        from support.fake_kube import ApiError

        verb = {"GET": "get" if name else "list", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())  # fmt: skip
        for rule in self.kube._forbid:
            if rule.resource == "pods" and (rule.verbs is None or verb in rule.verbs):
                if rule.namespace is None or rule.namespace == ns:
                    raise ApiError(403, "Forbidden", f'pods is forbidden: User "system:serviceaccount:{ns}:sla-planner" cannot {verb} resource "pods" in API group "" in the namespace "{ns}"',
                                   {"name": name or "", "group": "", "kind": "pods"})  # fmt: skip

    def _render(self, p: FakePod) -> dict:
        out = copy.deepcopy(p.obj)
        out["spec"]["nodeName"] = p.node
        ready = self._ready(p)
        out["status"] = {"phase": p.phase, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]}  # fmt: skip
        out["metadata"].setdefault("uid", str(uuid.uuid4()))
        return out


def _cost(p: FakePod) -> int:
    try:
        return int(p.obj["metadata"]["annotations"].get(COST, "0"))
    except ValueError:
        return 0


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", selector):
        t = term.strip()
        if not t:
            continue
        m = re.match(r"^(\S+)\s+(in|notin)\s+\((.*)\)$", t)
        if m:
            values = {v.strip() for v in m[3].split(",")}
            if (labels.get(m[1]) in values) != (m[2] == "in"):
                return False
        elif "!=" in t:
            k, v = t.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in t:
            k, v = re.split(r"==?", t, maxsplit=1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif t.startswith("!"):
            if t[1:] in labels:
                return False
        elif t not in labels:
            return False
    return True
