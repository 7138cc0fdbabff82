"""What the latency model reads of an engine profile (ProfileCurves or anything alike)."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Curves(Protocol):
    """The part of profiles.interpolation.ProfileCurves the latency model reads."""

    gpus_per_replica: int

    def prefill_ttft_ms(self, tokens: float) -> float: ...

    def prefill_capacity_tps(self, isl: float) -> float: ...

    def decode_itl_ms(self, concurrency: float | np.ndarray, context: float) -> float: ...

    def decode_max_concurrency(self, context: float, itl_ms: float) -> float: ...
