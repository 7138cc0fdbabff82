"""The discrete-event prefill queue (benchmarks/des_prefill.py): hand-checked cases and the
M/M/n limit."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from des_prefill import ServerSchedule, des_ttft_ms, fcfs_start_times, same_order  # noqa: E402

from sla_planner.model.size.prefill_latency import erlang_c  # noqa: E402


def _sched(times: list[float], counts: list[int]) -> ServerSchedule:
    return ServerSchedule(np.array(times, dtype=float), np.array(counts, dtype=np.int64))


def test_one_server_gives_the_exact_fcfs_waits():
    # Busy 0-2, then r1 waits 1 s (2-4), then r2 waits 2 s (4-4.5).
    start = fcfs_start_times(np.array([0.0, 1.0, 2.0]), np.array([2.0, 2.0, 0.5]), _sched([0], [1]))
    assert start.tolist() == [0.0, 2.0, 4.0]


def test_idle_gap_resets_the_queue():
    start = fcfs_start_times(np.array([0.0, 5.0]), np.array([1.0, 1.0]), _sched([0], [1]))
    assert start.tolist() == [0.0, 5.0]


class _LinearCurves:
    """Capacity 1000 tokens/s at any length; idle TTFT = isl / 10 ms."""

    def prefill_capacity_tps(self, isl: float) -> float:
        return 1000.0

    def prefill_ttft_ms(self, tokens: float | np.ndarray) -> float | np.ndarray:
        return np.asarray(tokens, dtype=float) / 10.0


def test_ttft_is_wait_plus_the_prompts_own_idle_ttft():
    # Services 2 s, 1 s, 0.5 s; waits 0, 1.5 s, 2 s; idle TTFTs 200, 100, 50 ms.
    ttft = des_ttft_ms(
        _LinearCurves(),
        np.array([0.0, 0.5, 1.0]),
        np.array([2000.0, 1000.0, 500.0]),
        _sched([0], [1]),
    )
    assert ttft == pytest.approx([200.0, 1600.0, 2050.0])


def test_mmn_mean_wait_matches_erlang_c():
    rng = np.random.default_rng(7)
    n, mean_s, rho, count = 4, 1.0, 0.7, 200_000
    lam = rho * n / mean_s
    arrivals = np.cumsum(rng.exponential(1.0 / lam, count))
    service = rng.exponential(mean_s, count)
    start = fcfs_start_times(arrivals, service, _sched([0], [n]))
    wait = (start - arrivals)[count // 10 :]  # drop the empty-start transient
    pw = erlang_c(n, lam * mean_s)
    expected = pw / (n / mean_s - lam)
    assert wait.mean() == pytest.approx(expected, rel=0.1)
    assert np.mean(wait > 0) == pytest.approx(pw, rel=0.05)


def test_scale_down_removes_an_idle_server_at_once():
    # r0 holds server A to 10; r1 frees server B at 4; at 5 one server goes: idle B leaves,
    # so r2 (arrives 6) waits for A.
    start = fcfs_start_times(
        np.array([0.0, 1.0, 6.0]), np.array([10.0, 3.0, 1.0]), _sched([0, 5], [2, 1])
    )
    assert start.tolist() == [0.0, 1.0, 10.0]


def test_scale_down_lets_a_busy_server_finish_then_leave():
    # Both busy (to 10 and 6) when the pool drops to 1 at t=2: the server finishing at 6
    # completes r1 (its start is untouched) and leaves; r2 waits for the other one, at 10.
    start = fcfs_start_times(
        np.array([0.0, 0.0, 3.0]), np.array([10.0, 6.0, 1.0]), _sched([0, 2], [2, 1])
    )
    assert start.tolist() == [0.0, 0.0, 10.0]


def test_scale_up_adds_a_server_free_from_that_moment():
    # One server busy to 10; a second appears at 5: r1 (waiting since 1) starts at 5, r2 after
    # it at 6 on the same new server.
    start = fcfs_start_times(
        np.array([0.0, 1.0, 2.0]), np.array([10.0, 1.0, 1.0]), _sched([0, 5], [1, 2])
    )
    assert start.tolist() == [0.0, 5.0, 6.0]


def test_no_server_waits_for_the_first_one_or_forever():
    start = fcfs_start_times(np.array([1.0, 2.0]), np.array([1.0, 1.0]), _sched([0, 3], [0, 1]))
    assert start.tolist() == [3.0, 4.0]
    never = fcfs_start_times(np.array([1.0, 2.0]), np.array([1.0, 1.0]), _sched([0], [0]))
    assert all(math.isinf(x) for x in never)


def test_schedule_from_bins_holds_each_count_for_its_bin():
    s = ServerSchedule.from_bins(100.0, 10.0, np.array([1, 3]))
    assert s.times.tolist() == [100.0, 110.0] and s.counts.tolist() == [1, 3]
    # The second server set appears at 110: a request queued behind a long job starts there.
    start = fcfs_start_times(np.array([100.0, 101.0]), np.array([50.0, 1.0]), s)
    assert start.tolist() == [100.0, 110.0]


def test_unsorted_arrivals_are_rejected():
    with pytest.raises(ValueError, match="sorted"):
        fcfs_start_times(np.array([2.0, 1.0]), np.array([1.0, 1.0]), _sched([0], [1]))


def test_same_order_flags_a_strict_reversal_only():
    class R:
        def __init__(self, a: float, d: float) -> None:
            self.analytic, self.des = a, d

    assert same_order([R(0.9, 0.8), R(0.8, 0.7), R(0.8, 0.75)])  # a tie in one model is fine
    assert not same_order([R(0.9, 0.7), R(0.8, 0.8)])
