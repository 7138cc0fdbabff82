"""Shared read/scale algorithm for every kind that exposes the Kubernetes scale subresource.

scale(n) = read the Scale, return if spec.replicas is already n, else PUT the Scale carrying the
resourceVersion just read (optimistic concurrency); a read without one is refused, never
written unconditionally. A 409 means another writer got in between: re-read and retry, a
bounded number of times, after a jittered exponential wait (actuators.backoff). A 429/503's
Retry-After is honoured: nothing is sent to the target before it (at most 60 s). This is the
one retry layer for conflicts (the controller does not retry around it). The PUT is the only write and is atomic on the server, so
a failure never leaves a partial change behind.

Fencing: the optional `guard` is called after each read and right before each PUT (the read
may have blocked for longer than the caller's leadership lasts); it refuses the write or bounds
the PUT's timeout to the time the caller may still write.
"""

from __future__ import annotations

import math
import random as _random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException

from sla_planner.actuators.backoff import MAX_CONFLICT_WAIT_S, conflict_delay, retry_after_s
from sla_planner.actuators.base import ActuatorError, ReplicaStatus, WriteGuard
from sla_planner.actuators.errors import KubeActuatorError, Operation, translate

FIELD_MANAGER = "sla-planner"
T = TypeVar("T")


@dataclass(frozen=True)
class ScaleView:
    replicas: int  # spec.replicas of the Scale
    resource_version: str | None


def nested_int(obj: Mapping[str, Any], *path: str, default: int = 0) -> int:
    """An integer field at `path`; absent (Go omitempty) means `default`; non-int is an error."""
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping) or cur.get(key) is None:
            return default
        cur = cur[key]
    if isinstance(cur, bool) or not isinstance(cur, int):
        raise ValueError(f"field {'.'.join(path)} is {cur!r}, expected an integer")
    return cur


