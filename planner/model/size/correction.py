"""Correct the profile with observed latency (pure; no I/O, no clock).

A profile is measured on a benchmark rig; production differs (prefix caching, other prompt
mixes, a different driver). When metrics carry observed TTFT/ITL, the ratio observed/expected
(expected = the latency model at the replicas that served the interval and the demand that
came) says how far off the profile is. The factor is smoothed in log space (EWMA), bounded, and
only updated from intervals with enough requests, so one noisy minute cannot swing sizing.

- `update_factor`: one pure step of the smoothing.
- `CorrectedCurves`: wraps ProfileCurves; prefill latency x f_prefill (capacity / f), decode ITL
  x f_decode (so the concurrency meeting a target is read at target / f).
- The deployment planner (`sla_planner.model.deployment`, `latency_correction=True`) compares,
  before each observation, observed with expected latency at the last decision's replicas and
  updates the factors of the CorrectedCurves it sizes each variant with; each pool's factor
  scales (and is learned against) that pool's own profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sla_planner.model.size.latency_curves import Curves

DEFAULT_ALPHA = 0.2  # EWMA weight of a new observation (log space)
DEFAULT_BOUNDS = (0.5, 2.0)  # never trust the profile less than half or more than double
DEFAULT_MIN_REQUESTS = 20.0  # intervals with fewer requests say too little


def update_factor(
    factor: float,
    observed_ms: float | None,
    expected_ms: float | None,
    alpha: float = DEFAULT_ALPHA,
    bounds: tuple[float, float] = DEFAULT_BOUNDS,
) -> float:
    """Next correction factor after one (observed, expected) pair; unchanged on bad input."""
    if observed_ms is None or expected_ms is None:
        return factor
    if not (math.isfinite(observed_ms) and math.isfinite(expected_ms)):
        return factor
    if observed_ms <= 0 or expected_ms <= 0:
        return factor
    a = min(max(alpha, 0.0), 1.0)
    lo, hi = bounds
    ratio = min(max(observed_ms / expected_ms, lo), hi)
    f = math.exp((1.0 - a) * math.log(max(factor, 1e-9)) + a * math.log(ratio))
    return min(max(f, lo), hi)


class CorrectedCurves:
    """ProfileCurves with latency scaled by observed/expected factors (1.0 = the profile)."""

    def __init__(self, curves: Curves, prefill_factor: float = 1.0, decode_factor: float = 1.0):
        self.base = curves
        self.prefill_factor = prefill_factor
        self.decode_factor = decode_factor

    def __getattr__(self, name: str) -> Any:  # profile, ranges, gpus_per_replica, ...
        return getattr(self.base, name)

    # prefill
    def prefill_ttft_ms(self, tokens: Any) -> Any:
        return self.base.prefill_ttft_ms(tokens) * self.prefill_factor

    def prefill_capacity_tps(self, isl: float) -> float:
        return float(self.base.prefill_capacity_tps(isl)) / self.prefill_factor

    # decode
    def decode_itl_ms(self, concurrency: Any, context: Any) -> Any:
        return self.base.decode_itl_ms(concurrency, context) * self.decode_factor

    def decode_max_concurrency(self, context: float, itl_ms: float) -> float:
        return float(self.base.decode_max_concurrency(context, itl_ms / self.decode_factor))

    def decode_throughput_tps(self, concurrency: Any, context: Any) -> Any:
        n = np.asarray(concurrency, dtype=float)
        out = n / np.asarray(self.decode_itl_ms(concurrency, context), dtype=float) * 1000.0
        return float(out) if out.ndim == 0 else out

    def decode_max_throughput_tps(self, context: float, itl_ms: float) -> float:
        n = self.decode_max_concurrency(context, itl_ms)
        return float(self.decode_throughput_tps(n, context)) if n > 0 else 0.0


@dataclass
class CorrectionSettings:
    alpha: float = DEFAULT_ALPHA
    bounds: tuple[float, float] = DEFAULT_BOUNDS
    min_requests: float = DEFAULT_MIN_REQUESTS
