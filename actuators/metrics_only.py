"""Metrics-only: publish desired replicas for HPA/KEDA and change nothing in the cluster."""

from __future__ import annotations

from sla_planner.actuators.base import Actuator, ActuatorError, ReplicaStatus, WriteGuard


class MetricsOnlyActuator:
    """scale(n) only records n; the exporter publishes it (sla_planner_desired_replicas) for
    an HPA or KEDA ScaledObject to apply. status() reports what was last published, or, when
    `observe` is given, the live status of that target read-only (its scale() is never called)."""

    def __init__(
        self,
        pool: str = "",
        *,
        observe: Actuator | None = None,
        initial_replicas: int = 0,
    ) -> None:
        self.pool = pool
        self.observe = observe
        self._initial = int(initial_replicas)
        self.last_published: int | None = None
        where = f" observing {observe.description}" if observe is not None else ""
        self.description = f"metrics-only{f' ({pool})' if pool else ''}{where}"

    def status(self) -> ReplicaStatus:
        if self.observe is not None:
            return self.observe.status()
        n = self._initial if self.last_published is None else self.last_published
        return ReplicaStatus(desired=n, ready=n)

    def scale(self, replicas: int, guard: WriteGuard | None = None) -> None:
        # Publishing is not a cluster write: no leadership check (a standby publishes too).
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ActuatorError(
                f"{self.description}: refusing to publish {replicas!r}: replicas must be a "
                "non-negative integer.",
                retryable=False,
            )
        self.last_published = replicas
