"""Run small linear algebra single-threaded.

statsmodels' state-space filters and optimisers work on tiny matrices; with multi-threaded
OpenBLAS on a busy 2-core machine, threads spin against each other and an ARIMA fit was seen
to take 20x longer (0.95 s vs 0.13 s). threadpoolctl limits BLAS to one thread for the call
only; without it installed this is a no-op (set OPENBLAS_NUM_THREADS=1 instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    try:
        return ThreadpoolController()
    except Exception:
        return None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    ctl = _controller()
    if ctl is None:
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):
        yield
