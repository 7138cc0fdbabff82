"""The pods behind one scaled target, grouped into the replicas the target counts, and the marks
a drain-aware scale-down puts on them. Each kind says how it groups its pods and which replicas
its controller removes when `replicas` is lowered (its module subclasses `ReplicaPods`):

- Deployment: one pod per replica. The ReplicaSet controller removes pods in the order of
  ActivePodsWithRanks: unassigned < assigned, Pending < Unknown < Running, not ready < ready,
  then the lower `controller.kubernetes.io/pod-deletion-cost` first. The planner chooses the
  pods and gives them the lowest cost (`RemovalOrder.DELETION_COST`).
- Grove PodClique: one pod per replica. Grove's DeletionSorter ignores the deletion cost (ready
  pods of one template go newest first), but it counts only pods not yet terminating against
  `spec.replicas`: the planner deletes the drained pods itself, then lowers `replicas` by as
  many (`RemovalOrder.DELETE_CHOSEN`).
- LeaderWorkerSet, Grove PodCliqueScalingGroup: one group of pods per replica, by index. Both
  remove the highest indices (the leader StatefulSet's ordinals >= replicas; Grove's
  computePCSGReplicasToDelete): fixed, so the planner waits for those (`HIGHEST_INDEX`).

Marks (merge patches, each fenced by the WriteGuard): the annotation `sla-planner.io/drain-since`
(when the drain began; read back by a restarted planner or a new leader, which resumes or
clears it), the optional serving label set to "false" (a Service or InferencePool selecting
`<label>: "true"` drops the pod from its endpoints) and, on a Deployment, the deletion cost.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from kubernetes import client

from sla_planner.actuators.base import ActuatorError, WriteGuard
from sla_planner.actuators.errors import KubeActuatorError, Operation, translate

DRAIN_SINCE = "sla-planner.io/drain-since"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
COST_WAS = "sla-planner.io/deletion-cost-was"  # a cost someone else had set, put back on undo
LOWEST_COST = str(-(2**31))  # int32 minimum: removed before any pod of its readiness class
T = TypeVar("T")


class RemovalOrder(str, Enum):
    DELETION_COST = "deletion_cost"
    DELETE_CHOSEN = "delete_chosen"
    HIGHEST_INDEX = "highest_index"


_PHASE = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass(frozen=True)
class PodView:
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    node: str
    phase: str
    ready: bool
    terminating: bool

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> PodView:
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        conditions = status.get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        return cls(
            name=str(meta.get("name", "")),
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
            node=str((obj.get("spec") or {}).get("nodeName") or ""),
            phase=str(status.get("phase") or "Pending"),
            ready=ready,
            terminating=meta.get("deletionTimestamp") is not None,
        )

    @property
    def drain_since(self) -> float | None:
        try:
            t = float(self.annotations[DRAIN_SINCE])
        except (KeyError, ValueError):
            return None
        return t if math.isfinite(t) else None

    @property
    def active(self) -> bool:
        """Counted by its controller: not terminating, not finished."""
        return not self.terminating and self.phase not in ("Succeeded", "Failed")


def class_rank(pod: PodView) -> tuple[int, int, int]:
    """Criteria 1-3 of ActivePodsWithRanks (and of Grove's DeletionSorter): unassigned before
    assigned, Pending < Unknown < Running, not ready before ready. Lower is removed first."""
    return (1 if pod.node else 0, _PHASE.get(pod.phase, 2), 1 if pod.ready else 0)


@dataclass(frozen=True)
class ReplicaView:
    id: str  # the pod name, or the group's index
    index: int | None  # LWS group / PCSG replica index (None: one pod per replica)
    pods: tuple[PodView, ...]
    rank: tuple[int, ...]  # the target's own removal order, lower first (HIGHEST_INDEX: unused)

    @property
    def ready(self) -> bool:
        return any(p.ready for p in self.pods)

    @property
    def marked_at(self) -> float | None:
        """When its drain began (the earliest mark on its pods), None if unmarked."""
        times = [t for p in self.pods if (t := p.drain_since) is not None]
        return min(times) if times else None

    @property
    def fully_marked(self) -> bool:
        return all(p.drain_since is not None for p in self.pods)


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector (matchLabels, matchExpressions) in the API's query syntax."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), ",".join(e.get("values") or [])
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
             "Exists": f"{key}", "DoesNotExist": f"!{key}"}[op]
        )  # fmt: skip
    return ",".join(parts)


class ReplicaPods(ABC):
    """The replicas of one target, read from its pods, and the drain's marks on them."""

    order: RemovalOrder = RemovalOrder.HIGHEST_INDEX
    label: str = ""  # e.g. "Deployment"

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str,
        *,
        request_timeout_s: float = 10.0,
        serving_label: str | None = None,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.timeout_s = float(request_timeout_s)
        self.serving_label = serving_label
        self.api_client = api_client
        self._core = client.CoreV1Api(api_client)
        self.description = f"pods of {self.label} {namespace}/{name}"

    # -- what each kind provides ---------------------------------------------------------
    @abstractmethod
    def selector(self) -> str:
        """The label selector of the target's pods."""

    @abstractmethod
    def group(self, pods: list[PodView]) -> list[ReplicaView]:
        """The active pods as the replicas the target counts."""

    def blocked(self, pods: list[PodView]) -> str | None:
        """Why the replicas the target would remove cannot be told now (None: they can)."""
        return None

    def remove(self, replicas: Iterable[ReplicaView], guard: WriteGuard | None) -> None:
        """Right before `replicas` is lowered: what the kind needs done to the chosen ones
        (nothing, unless its controller cannot be told which to remove)."""
        return None

    # -- reads and writes ----------------------------------------------------------------
    def replicas(self) -> tuple[list[ReplicaView], str | None]:
        """(the target's replicas from its active pods, why the removal set is unknown)."""
        selector = self._call(self.selector, "get")
        resp = self._call(
            lambda: self._core.list_namespaced_pod(
                self.namespace,
                label_selector=selector,
                _request_timeout=self.timeout_s,
                _preload_content=False,
            ),
            "list",
        )
        try:
            items = json.loads(resp.data)["items"]
            pods = [PodView.of(o) for o in items]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KubeActuatorError(
                f"{self.description}: the pod list is not a PodList ({exc}); holding.",
                reason="bad_response",
                retryable=True,
            ) from None
        active = [p for p in pods if p.active]
        return self.group(active), self.blocked(active)

    def mark(self, replica: ReplicaView, since: float, guard: WriteGuard | None) -> None:
        for pod in replica.pods:
            ann: dict[str, str | None] = {DRAIN_SINCE: f"{since:.3f}"}
            if self.order is RemovalOrder.DELETION_COST:
                cost = pod.annotations.get(DELETION_COST)
                if cost is not None and cost != LOWEST_COST and COST_WAS not in pod.annotations:
                    ann[COST_WAS] = cost
                ann[DELETION_COST] = LOWEST_COST
            self._patch(pod, ann, "false", guard)

    def unmark(self, replica: ReplicaView, guard: WriteGuard | None) -> None:
        for pod in replica.pods:
            ann: dict[str, str | None] = {DRAIN_SINCE: None}
            if self.order is RemovalOrder.DELETION_COST:
                if pod.annotations.get(DELETION_COST) == LOWEST_COST:
                    ann[DELETION_COST] = pod.annotations.get(COST_WAS)  # None: removed
                ann[COST_WAS] = None
            self._patch(pod, ann, "true", guard)

    def _patch(
        self, pod: PodView, ann: dict[str, str | None], serving: str, guard: WriteGuard | None
    ) -> None:
        meta: dict[str, Any] = {"annotations": ann}
        if self.serving_label:
            meta["labels"] = {self.serving_label: serving}
        timeout_s = self._budget(guard)
        try:
            self._core.patch_namespaced_pod(
                pod.name,
                self.namespace,
                {"metadata": meta},
                _content_type="application/merge-patch+json",
                _request_timeout=timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 - translated below
            if _status(exc) == 404:
                return  # gone already: nothing left to mark
            raise self._translate(exc, "patch") from exc

    def delete(self, pod: PodView, guard: WriteGuard | None) -> None:
        timeout_s = self._budget(guard)
        try:
            self._core.delete_namespaced_pod(pod.name, self.namespace, _request_timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - translated below
            if _status(exc) != 404:
                raise self._translate(exc, "delete") from exc

    # -- helpers -------------------------------------------------------------------------
    def _budget(self, guard: WriteGuard | None) -> float:
        """The write's timeout: the request timeout bounded by the leadership left."""
        if guard is None:
            return self.timeout_s
        left = guard()
        if not (left > 0 and math.isfinite(min(left, self.timeout_s))):
            raise KubeActuatorError(
                f"{self.description}: no time left to write safely; nothing was changed.",
                reason="not_leader",
                retryable=True,
            )
        return min(left, self.timeout_s)

    def _call(self, fn: Callable[[], T], verb: str) -> T:
        try:
            return fn()
        except ActuatorError:
            raise
        except Exception as exc:  # noqa: BLE001 - translate() re-raises what it cannot map
            raise self._translate(exc, verb) from exc

    def _translate(self, exc: BaseException, verb: str) -> KubeActuatorError:
        op = Operation(verb, "pods", "", self.namespace)
        return translate(exc, self.description, op, timeout_s=self.timeout_s)


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status", None)


def by_pod(pods: list[PodView]) -> list[ReplicaView]:
    """One replica per pod (Deployment, PodClique), ranked by `class_rank`."""
    return [ReplicaView(p.name, None, (p,), class_rank(p)) for p in pods]


def by_index(pods: list[PodView], index_label: str) -> list[ReplicaView]:
    """One replica per value of `index_label` (LWS group, PCSG replica); pods without it are
    not the target's replicas."""
    groups: dict[int, list[PodView]] = {}
    for p in pods:
        try:
            groups.setdefault(int(p.labels[index_label]), []).append(p)
        except (KeyError, ValueError):
            continue
    return [ReplicaView(str(i), i, tuple(ps), (-i,)) for i, ps in sorted(groups.items())]
