"""The Actuator protocol: read current/ready replicas of a pool, set desired."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sla_planner.errors import SlaPlannerError


class ActuatorError(SlaPlannerError, RuntimeError):
    """The target could not be read or scaled; `retryable` says whether holding and retrying helps."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


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

    def scale(self, replicas: int) -> None:
        """Set desired replicas. Raises ActuatorError; never leaves a partial write."""
        ...
