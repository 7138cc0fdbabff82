"""Decode: constant batches reproduce the profiled ITL; KV admission waits count against ITL."""

from __future__ import annotations

import numpy as np
import pytest

from sla_planner.evaluation.des import Judge, Requests
from sla_planner.evaluation.des.stats import A_DWAIT

MAX_KV = 945029  # decode.max_kv_tokens of the profile


def _together(n: int, isl: int, osl: int, profile: dict, **kw) -> np.ndarray:
    """n equal requests at t=0 through n prefill replicas with batching off, so all first
    tokens come out together and the n sequences enter one decode replica at the same step."""
    req = Requests.of(np.zeros(n), np.full(n, isl), np.full(n, osl))
    j = Judge(req, profile, capture=True, max_batched_tokens=isl, **kw)
    j.advance(1000.0, n, 1)
    j.finish()
    cap = j.captured
    assert np.all(np.isfinite(cap[1]))
    assert j.tot.acc[A_DWAIT] == np.sum(cap[1] > 1.5 * cap[1].min())  # those that waited
    return cap


# (context row, kv_usage, ITL ms) measured points, copied from the YAML (decode.*).
POINTS = [
    (2997, 0.15539523125745347, 9.937452489795918),
    (2997, 0.3076191312647548, 15.479184278350514),
    (2997, 0.4598430312720562, 22.128069820689653),
    (5644, 0.005972303495448287, 4.510708),
    (8291, 0.32461120240754515, 15.582186216216215),
]


@pytest.mark.parametrize(("ctx", "kv", "itl"), POINTS)
def test_single_step_batch_equals_profiled_point(
    profile: dict, ctx: int, kv: float, itl: float
) -> None:
    n = round(kv * MAX_KV / ctx)  # the profiler's concurrency at that point
    # OSL 2: one decode step, at context ISL + 1 = the row's context.
    cap = _together(n, ctx - 1, 2, profile)
    np.testing.assert_allclose(cap[1], itl, rtol=1e-6)


def test_long_decode_mean_itl_near_profiled_point(profile: dict) -> None:
    # 53 sequences at context 5595..5694 (mean 5644.5) over 100 steps: ITL within 1% of the
    # point measured at context 5644, kv 0.3165 (the context drifts +-0.9% during the run).
    n = round(0.31653208525875925 * MAX_KV / 5644)
    cap = _together(n, 5594, 101, profile)
    np.testing.assert_allclose(cap[1], 15.117307396226416, rtol=0.01)
    assert np.ptp(cap[1]) < 1e-9  # same steps for everyone


def test_kv_full_requests_wait_and_wait_counts_in_itl(profile: dict) -> None:
    # KV for exactly 3 sequences (full length reserved): 6 arrive together, 3 wait one whole
    # decode (same batch size and contexts, so the same duration D): their ITL is 2 D/(OSL-1).
    isl, osl = 1000, 50
    cap = _together(6, isl, osl, profile, max_kv_tokens=3 * (isl + osl))
    itl = np.sort(cap[1])
    np.testing.assert_allclose(itl[3:], 2 * itl[:3], rtol=1e-9)
    assert np.all(np.isfinite(cap[2]))


def test_max_num_seqs_caps_the_batch(profile: dict) -> None:
    cap = _together(4, 2996, 2, profile, max_num_seqs=2)
    itl = np.sort(cap[1])
    np.testing.assert_allclose(itl[2:], 2 * itl[:2], rtol=1e-9)


def test_fewest_sequences_routing_spreads_load(profile: dict) -> None:
    # 2 decode replicas, 2 sequences together: each runs alone at N=1 (row 2997, kv 0.00317).
    req = Requests.of(np.zeros(2), [2996, 2996], [2, 2])
    j = Judge(req, profile, capture=True, max_batched_tokens=2996)
    j.advance(100.0, 2, 2)
    j.finish()
    np.testing.assert_allclose(j.captured[1], 4.427375, rtol=1e-6)
