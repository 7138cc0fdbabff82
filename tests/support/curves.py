"""Profile curves for tests: the real bundled H200 profile, and analytic ones with known answers."""

from __future__ import annotations

import math
import warnings

import numpy as np
from support.paths import BUNDLED_PROFILE

from sla_planner.profiles.errors import ProfileRangeWarning
from sla_planner.profiles.interpolation import ProfileCurves
from sla_planner.profiles.registry import load_profile


def h200_curves() -> ProfileCurves:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileRangeWarning)
        return ProfileCurves(load_profile(BUNDLED_PROFILE), warn=lambda _msg: None)


class LinearCurves:
    """Analytic curves with known answers: TTFT = a + b*tokens, ITL = c + k*concurrency."""

    def __init__(
        self,
        ttft_intercept_ms: float = 20.0,
        ttft_ms_per_token: float = 0.02,
        batch_tokens: int = 8192,
        itl_intercept_ms: float = 5.0,
        itl_ms_per_seq: float = 0.1,
        kv_limit: float = 400.0,
        gpus_per_replica: int = 1,
    ) -> None:
        self.a, self.b, self.batch = ttft_intercept_ms, ttft_ms_per_token, batch_tokens
        self.c, self.k, self.limit = itl_intercept_ms, itl_ms_per_seq, kv_limit
        self.gpus_per_replica = gpus_per_replica

    def prefill_ttft_ms(self, tokens):
        return (
            self.a + self.b * np.asarray(tokens, dtype=float)
            if np.ndim(tokens)
            else (self.a + self.b * float(tokens))
        )

    def prefill_capacity_tps(self, isl: float) -> float:
        batch = max(float(isl), float(self.batch))
        return batch / (self.a + self.b * batch) * 1000.0

    def decode_itl_ms(self, concurrency, context):
        n = np.minimum(np.asarray(concurrency, dtype=float), self.limit)
        out = self.c + self.k * n
        return float(out) if out.ndim == 0 else out

    def decode_max_concurrency(self, context: float, itl_ms: float) -> float:
        if self.c + self.k > itl_ms:
            return 0.0
        if math.isinf(itl_ms):
            return self.limit
        return min(self.limit, (itl_ms - self.c) / self.k)
