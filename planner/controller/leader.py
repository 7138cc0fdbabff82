"""Leader election on a coordination.k8s.io/v1 Lease, so two planner replicas never both actuate.

Same rules as client-go's leaderelection:
- a Lease is free when it has no holder, or when its record (holder, renewTime, resourceVersion)
  has not changed for leaseDurationSeconds *as observed on our own clock* (no trust in the
  other replica's clock);
- writes carry the resourceVersion read, so of two racing candidates the API server accepts one
  and answers 409 to the other (lost the race; try again later);
- the leader renews every retry period and considers itself leader only while its last
  successful renewal is younger than renew_deadline (< lease duration), so it stops acting
  before anyone else may take over;
- on shutdown the leader releases the Lease (empty holder) so a standby takes over at once;
- leadership follows the control loop's health: while `loop_problem()` names one (a hung
  loop) the elector neither renews nor acquires, and a leader releases the Lease, so a standby
  takes over;
- before each cluster write, `confirm_for_write()` re-reads the Lease: it must still be the
  version our last renewal wrote (nobody took it since), and the answer is how long a write may
  still take (until our renew deadline).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from kubernetes import client
from kubernetes.client.rest import ApiException

from sla_planner.controller.clock import Clock
from sla_planner.errors import SlaPlannerError

log = logging.getLogger("sla_planner.leader")


class NotLeaderError(SlaPlannerError):
    """This process may not write to the cluster: it does not hold the leader Lease now."""


def _micro_time(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


class LeaderElector:
    def __init__(
        self,
        api: client.CoordinationV1Api,
        *,
        namespace: str,
        name: str,
        identity: str,
        clock: Clock,
        lease_duration_s: float = 15.0,
        renew_deadline_s: float = 10.0,
        retry_period_s: float = 2.0,
        on_change: Callable[[bool], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        loop_problem: Callable[[], str] | None = None,
    ) -> None:
        """`loop_problem()` says why the control loop is unhealthy ("" when healthy)."""
        if not identity:
            raise ValueError("leader election needs a non-empty identity (e.g. the pod name)")
        if not (0 < retry_period_s < renew_deadline_s < lease_duration_s):
            raise ValueError(
                "leader election timings must satisfy 0 < retry_period_s < renew_deadline_s < "
                f"lease_duration_s (got {retry_period_s}, {renew_deadline_s}, {lease_duration_s})"
            )
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.clock = clock
        self.lease_duration_s = lease_duration_s
        self.renew_deadline_s = renew_deadline_s
        self.retry_period_s = retry_period_s
        self._on_change = on_change
        self._on_error = on_error
        self._loop_problem = loop_problem
        self._leader = False
        self._last_renew: float | None = None
        self._lease_version: str | None = None  # resourceVersion our last renewal wrote
        self._observed_key: tuple[object, ...] | None = None
        self._observed_at = 0.0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public

    def is_leader(self) -> bool:
        """True only while our last successful renewal is younger than the renew deadline."""
        with self._lock:
            return (
                self._leader
                and self._last_renew is not None
                and self.clock.now() - self._last_renew < self.renew_deadline_s
            )

    @property
    def holder_seen(self) -> str | None:
        return None if self._observed_key is None else self._observed_key[0]  # type: ignore[return-value]

    def try_acquire_or_renew(self) -> bool:
        """One election round: create, take over or renew the Lease. Returns is_leader()."""
        now = self.clock.now()
        problem = self._loop_problem() if self._loop_problem is not None else ""
        if problem:  # a hung loop must not keep the Lease: let a standby take over
            if self._leader:
                log.warning(
                    "leader_unhealthy identity=%s problem=%r: stepping down (the Lease is released if still ours)",
                    self.identity,
                    problem,
                )
                self.release()
            return False
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return self._create(now)
            return self._failed(now, f"reading Lease {self.namespace}/{self.name}: {_why(exc)}")
        except Exception as exc:  # connection refused, timeout: the API is down
            return self._failed(now, f"reading Lease {self.namespace}/{self.name}: {exc}")

        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or None
        key = (holder, spec.renew_time, lease.metadata.resource_version if lease.metadata else None)
        if key != self._observed_key:
            self._observed_key = key
            self._observed_at = now
        duration = spec.lease_duration_seconds or self.lease_duration_s
        if holder not in (None, self.identity) and now < self._observed_at + duration:
            self._set_leader(False)  # someone else holds a live lease
            return False

        ours = holder == self.identity
        lease.spec = client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=int(math.ceil(self.lease_duration_s)),
            acquire_time=spec.acquire_time if ours and spec.acquire_time else _micro_time(now),
            renew_time=_micro_time(now),
            lease_transitions=(spec.lease_transitions or 0) + (0 if ours else 1),
        )
        try:
            # metadata.resourceVersion from the read makes this a compare-and-swap.
            written = self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as exc:
            if exc.status == 409:
                return self._failed(now, "lost the race for the Lease (409 conflict)", error=False)
            return self._failed(now, f"updating Lease {self.namespace}/{self.name}: {_why(exc)}")
        except Exception as exc:
            return self._failed(now, f"updating Lease {self.namespace}/{self.name}: {exc}")
        if not ours:
            log.info(
                "leader_acquired identity=%s lease=%s/%s previous=%s",
                self.identity,
                self.namespace,
                self.name,
                holder,
            )
        return self._renewed(now, written)

    def confirm_for_write(self) -> float:
        """Seconds a cluster write may still take as the leader, from a fresh read of the Lease;
        raises NotLeaderError when we are not (or no longer) the leader."""
        with self._lock:
            leader, renewed, version = self._leader, self._last_renew, self._lease_version
        now = self.clock.now()
        left = self.renew_deadline_s - (now - renewed) if renewed is not None else 0.0
        if not leader or left <= 0:
            raise NotLeaderError(f"{self.identity} is not the leader (renew deadline passed)")
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=left)
        except Exception as exc:  # cannot confirm: do not write
            raise NotLeaderError(f"cannot confirm the Lease before writing: {exc}") from None
        spec = lease.spec or client.V1LeaseSpec()
        seen = lease.metadata.resource_version if lease.metadata else None
        with self._lock:  # our own renewal may have landed while we read
            ours = (version, self._lease_version)
        if spec.holder_identity != self.identity or (version is not None and seen not in ours):
            raise NotLeaderError(
                f"the Lease {self.namespace}/{self.name} is now held by "
                f"{spec.holder_identity or 'nobody'} (version {seen}, ours {version})"
            )
        left = self.renew_deadline_s - (self.clock.now() - renewed)  # the read took time too
        if left <= 0:
            raise NotLeaderError(f"{self.identity}: renew deadline passed while confirming")
        return left

    def release(self) -> None:
        """Give the Lease up on shutdown so a standby takes over without waiting for expiry."""
        if not self._leader:
            return
        self._set_leader(False)
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = _micro_time(self.clock.now())
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
            log.info("leader_released identity=%s", self.identity)
        except Exception as exc:  # best effort: the Lease expires by itself anyway
            log.warning("leader_release_failed identity=%s error=%r", self.identity, str(exc))

    def run(self, stop: threading.Event) -> None:
        """Election loop for a background thread; releases the Lease when `stop` is set."""
        while not stop.is_set():
            self.try_acquire_or_renew()
            self.clock.sleep(self.retry_period_s)
        self.release()

    # --------------------------------------------------------------- internals

    def _create(self, now: float) -> bool:
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
            spec=client.V1LeaseSpec(
                holder_identity=self.identity,
                lease_duration_seconds=int(math.ceil(self.lease_duration_s)),
                acquire_time=_micro_time(now),
                renew_time=_micro_time(now),
                lease_transitions=0,
            ),
        )
        try:
            written = self.api.create_namespaced_lease(self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:  # another candidate created it first
                return self._failed(now, "lost the race to create the Lease (409)", error=False)
            return self._failed(now, f"creating Lease {self.namespace}/{self.name}: {_why(exc)}")
        except Exception as exc:
            return self._failed(now, f"creating Lease {self.namespace}/{self.name}: {exc}")
        log.info(
            "leader_acquired identity=%s lease=%s/%s (created)",
            self.identity,
            self.namespace,
            self.name,
        )
        return self._renewed(now, written)

    def _renewed(self, now: float, written: object) -> bool:
        meta = getattr(written, "metadata", None)
        with self._lock:
            self._last_renew = now
            self._lease_version = getattr(meta, "resource_version", None)
        self._set_leader(True)
        return self.is_leader()

    def _failed(self, now: float, why: str, *, error: bool = True) -> bool:
        if error and self._on_error is not None:
            self._on_error(why)
        if self._leader:
            log.warning("leader_renew_failed identity=%s error=%r", self.identity, why)
        else:
            log.debug("leader_attempt_failed identity=%s error=%r", self.identity, why)
        if not self.is_leader():  # past the renew deadline: step down
            self._set_leader(False)
        return self.is_leader()

    def _set_leader(self, leader: bool) -> None:
        with self._lock:
            changed = leader != self._leader
            self._leader = leader
        if changed:
            if not leader:
                log.warning("leader_lost identity=%s: stopped actuating", self.identity)
            if self._on_change is not None:
                self._on_change(leader)


def _why(exc: ApiException) -> str:
    hint = {403: " (grant get/create/update on leases in coordination.k8s.io)"}.get(exc.status, "")
    return f"HTTP {exc.status} {exc.reason}{hint}"
