"""Prompt-length variability of recent traffic, for the prefill queueing model (pure).

Prefill wait grows with the service-time SCV (Allen-Cunneen: (1 + SCV) / 2): a mix of short
and very long prompts queues far more than uniform ones at the same utilisation. A fixed
worst-case SCV over-provisions uniform workloads (Azure conv/code: 0.92) to protect
heavy-tailed ones (Mooncake: 1.72). This pools the SCV over the last `window` intervals'
requests -- E[x^2] / E[x]^2 - 1 across them, so it includes between-interval drift in mean
length as the simulator and a real queue see it -- from sources that report it
(DemandSample.isl_scv). None until enough requests have been seen.
"""

from __future__ import annotations

import math
from collections import deque

MIN_REQUESTS = 200.0  # below this the pooled estimate is too noisy to trust


class PromptScvTracker:
    def __init__(self, window: int = 60) -> None:
        if window < 1:
            raise ValueError(f"SCV window must be >= 1 interval, got {window}")
        # (requests, sum of lengths, sum of squared lengths) per interval
        self._rows: deque[tuple[float, float, float]] = deque(maxlen=int(window))
        self._scv: float | None = None  # pooled once per observation, read many times a decision

    def observe(self, requests: float, isl_mean: float, isl_scv: float | None) -> None:
        if isl_scv is None or not all(math.isfinite(v) for v in (requests, isl_mean, isl_scv)):
            return
        if requests <= 0 or isl_mean <= 0 or isl_scv < 0:
            return
        s1 = requests * isl_mean
        s2 = requests * (isl_scv + 1.0) * isl_mean * isl_mean
        self._rows.append((requests, s1, s2))
        n = sum(r[0] for r in self._rows)
        if n < MIN_REQUESTS:
            self._scv = None
            return
        m = sum(r[1] for r in self._rows) / n
        self._scv = max(sum(r[2] for r in self._rows) / n / (m * m) - 1.0, 0.0)

    @property
    def scv(self) -> float | None:
        """Pooled prompt-length SCV of the window; None until MIN_REQUESTS were seen."""
        return self._scv
