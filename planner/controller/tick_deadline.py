"""A deadline for the planning part of a tick (fetch demand, forecast, size), which can hang on
absurd input or a slow server, so the control loop itself never does.

The call runs in a worker thread; the loop waits for it in short slices (so SIGTERM stays
prompt). Past the deadline, or when the loop is stopping, an exception is raised inside the
worker (CPython's PyThreadState_SetAsyncExc): it lands at the worker's next bytecode, so a loop
stuck in pure-Python code unwinds at once. It derives from BaseException so the planner's own
`except Exception` handlers cannot swallow it. A worker stuck inside one C call (a huge numpy
operation, a socket read) unwinds when that call returns; until then it is reported as busy
and never called again (its state is not safe to share), and the loop's health says so.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from sla_planner.errors import SlaPlannerError

T = TypeVar("T")


class DeadlineExceeded(SlaPlannerError, TimeoutError):
    """The call did not finish in time (or the loop is stopping); it was interrupted."""


class _Interrupt(BaseException):
    """Raised inside the worker to unwind it; never caught by `except Exception`."""


class _Box(Generic[T]):
    def __init__(self) -> None:
        self.value: T | None = None
        self.error: BaseException | None = None


def _interrupt(thread: threading.Thread) -> None:
    if thread.ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(_Interrupt)
    )


class DeadlineRunner:
    """Runs one call at a time under a wall-clock deadline (see the module docstring)."""

    def __init__(
        self,
        name: str = "planner",
        *,
        unwind_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.unwind_s = unwind_s  # how long an interrupted worker gets to unwind
        self._monotonic = monotonic
        self._stuck: threading.Thread | None = None
        self.stuck_since: float | None = None  # monotonic time a worker was left running

    def busy(self) -> bool:
        """True while an interrupted worker has still not unwound (stuck in a C call)."""
        if self._stuck is not None and not self._stuck.is_alive():
            self._stuck = None
            self.stuck_since = None
        return self._stuck is not None

    def stuck_for(self) -> float | None:
        """Seconds the stuck worker has been running past its deadline (None: none stuck)."""
        if not self.busy() or self.stuck_since is None:
            return None
        return self._monotonic() - self.stuck_since

    def run(self, fn: Callable[[], T], timeout_s: float, stop: threading.Event | None = None) -> T:
        """fn()'s result, or DeadlineExceeded when it runs past `timeout_s` or `stop` is set."""
        if self.busy():
            raise DeadlineExceeded(
                f"the {self.name} is still busy with a call interrupted "
                f"{self.stuck_for() or 0:.0f} s ago (stuck in native code); not calling it again"
            )
        box: _Box[T] = _Box()

        def work() -> None:
            try:
                box.value = fn()
            except _Interrupt:
                pass
            except BaseException as exc:  # handed to the caller
                box.error = exc

        worker = threading.Thread(target=work, name=f"{self.name}-call", daemon=True)
        start = self._monotonic()
        worker.start()
        while worker.is_alive():
            left = timeout_s - (self._monotonic() - start)
            if left <= 0 or (stop is not None and stop.is_set()):
                break
            worker.join(min(left, 0.05))  # short slices: signal handlers run in between
        if worker.is_alive():
            return self._abandon(worker, timeout_s, stop is not None and stop.is_set())
        if box.error is not None:
            raise box.error
        return box.value  # type: ignore[return-value]

    def _abandon(self, worker: threading.Thread, timeout_s: float, stopping: bool) -> T:
        _interrupt(worker)
        worker.join(self.unwind_s)
        why = "the loop is stopping" if stopping else f"it ran past its {timeout_s:g} s deadline"
        if worker.is_alive():
            self._stuck = worker
            self.stuck_since = self._monotonic()
            raise DeadlineExceeded(
                f"the {self.name} call was interrupted because {why}, but it is stuck in "
                "native code and still running"
            )
        raise DeadlineExceeded(f"the {self.name} call was interrupted because {why}")
