"""The process lifecycle `sla-planner run` shares between one deployment and a fleet: one tick
under the Lease (`--once`), or the HTTP API in a thread, leader election in another and the
control loop in the main thread until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol, TypeVar

log = logging.getLogger("sla_planner.run")

T = TypeVar("T")


class Elector(Protocol):
    def try_acquire_or_renew(self) -> bool: ...
    def release(self) -> None: ...
    def run(self, stop: threading.Event) -> None: ...


def tick_holding_lease(elector: Elector | None, tick: Callable[[], T]) -> T:
    """One tick with the Lease taken first and given back after, so `--once` beside a running
    planner never writes without holding it."""
    if elector is not None:
        elector.try_acquire_or_renew()
    try:
        return tick()
    finally:
        if elector is not None:
            elector.release()


def serve_until_stopped(
    stop: threading.Event,
    run_loop: Callable[[threading.Event], None],
    elector: Elector | None,
    make_app: Callable[[], Any] | None,
    host: str = "0.0.0.0",
    port: int = 8080,
) -> int:
    """Serve `make_app()` (None: no server), elect in a thread and run the loop until a signal
    sets `stop`; then release the Lease, stop the server and restore the signal handlers."""
    from sla_planner.controller.api import ApiServer

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("shutdown signal=%s: finishing the current tick", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    server = None
    elector_thread = None
    try:
        if make_app is not None:
            server = ApiServer(make_app(), host, port).start()
            log.info("api_listening url=%s", server.url)
        if elector is not None:
            elector_thread = threading.Thread(
                target=elector.run, args=(stop,), name="leader-election", daemon=True
            )
            elector_thread.start()
        run_loop(stop)
    finally:
        stop.set()
        if elector_thread is not None:
            elector_thread.join(timeout=10)  # releases the Lease on its way out
        if server is not None:
            server.stop()
        for s, h in previous.items():
            signal.signal(s, h)
        log.info("stopped")
    return 0
