"""Questions answered from a profile's measured points (interface; owned by the profiles work).

Semantics every caller relies on (sizing, simulator, baselines):
- Everything is PER REPLICA (one engine = one TP group of `gpus_per_replica` GPUs) unless the
  name says per_gpu.
- prefill_ttft_ms(tokens): time to prefill `tokens` prompt tokens on an idle engine, whether one
  prompt or a batch of prompts totalling `tokens` (a batch of T tokens takes about as long as one
  prompt of T tokens). Monotone non-decreasing. Beyond the measured ISL range it extrapolates at
  the edge throughput (TTFT grows linearly), warning once.
- prefill_capacity_tps(isl): tokens/s a saturated replica sustains when prompts average `isl`
  tokens: it runs batches of max(isl, max_batched_tokens) tokens, so capacity =
  batch / prefill_ttft_ms(batch) * 1000.
- decode_itl_ms(concurrency, context): ITL with `concurrency` sequences in flight of mean context
  `context` tokens; kv_usage = concurrency * context / max_kv_tokens. Monotone non-decreasing in
  both arguments (noise in the measurements is smoothed by isotonic fitting).
- decode_max_concurrency(context, itl_ms): the largest per-replica concurrency whose ITL meets
  `itl_ms` without exceeding the measured KV-usage range (never extrapolates load). 0.0 if even a
  single sequence misses the target.
- decode_throughput_tps(concurrency, context) = concurrency / decode_itl_ms * 1000 (output tok/s).
- Array inputs are accepted where noted and broadcast elementwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from profiles.model import EngineProfile


class ProfileCurves:
    def __init__(self, profile: EngineProfile, warn: Callable[[str], None] | None = None) -> None:
        self.profile = profile
        self.gpus_per_replica = profile.gpus_per_replica
        raise NotImplementedError

    def prefill_ttft_ms(self, tokens: float | np.ndarray) -> float | np.ndarray:
        raise NotImplementedError

    def prefill_capacity_tps(self, isl: float) -> float:
        raise NotImplementedError

    def decode_itl_ms(self, concurrency: float | np.ndarray, context: float) -> float | np.ndarray:
        raise NotImplementedError

    def decode_max_concurrency(self, context: float, itl_ms: float) -> float:
        raise NotImplementedError

    def decode_throughput_tps(self, concurrency: float, context: float) -> float:
        raise NotImplementedError
