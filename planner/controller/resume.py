"""Resume from the cluster (start, restart, each gain of leadership): read what both pools run
and seed the pools' state and the planner with it, so no decision is acted on without it."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sla_planner.actuators.base import Actuator, ActuatorError, ReplicaStatus
from sla_planner.controller.error_kinds import classify_actuator_error
from sla_planner.controller.pool_state import POOLS, PoolState
from sla_planner.model.reasons import ErrorKind
from sla_planner.model.types import Pool


def resume_from_cluster(
    pools: Mapping[Pool, PoolState],
    actuators: Mapping[Pool, Actuator],
    planner: object,
    now: float,
    log: logging.Logger,
) -> tuple[ErrorKind, str] | None:
    """Seed `pools` (and the planner's `seed`, when it has one) from the cluster. Returns None,
    or (error kind, text) when a target could not be read (then nothing is seeded)."""
    statuses: dict[Pool, ReplicaStatus] = {}
    for p in POOLS:
        try:
            statuses[p] = actuators[p].status()
        except ActuatorError as exc:
            kind = classify_actuator_error(exc)
            log.warning(
                "resume_failed pool=%s kind=%s error=%r: holding until the target can be read",
                p.value,
                kind,
                str(exc),
            )
            return kind, str(exc)
    for p, st in statuses.items():
        s = pools[p]
        s.status = st
        s.target = st.desired
        s.last_ok_at = now
        if st.ready < st.desired:
            # When that scale-up began is unknown: count the grace from now (conservative).
            s.starting_since = now
    seed = getattr(planner, "seed", None)
    if callable(seed):
        seed(statuses[Pool.PREFILL].desired, statuses[Pool.DECODE].desired, now)
    log.info(
        "resumed prefill_replicas=%d prefill_ready=%d decode_replicas=%d decode_ready=%d",
        statuses[Pool.PREFILL].desired,
        statuses[Pool.PREFILL].ready,
        statuses[Pool.DECODE].desired,
        statuses[Pool.DECODE].ready,
    )
    return None
