"""Prefill: idle TTFT equals the profile; M/D/1 waits match Pollaczek-Khinchine; routing."""

from __future__ import annotations

import numpy as np
import pytest

from sla_planner.evaluation.des import Judge, Requests, Schedule, replay

# Measured points copied from the profile YAML (prefill.isl -> prefill.ttft_ms), so the
# expectations do not go through the code under test.
MEASURED = {100: 19.525209, 1117: 38.494131, 5185: 104.893601, 8236: 171.02919, 16372: 375.482618}


def _alone(isls: list[int], profile: dict) -> np.ndarray:
    """Replay one request every 10 s (idle engine each time); return captured TTFTs."""
    n = len(isls)
    req = Requests.of(np.arange(n) * 10.0, isls, np.full(n, 2))
    j = Judge(req, profile, capture=True)
    j.advance(10.0 * n, 1, 1)
    j.finish()
    return j.captured[0]


def test_idle_ttft_equals_profile_at_measured_points(profile: dict) -> None:
    got = _alone(list(MEASURED), profile)
    np.testing.assert_allclose(got, list(MEASURED.values()), rtol=1e-9)


def test_idle_ttft_between_beyond_and_below_points(profile: dict) -> None:
    # Hand interpolation: linear between 1117 and 2134; beyond 16372 at the last segment's
    # slope; below 100 clamped to the first point (documented choice).
    mid = 38.494131 + (1625 - 1117) / (2134 - 1117) * (49.968438 - 38.494131)
    slope = (375.482618 - 354.0895) / (16372 - 15355)
    beyond = 375.482618 + (20000 - 16372) * slope
    got = _alone([1625, 20000, 50], profile)
    np.testing.assert_allclose(got, [mid, beyond, 19.525209], rtol=1e-9)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_mean_wait_matches_pollaczek_khinchine(profile: dict, rho: float) -> None:
    isl = 4168  # measured point: S = 87.342026 ms
    s = 87.342026e-3
    lam = rho / s
    n = 400_000
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.exponential(1 / lam, n))
    req = Requests.of(t, np.full(n, isl), np.ones(n))  # OSL 1: no decode needed
    # cap == ISL: each batch holds exactly one prompt (batching off), deterministic service
    res = replay(
        req, Schedule.constant(1, 1), profile, max_batched_tokens=isl, ttft_ms=1e9, itl_ms=1e9
    )
    wait_ms = res.ttft_ms["mean"] - s * 1e3
    pk_ms = rho * s / (2 * (1 - rho)) * 1e3
    assert res.finished == n
    assert wait_ms == pytest.approx(pk_ms, rel=0.04)


def test_round_robin_head_of_line_vs_shared_queue(profile: dict) -> None:
    # A long prompt, then two short ones, two replicas. Shared: C waits only for B's replica.
    # Round robin: C is queued behind A at arrival.
    req = Requests.of([0.0, 0.001, 0.002], [16372, 100, 100], [1, 1, 1])
    out = {}
    for mode in ("shared", "round_robin"):
        j = Judge(req, profile, capture=True, prefill_routing=mode)
        j.advance(10.0, 2, 1)
        j.finish()
        out[mode] = j.captured[0]
    a, b = 375.482618, 19.525209
    np.testing.assert_allclose(out["shared"], [a, b, 1 + b + b - 2], rtol=1e-9)
    np.testing.assert_allclose(out["round_robin"], [a, b, a + b - 2], rtol=1e-9)


def test_batching_shares_one_profiled_batch_time(profile: dict) -> None:
    # Four 2048-token prompts arriving while the replica is busy form one 8192-token batch.
    t = [0.0, 0.01, 0.01, 0.01, 0.01]
    req = Requests.of(t, [16372, 2048, 2048, 2048, 2048], np.ones(5))
    j = Judge(req, profile, capture=True)
    j.advance(10.0, 1, 1)
    j.finish()
    ttft = j.captured[0]
    batch = 171.02919 - (8236 - 8192) / (8236 - 7219) * (171.02919 - 143.294598)
    expect = 375.482618 - 10 + batch
    np.testing.assert_allclose(ttft[1:], expect, rtol=1e-9)
