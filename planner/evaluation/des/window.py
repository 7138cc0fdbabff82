"""What `Judge.advance` returns: the requests that completed in one window, and pool state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sla_planner.evaluation.des.stats import (
    A_DWAIT,
    A_DWAIT_S,
    A_ITL_MAX,
    A_ITL_MET,
    A_ITL_SUM,
    A_MET,
    A_N,
    A_TTFT_MAX,
    A_TTFT_MET,
    A_TTFT_SUM,
    percentile,
)


@dataclass
class Window:
    """Requests completed (last token) in [t0, t1) and the pools at t1.

    A request counts in the window where it completes; `met` = TTFT and ITL both met.
    Percentiles are histogram estimates (within 1.2%); sums allow pooling means.
    """

    t0: float
    t1: float
    prefill_target: int
    decode_target: int
    finished: int
    met: int
    ttft_met: int
    itl_met: int
    ttft_sum_ms: float
    itl_sum_ms: float
    ttft_max_ms: float
    itl_max_ms: float
    ttft_p99_ms: float
    itl_p99_ms: float
    decode_waited: int = 0  # admitted to decode in the window after waiting for a slot
    decode_wait_s: float = 0.0  # their summed wait (s)
    prefill_queue: int = 0  # arrived before t1, prefill not started
    decode_queue: int = 0  # first token out before t1, waiting for a decode slot
    in_flight: int = 0  # arrived before t1, not completed
    prefill_ready: int = 0
    decode_ready: int = 0
    hist: np.ndarray | None = None  # (2, bins) TTFT / ITL counts if keep_window_hist

    @property
    def attainment(self) -> float:
        return self.met / self.finished if self.finished else float("nan")


def make_window(
    t0: float,
    t1: float,
    targets: tuple[int, int],
    acc: np.ndarray,
    hist: np.ndarray,
    keep_hist: bool,
) -> Window:
    return Window(
        t0=t0,
        t1=t1,
        prefill_target=targets[0],
        decode_target=targets[1],
        finished=int(acc[A_N]),
        met=int(acc[A_MET]),
        ttft_met=int(acc[A_TTFT_MET]),
        itl_met=int(acc[A_ITL_MET]),
        ttft_sum_ms=float(acc[A_TTFT_SUM]),
        itl_sum_ms=float(acc[A_ITL_SUM]),
        ttft_max_ms=float(acc[A_TTFT_MAX]),
        itl_max_ms=float(acc[A_ITL_MAX]),
        ttft_p99_ms=percentile(hist[0], 99.0),
        itl_p99_ms=percentile(hist[1], 99.0),
        decode_waited=int(acc[A_DWAIT]),
        decode_wait_s=float(acc[A_DWAIT_S]),
        hist=hist.copy() if keep_hist else None,
    )
