"""Clocks for the control loop: the real one, and a simulated one for tests and replays.

The controller and the leader elector only ever ask a clock for `now()` and `sleep(s)`, so
the same loop runs against wall time in a cluster and against simulated time in tests.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (may return early when the clock is stopped)."""
        ...


class RealClock:
    """Wall-clock time. `sleep` wakes early once `stop_event` is set, so shutdown is prompt."""

    def __init__(self, stop_event: threading.Event | None = None) -> None:
        self.stop_event = stop_event if stop_event is not None else threading.Event()

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.stop_event.wait(seconds)


class SimulatedClock:
    """Time that moves only when someone sleeps or calls `advance` (thread-safe)."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds} s)")
        with self._lock:
            self._t += seconds

    def set(self, t: float) -> None:
        with self._lock:
            if t < self._t:
                raise ValueError(f"cannot move a clock backwards (from {self._t} to {t})")
            self._t = float(t)
