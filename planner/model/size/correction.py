"""Correct the profile with observed latency (pure; no I/O, no clock).

A profile is measured on a benchmark rig; production differs (prefix caching, other prompt
mixes, a different driver). When metrics carry observed TTFT/ITL, the ratio observed/expected
(expected = the latency model at the replicas that served the interval and the demand that
came) says how far off the profile is. The factor is smoothed in log space (EWMA), bounded, and
only updated from intervals with enough requests, so one noisy minute cannot swing sizing.

- `update_factor`: one pure step of the smoothing.
- `CorrectedCurves`: wraps ProfileCurves; prefill latency x f_prefill (capacity / f), decode ITL
  x f_decode (so the concurrency meeting a target is read at target / f).
- `CorrectingPlanner`: an optional hook around sla_planner.model.old_planner.Planner: before each observation it
  compares observed with expected latency at the last decision's replicas and updates the
  factors of the CorrectedCurves the planner sizes with. When the pools run different engine
  configs, give it the decode pool's own CorrectedCurves too: each pool's factor then scales
  (and is learned against) that pool's profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sla_planner.model.size import latency_model as lm
from sla_planner.model.types import Decision, DemandSample

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

    def __init__(self, curves: Any, prefill_factor: float = 1.0, decode_factor: float = 1.0):
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


class CorrectingPlanner:
    """Planner hook: learn the correction from observed latency; the planner sizes with it.

    Build the planner with the CorrectedCurves this hook updates, e.g.
        cc = CorrectedCurves(curves); hook = CorrectingPlanner(Planner(cfg, cc), cc)
    or, when the decode pool has its own profile,
        cp, cd = CorrectedCurves(prefill), CorrectedCurves(decode)
        hook = CorrectingPlanner(Planner(cfg, cp, decode_curves=cd), cp, decode_curves=cd)
    `curves` then carries the prefill factor and `decode_curves` the decode factor.
    """

    def __init__(
        self,
        planner: Any,
        curves: CorrectedCurves,
        settings: CorrectionSettings | None = None,
        *,
        decode_curves: CorrectedCurves | None = None,
    ):
        self.planner = planner
        self.curves = curves
        self.decode_curves = decode_curves if decode_curves is not None else curves
        self.settings = settings or CorrectionSettings()
        self._last: Decision | None = None

    @property
    def factors(self) -> tuple[float, float]:
        return self.curves.prefill_factor, self.decode_curves.decode_factor

    def observe(self, sample: DemandSample) -> None:
        d, s = self._last, self.settings
        if d is not None and sample.requests >= s.min_requests and sample.duration_s > 0:
            pc, dc = self.curves, self.decode_curves
            rate, isl, osl = sample.rate, sample.isl_mean, sample.osl_mean
            # Expected latency comes from each pool's uncorrected profile, so the factor is
            # observed / profiled for the engine config that pool actually runs.
            if sample.ttft_mean_ms is not None and d.prefill.replicas > 0:
                exp_t = lm.expected_ttft_ms(pc.base, rate, isl, d.prefill.replicas)
                pc.prefill_factor = update_factor(
                    pc.prefill_factor, sample.ttft_mean_ms, exp_t, s.alpha, s.bounds
                )
            if sample.itl_mean_ms is not None and d.decode.replicas > 0:
                exp_i = lm.expected_itl_ms(dc.base, rate, isl, osl, d.decode.replicas)
                dc.decode_factor = update_factor(
                    dc.decode_factor, sample.itl_mean_ms, exp_i, s.alpha, s.bounds
                )
        self.planner.observe(sample)

    def decide(self, now: float) -> Decision:
        self._last = self.planner.decide(now)
        return self._last

    def __getattr__(self, name: str) -> Any:  # seed(), observations, config, ...
        return getattr(self.planner, name)
