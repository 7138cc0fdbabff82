"""Run a call that might hang on a daemon thread and fail the test if it does not finish.

A liveness bound, not a timing assertion: the limit is generous (tens of seconds for work that
takes milliseconds), so only a hang or an unbounded loop trips it. A call that hangs before
its fix leaves its thread spinning until the test process exits; that is the price of keeping
these tests in-process (and in the fast loop).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

LIMIT_S = 60.0


def finishes(fn: Callable[[], T], limit_s: float = LIMIT_S) -> T:
    """fn()'s result (or its exception, re-raised); AssertionError when it runs past limit_s."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True, name="bounded-call")
    t.start()
    t.join(limit_s)
    assert not t.is_alive(), f"did not finish within {limit_s:g} s (unbounded loop or hang)"
    if "error" in box:
        raise box["error"]
    return box["value"]
