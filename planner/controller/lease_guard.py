"""Fencing for cluster writes: the WriteGuard the controller hands to every actuator write.

The controller checks leadership when a tick begins, but a tick blocks (reading metrics,
reading the cluster, the scale read before each write) and the process may be frozen
meanwhile (SIGSTOP, a VM pause, a long GC). So right before each write, after those blocking
calls, the guard confirms leadership from a fresh read of the Lease (still ours, at the version
our last renewal wrote) and bounds the write's timeout to the leadership time left. A write
from a deposed leader is refused; one racing the deadline is cut short by its own timeout.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from sla_planner.actuators.base import WriteRefused

log = logging.getLogger("sla_planner.lease_guard")


class LeaseGuard:
    """Callable WriteGuard. `confirm` answers the seconds a write may take or raises (e.g.
    LeaderElector.confirm_for_write); None: no leader election, writes are unbounded."""

    def __init__(self, confirm: Callable[[], float] | None, margin_s: float = 0.5) -> None:
        self._confirm = confirm
        self.margin_s = margin_s  # kept back for the reply to travel and the clocks to differ
        self.refused = 0

    def __call__(self) -> float:
        if self._confirm is None:
            return math.inf
        try:
            left = self._confirm() - self.margin_s
        except Exception as exc:  # NotLeaderError, or the Lease could not be read
            self.refused += 1
            log.warning("write_refused reason=%r", str(exc))
            raise WriteRefused(f"write refused: {exc}") from None
        if left <= 0:
            self.refused += 1
            log.warning("write_refused reason='leadership about to lapse'")
            raise WriteRefused("write refused: leadership lapses before the write could land")
        return left