def status_from_object(obj: Any, ready_field: str) -> ReplicaStatus:
    """ReplicaStatus from a custom object dict: desired = spec.replicas, ready = status.<field>."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    status = obj.get("status")
    generation = obj.get("metadata", {}).get("generation")
    observed = status.get("observedGeneration") if isinstance(status, Mapping) else None
    if not status:
        current = False  # the controller has not reconciled the object yet
    elif isinstance(observed, int) and isinstance(generation, int):
        current = observed >= generation
    else:
        current = True  # this controller does not publish observedGeneration
    return ReplicaStatus(
        desired=nested_int(obj, "spec", "replicas"),
        ready=nested_int(obj, "status", ready_field),
        observed_generation_current=current,
    )


class ScaleSubresourceActuator(ABC):
    """Actuator for one namespaced object with a scale subresource."""

    kind: str = ""  # e.g. "PodCliqueScalingGroup"
    api_group: str = ""  # e.g. "grove.io"
    plural: str = ""  # e.g. "podcliquescalinggroups"
    label: str = ""  # description prefix, e.g. "grove PodCliqueScalingGroup"
    not_found_hint: str = ""  # how names are formed, for the 404 message

    def __init__(
        self,
        namespace: str,
        name: str,
        *,
        request_timeout_s: float = 10.0,
        conflict_retries: int = 3,
        retry_backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if request_timeout_s <= 0:
            raise ValueError("request_timeout_s must be > 0")
        if conflict_retries < 0:
            raise ValueError("conflict_retries must be >= 0")
        self.namespace = namespace
        self.name = name
        self.request_timeout_s = float(request_timeout_s)
        self.conflict_retries = int(conflict_retries)
        self.retry_backoff_s = float(retry_backoff_s)
        self._sleep = sleep
        self._clock = clock
        self._random = random
        self._quiet_until = -math.inf  # a 429/503's Retry-After: nothing is sent before it
        self.description = f"{self.label or self.kind} {namespace}/{name}"

    # -- what each kind provides ---------------------------------------------------------
    @abstractmethod
    def _get_scale(self) -> ScaleView: ...

    @abstractmethod
    def _put_scale(self, view: ScaleView, replicas: int, timeout_s: float) -> None: ...

    @abstractmethod
    def _get_status(self) -> ReplicaStatus: ...

    # -- the Actuator protocol -------------------------------------------------------------
    def status(self) -> ReplicaStatus:
        self._check_quiet()
        return self._call(self._get_status, self._op("get", scale=False))

    def scale(self, replicas: int, guard: WriteGuard | None = None) -> None:
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise KubeActuatorError(
                f"{self.description}: refusing to scale to {replicas!r}: replicas must be a "
                "non-negative integer.",
                reason="invalid",
                retryable=False,
            )
        self._check_quiet()
        attempts = self.conflict_retries + 1
        waited = 0.0
        for attempt in range(attempts):
            view = self._call(self._get_scale, self._op("get"))
            if view.replicas == replicas:
                return  # nothing to write
            if not view.resource_version:
                raise self._no_resource_version(replicas)
            timeout_s = self._write_budget(replicas, guard)
            budget_end = self._clock() + timeout_s
            try:
                self._put_scale(view, replicas, timeout_s)
                return
            except ApiException as exc:
                if exc.status != 409:
                    raise self._write_error(exc) from exc
            except ActuatorError:
                raise
            except Exception as exc:  # noqa: BLE001 - translated or re-raised below
                raise self._write_error(exc) from exc
            if attempt + 1 == attempts or self.retry_backoff_s <= 0:
                continue
            delay = conflict_delay(attempt, self.retry_backoff_s, self._random)
            # Wait only if a write still fits after it (the leadership left, the total cap).
            if waited + delay > MAX_CONFLICT_WAIT_S or self._clock() + delay + 0.5 > budget_end:
                attempts = attempt + 1
                break
            self._sleep(delay)
            waited += delay
        raise KubeActuatorError(
            f"{self.description}: scale to {replicas} still conflicting (409) after {attempts} "
            "read-and-retry attempts; nothing was changed. Fix: check that no HPA, KEDA "
            "ScaledObject or other controller is writing the same replicas.",
            reason="conflict",
            retryable=True,
            status=409,
        )

    def _write_budget(self, replicas: int, guard: WriteGuard | None) -> float:
        """Seconds the PUT may take: request_timeout_s, bounded by the guard after the read
        (the read may have blocked past the caller's leadership)."""
        timeout_s = self.request_timeout_s
        if guard is not None:
            timeout_s = min(timeout_s, guard())
            if not (timeout_s > 0 and math.isfinite(timeout_s)):
                raise KubeActuatorError(
                    f"{self.description}: no time left to write {replicas} replicas "
                    f"safely (write budget {timeout_s:g} s); nothing was changed.",
                    reason="not_leader",
                    retryable=True,
                )
        return timeout_s

    def _check_quiet(self) -> None:
        left = self._quiet_until - self._clock()
        if left > 0:
            raise KubeActuatorError(
                f"{self.description}: the API server asked to wait (429/503 Retry-After); "
                f"holding, nothing sent to it for {left:.0f} s more.",
                reason="unavailable",
                retryable=True,
                status=429,
            )

    # -- helpers ---------------------------------------------------------------------------
    def _no_resource_version(self, replicas: int) -> KubeActuatorError:
        # A PUT without one is unconditional: it would overwrite whatever another writer
        # (HPA, KEDA, a person) set since the read, the race resourceVersion exists to stop.
        return KubeActuatorError(
            f"{self.description}: the API server answered the Scale read without "
            f"metadata.resourceVersion; refusing an unconditional write of {replicas} replicas "
            "(nothing was changed; retrying next interval). Fix if it persists: check the API "
            "server, and any proxy between it and the planner, for replies that drop metadata.",
            reason="bad_response",
            retryable=True,
        )

    def _op(self, verb: str, *, scale: bool = True) -> Operation:
        resource = f"{self.plural}/scale" if scale else self.plural
        return Operation(verb, resource, self.api_group, self.namespace)

    def _call(self, fn: Callable[[], T], op: Operation) -> T:
        try:
            return fn()
        except ActuatorError:
            raise
        except Exception as exc:  # noqa: BLE001 - translate() re-raises what it cannot map
            raise self._translate(exc, op) from exc

    def _write_error(self, exc: BaseException) -> KubeActuatorError:
        err = self._translate(exc, self._op("update"))
        if err.reason == "unavailable" and err.status is None:
            # The request may have reached the server before the connection failed.
            return KubeActuatorError(
                f"{err} The write may or may not have landed; the next status() read shows "
                "the cluster's actual spec.replicas.",
                reason=err.reason,
                retryable=True,
            )
        return err

    def _translate(self, exc: BaseException, op: Operation) -> KubeActuatorError:
        err = translate(
            exc,
            self.description,
            op,
            timeout_s=self.request_timeout_s,
            not_found_hint=self.not_found_hint,
        )
        wait = retry_after_s(exc)
        if wait is None:
            return err
        self._quiet_until = self._clock() + wait
        return KubeActuatorError(
            f"{err} The server asked to retry after {math.ceil(wait)} s: nothing is sent to it "
            "before then.",
            reason=err.reason,
            retryable=err.retryable,
            status=err.status,
        )

    @property
    def timeout(self) -> float:
        return self.request_timeout_s
