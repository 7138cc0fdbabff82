"""Is the control loop alive? /healthz answers it, and the leader Lease is renewed only while
the answer is yes, so a leader whose loop hangs stops leading and a standby takes over.

Healthy: a tick completed within the last `stale_after_s` (the loop wakes at least every retry
interval, so a live loop completes ticks far more often), no tick has been running for longer
than that, and no interrupted planner call has been stuck for longer than that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class LoopHealth:
    def __init__(
        self,
        stale_after_s: float,
        now: Callable[[], float],
        stuck_for: Callable[[], float | None] = lambda: None,
    ) -> None:
        """`now`: the loop's clock; `stuck_for`: seconds a planner call has been stuck past its
        deadline (tick_deadline.DeadlineRunner.stuck_for)."""
        if not stale_after_s > 0:
            raise ValueError(f"stale_after_s must be > 0, got {stale_after_s}")
        self.stale_after_s = float(stale_after_s)
        self._now = now
        self._stuck_for = stuck_for
        self._lock = threading.Lock()
        self._born = now()
        self._started: float | None = None  # the running tick's start (None between ticks)
        self._finished: float | None = None

    def tick_started(self) -> None:
        with self._lock:
            self._started = self._now()

    def tick_finished(self) -> None:
        with self._lock:
            self._started = None
            self._finished = self._now()

    @property
    def last_tick_at(self) -> float | None:
        return self._finished

    def problem(self) -> str:
        """Why the loop is unhealthy ("" when it is healthy)."""
        now = self._now()
        limit = self.stale_after_s
        with self._lock:
            started, finished, born = self._started, self._finished, self._born
        if started is not None and now - started > limit:
            return f"a tick has been running for {now - started:.0f} s (limit {limit:.0f} s)"
        last = finished if finished is not None else born
        if now - last > limit:
            since = "since start" if finished is None else "since the last one"
            return f"no tick has completed for {now - last:.0f} s {since} (limit {limit:.0f} s)"
        stuck = self._stuck_for()
        if stuck is not None and stuck > limit:
            return f"a planner call has been stuck for {stuck:.0f} s past its deadline"
        return ""

    def healthy(self) -> bool:
        return not self.problem()
