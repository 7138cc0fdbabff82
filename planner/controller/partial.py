"""Partial actuation: one pool moved while the other has been failing to follow since. Said in
the log, the metrics (partial_actuation errors, `partial` decisions) and both pools' reasons."""

from __future__ import annotations

import logging
from dataclasses import replace

from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.controller.pool_state import PoolState, partial_pairs
from sla_planner.model.reasons import ErrorKind, ReasonCode
from sla_planner.model.types import Pool


def report_partial(
    pools: dict[Pool, PoolState],
    metrics: PlannerMetrics,
    log: logging.Logger,
    retry_interval_s: float,
    was_partial: bool,
) -> bool:
    """Mark every (moved, held) pair in the pools' snapshots; returns whether any is partial."""
    partial = partial_pairs(pools)
    for ok, bad in partial:
        text = (
            f"PARTIAL: {ok.value} is at {pools[ok].target} but {bad.value} could not "
            f"follow ({pools[bad].failing}); retrying {bad.value} every "
            f"{retry_interval_s:.0f} s"
        )
        metrics.count_error(ErrorKind.PARTIAL_ACTUATION)
        log.warning("partial_actuation scaled=%s held=%s reason=%r", ok.value, bad.value, text)
        for x in (ok, bad):
            sn = pools[x].snapshot
            if sn is not None and not sn.reason.startswith("PARTIAL"):
                pools[x].snapshot = replace(sn, reason=f"{text}; {sn.reason}")
            metrics.count_decision(x.value, ReasonCode.PARTIAL)
    if was_partial and not partial:
        log.info("partial_actuation_resolved")
    return bool(partial)
