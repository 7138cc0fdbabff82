"""Turn Kubernetes client failures into one clear ActuatorError: target, problem, fix."""

from __future__ import annotations

import json
from dataclasses import dataclass

import urllib3
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from sla_planner.actuators.base import ActuatorError


class KubeActuatorError(ActuatorError):
    """ActuatorError with a short machine-readable `reason` (for error metrics and logs):
    not_found | forbidden | conflict | unavailable | invalid | unauthorized | bad_response."""

    def __init__(self, message: str, *, reason: str, retryable: bool, status: int | None = None):
        super().__init__(message, retryable=retryable)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Operation:
    """What was being attempted, to name the RBAC rule a 403 needs."""

    verb: str  # RBAC verb: get | update | patch
    resource: str  # RBAC resource, e.g. "podcliquescalinggroups/scale"
    api_group: str  # "" for core
    namespace: str


def _server_message(exc: ApiException) -> str:
    """The API server's Status.message when the body is a Status, else the HTTP reason."""
    body = exc.body
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return body[:300]
        if isinstance(parsed, dict) and parsed.get("message"):
            return str(parsed["message"])
    return str(exc.reason or "")


def _is_status_body(exc: ApiException) -> bool:
    """Whether the reply is a v1 Status (an object-level answer); a route the API server does
    not have at all (a resource type it does not serve) answers a plain-text 404 instead."""
    body = exc.body
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if isinstance(body, str) and body else None
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("kind") == "Status"


def translate(
    exc: BaseException,
    target: str,
    op: Operation,
    *,
    timeout_s: float | None = None,
    not_found_hint: str = "",
) -> KubeActuatorError:
    """Map a client exception to a KubeActuatorError. `target` is the actuator description."""
    if isinstance(exc, ApiException) and exc.status == 404 and not _is_status_body(exc):
        return _not_served(_server_message(exc), target, op)
    if isinstance(exc, ApiException) and exc.status:
        return _from_status(int(exc.status), _server_message(exc), target, op, not_found_hint)
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)) or (
        isinstance(exc, ApiException) and not exc.status
    ):
        cause = _root_cause(exc)
        if _is_timeout(exc):
            kind = f"timed out after {timeout_s:g}s" if timeout_s else "timed out"
        else:
            kind = "unreachable"
        return KubeActuatorError(
            f"{target}: Kubernetes API {kind} ({type(cause).__name__}); holding and retrying "
            "next interval. Fix if it persists: check that the API server is reachable from "
            "the planner and raise request_timeout_s if it is merely slow.",
            reason="unavailable",
            retryable=True,
        )
    if isinstance(exc, (ValidationError, ValueError, TypeError, KeyError)):
        return KubeActuatorError(
            f"{target}: malformed API response ({type(exc).__name__}: {_short(exc)}).",
            reason="bad_response",
            retryable=True,
        )
    raise exc


def _not_served(detail: str, target: str, op: Operation) -> KubeActuatorError:
    plural = op.resource.split("/")[0]
    return KubeActuatorError(
        f'{target}: the API server does not serve "{plural}" in API group "{op.api_group}" '
        f"(404: {detail.strip()}): its CustomResourceDefinition is not installed; holding at "
        "current replicas. Fix: install the operator that provides it (its CRDs: Grove for "
        "grove.io, LeaderWorkerSet for leaderworkerset.x-k8s.io), or correct targets.<pool>.kind.",
        reason="not_found",
        retryable=True,  # the operator may be installed later
        status=404,
    )


# Long on purpose: one branch per HTTP status, each with its own message and fix.
def _from_status(
    status: int, detail: str, target: str, op: Operation, not_found_hint: str
) -> KubeActuatorError:
    """The error for an HTTP status from the API server: what happened and the fix."""
    where = f'resource "{op.resource}" (apiGroup "{op.api_group}") in namespace "{op.namespace}"'
    plural = op.resource.split("/")[0]
    needs = f'the planner needs get on "{plural}" and get, update on "{plural}/scale"'
    if plural == "pods":  # a drain-aware scale-down reads and marks the target's pods
        needs = 'a drain needs list, patch on "pods" (and delete, for a PodClique)'
    if status == 404:
        return KubeActuatorError(
            f"{target}: target missing (404 NotFound: {detail}); holding at current replicas. "
            "Fix: create the object or correct the target name/namespace in the config"
            f"{f' ({not_found_hint})' if not_found_hint else ''}.",
            reason="not_found",
            retryable=True,  # Grove creates children after their PodCliqueSet: may appear
            status=status,
        )
    if status == 403:
        return KubeActuatorError(
            f"{target}: forbidden (403: {detail}). Fix: grant verb "
            f'"{op.verb}" on {where} to the planner\'s ServiceAccount (Role + RoleBinding); '
            f"{needs}.",
            reason="forbidden",
            retryable=False,
            status=status,
        )
    if status == 401:
        return KubeActuatorError(
            f"{target}: unauthorized (401: {detail}). Fix: check the ServiceAccount token "
            "or kubeconfig credentials.",
            reason="unauthorized",
            retryable=False,
            status=status,
        )
    if status == 409:
        return KubeActuatorError(
            f"{target}: conflict (409: {detail}); another writer changed the object. "
            "Will re-read and retry; if it persists, check that no HPA/KEDA or other "
            "controller also owns these replicas.",
            reason="conflict",
            retryable=True,
            status=status,
        )
    if status in (400, 415, 422):
        return KubeActuatorError(
            f"{target}: rejected by the API server ({status}: {detail}). Fix: check the "
            "replica bounds in the config against the object's constraints "
            "(e.g. a PodClique's minAvailable).",
            reason="invalid",
            retryable=False,
            status=status,
        )
    if status == 429 or status >= 500:
        return KubeActuatorError(
            f"{target}: Kubernetes API unavailable ({status}: {detail}); holding and "
            "retrying next interval.",
            reason="unavailable",
            retryable=True,
            status=status,
        )
    return KubeActuatorError(
        f"{target}: unexpected API response {status}: {detail}",
        reason="bad_response",
        retryable=True,
        status=status,
    )


def _is_timeout(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        # urllib3's NewConnectionError subclasses ConnectTimeoutError: refused is not a timeout
        if isinstance(cur, (urllib3.exceptions.NewConnectionError, ConnectionError)):
            return False
        if isinstance(cur, (TimeoutError, urllib3.exceptions.TimeoutError)):
            return True
        cur = getattr(cur, "reason", None) or cur.__cause__ or cur.__context__
        if not isinstance(cur, BaseException):
            return False
    return False


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost error (urllib3 wraps the real one in MaxRetryError.reason)."""
    seen: set[int] = set()
    cur = exc
    while id(cur) not in seen:
        seen.add(id(cur))
        nxt = getattr(cur, "reason", None)
        if not isinstance(nxt, BaseException):
            break
        cur = nxt
    return cur


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."
