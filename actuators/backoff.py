"""How long an actuator waits before asking the API server again: a 429/503's Retry-After
(bounded) and a jittered exponential backoff between conflict (409) retries. Pure arithmetic;
the clock, the sleep and the random source are the caller's (injected, so tests run fast)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

# A server may ask for any wait; past this the planner asks again anyway (an API server's
# priority-and-fairness answers a few seconds; a minute holds through a real overload).
MAX_RETRY_AFTER_S = 60.0
# Conflict retries: the n-th waits between half and all of min(CAP, base x 2^n) ("equal
# jitter": never the zero wait of full jitter, so writers that collided spread apart), and one
# scale() waits at most MAX_CONFLICT_WAIT_S in all.
CONFLICT_BACKOFF_CAP_S = 4.0
MAX_CONFLICT_WAIT_S = 10.0


def retry_after_s(exc: Any, wall: Callable[[], float] = time.time) -> float | None:
    """The wait a 429 or 503 reply asks for (Retry-After: seconds or an HTTP date), at most
    MAX_RETRY_AFTER_S; None when it asks for none (or nothing readable, or nothing > 0)."""
    if getattr(exc, "status", None) not in (429, 503):
        return None
    headers = getattr(exc, "headers", None) or {}
    raw = headers.get("Retry-After") if hasattr(headers, "get") else None
    if raw is None:
        return None
    text = str(raw).strip()
    try:
        wait = float(text)
    except ValueError:
        try:
            wait = parsedate_to_datetime(text).timestamp() - wall()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(wait) or wait <= 0:
        return None
    return min(wait, MAX_RETRY_AFTER_S)


def conflict_delay(attempt: int, base_s: float, random: Callable[[], float]) -> float:
    """The wait before conflict retry `attempt` (0 = the first retry)."""
    cap = min(CONFLICT_BACKOFF_CAP_S, base_s * 2.0 ** min(attempt, 30))
    r = min(max(float(random()), 0.0), 1.0)
    return cap * (0.5 + 0.5 * r)
