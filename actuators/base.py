"""The Actuator protocol: read current/ready replicas of a pool, set desired."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sla_planner.errors import SlaPlannerError


class ActuatorError(SlaPlannerError, RuntimeError):
    """The target could not be read or scaled; `retryable` says whether holding and retrying helps."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class WriteRefused(ActuatorError):
    """A WriteGuard refused a write: this process may no longer write to the cluster."""

    reason = "not_leader"


# Called right before each write, after any blocking call: answers how many seconds the write
# may take (its timeout; math.inf for no bound), or raises ActuatorError when writing is no
# longer allowed (e.g. the leader Lease lapsed while a read was in flight).
WriteGuard = Callable[[], float]


@dataclass(frozen=True)
class ReplicaStatus:
    desired: int  # spec.replicas as the cluster has it now
    ready: int  # replicas fully ready to serve
    observed_generation_current: bool = True  # controller has seen the latest spec


@runtime_checkable
class Actuator(Protocol):
    description: str  # e.g. "grove PodCliqueScalingGroup ns/name"

    def status(self) -> ReplicaStatus:
        """Raises ActuatorError when the target cannot be read."""
        ...

    def scale(self, replicas: int, guard: WriteGuard | None = None) -> None:
        """Set desired replicas. Raises ActuatorError; never leaves a partial write. `guard`
        is called right before each write (see WriteGuard)."""
        ...
