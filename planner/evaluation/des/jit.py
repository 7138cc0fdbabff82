"""Numba options for the hot kernels, in one place.

`_nrt=False` compiles without numba's reference-counting runtime. Why: numba increments and
decrements the reference count of every array handed to a helper (atomic operations), which
made each decode step ~5x slower than its arithmetic. These functions never allocate, so they
do not need the runtime. If a numba release drops the option, replace it with plain
`njit(cache=True)`: results are identical, only slower.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from numba import njit

F = TypeVar("F", bound=Callable)


def kernel(fn: F) -> F:
    """njit(cache=True) without the reference-counting runtime (no allocation inside)."""
    return njit(cache=True, _nrt=False)(fn)
