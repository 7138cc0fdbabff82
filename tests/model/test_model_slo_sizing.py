"""Sizing both pools to an expected-attainment goal, on the measured H200 profile."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sla_planner.model.size import latency_model as lm
from sla_planner.model.size.slo_sizing import (
    BurstMix,
    DecodeShare,
    PoolModels,
    StepDemand,
    decode_table,
    expected_attainment,
    prefill_table,
    prompt_nodes,
    size_step,
)


@pytest.fixture(scope="module")
def models(h200) -> PoolModels:
    return PoolModels(h200, h200, 200.0, 25.0, prefill_scv=0.9, min_prefill=1, min_decode=1)


def test_burst_mixture_keeps_the_mean_rate_and_weighs_by_requests():
    # one ratio r = 2 over k = 6 sub-windows: one at 2x, five at (6 - 2)/5 = 0.8x; the peak
    # carries 2/6 of the requests, the rest 4/6; time-weighted mean rate 2/6 + 5/6 x 0.8 = 1
    mix = BurstMix.from_ratios([2.0], 6)
    assert mix.multipliers == pytest.approx((2.0, 0.8))
    assert mix.shares == pytest.approx((1 / 3, 2 / 3))
    assert BurstMix.from_ratios([]) == BurstMix()  # no ratios: no bursts
    mix5 = BurstMix.from_ratios([1.0, 1.5, 1.2, 3.0, 1.1], 6)
    assert sum(mix5.shares) == pytest.approx(1.0)
    time_share = np.asarray(mix5.shares) / np.asarray(mix5.multipliers)
    assert float(np.dot(time_share, mix5.multipliers) / time_share.sum()) == pytest.approx(1.0)


def test_rate_nodes_without_spread_all_sit_on_the_mean():
    rates, w = StepDemand(10.0, 0.0, 1000.0, 200.0).nodes()
    assert np.allclose(rates, 10.0) and w.sum() == pytest.approx(10.0)
    rates, w = StepDemand(10.0, 3.0, 1000.0, 200.0).nodes()
    assert float(np.dot(w, np.ones_like(w))) == pytest.approx(10.0, rel=0.01)  # E[rate]
    assert rates.min() == 0.0  # clipped at zero (the lowest node is 10 - 4.5 x 3 < 0)


def test_prompt_nodes_keep_the_mean_and_scv():
    lengths, p = prompt_nodes(1000.0, 1.0)
    assert p.sum() == pytest.approx(1.0)
    mean = float(np.dot(p, lengths))
    scv = float(np.dot(p, lengths**2)) / mean**2 - 1
    assert mean == pytest.approx(1000.0, rel=0.08) and scv == pytest.approx(1.0, rel=0.25)
    same, _ = prompt_nodes(1000.0, 0.0)
    assert np.allclose(same, 1000.0)


def test_prefill_table_is_the_latency_models_curve_for_uniform_prompts(h200, models):
    """With every prompt the same length (SCV 0), each row is lm.ttft_attainment_curve."""
    m = PoolModels(h200, h200, 200.0, 25.0, prefill_scv=0.0)
    step = StepDemand(50.0, 0.0, 1100.0, 200.0)
    rates = np.array([0.0, 1.0, 10.0, 50.0, 80.0, 200.0])
    table = prefill_table(m, step, rates, 30)
    ref = np.stack([lm.ttft_attainment_curve(h200, r, 1100.0, 0, 30, 200.0, 0.0) for r in rates])
    assert np.allclose(table, ref, atol=1e-12)


def test_decode_table_is_the_latency_models_itl_attainment(h200, models):
    step = StepDemand(20.0, 0.0, 1100.0, 200.0)
    ds = DecodeShare(models, step)
    table = decode_table(ds, np.array([20.0]), 12)[0]
    ref = [lm.itl_attainment(h200, 20.0, 1100.0, 200.0, n, 25.0) for n in range(13)]
    assert np.allclose(table[1:], ref[1:], atol=2e-3)  # tabulated against per-replica rate
    assert table[0] == 0.0


def test_zero_demand_takes_the_minimums(models):
    r = size_step(models, StepDemand(0.0, 0.0, 1000.0, 200.0), BurstMix(), 0.99)
    assert (r.prefill, r.decode, r.attainment, r.reachable) == (1, 1, 1.0, True)


@pytest.mark.parametrize("goal", [0.9, 0.99, 0.999])
@pytest.mark.parametrize("rate", [5.0, 60.0, 200.0])
def test_size_step_is_the_cheapest_pair_reaching_the_goal(models, goal, rate):
    """Brute force over every pair up to the answer + 3 in each pool."""
    step = StepDemand(rate, 0.15 * rate, 1100.0, 220.0)
    mix = BurstMix.from_ratios([1.0, 1.1, 1.3], 6)
    r = size_step(models, step, mix, goal)
    assert r.reachable and r.attainment >= goal
    assert r.attainment == pytest.approx(
        expected_attainment(models, step, mix, r.prefill, r.decode)
    )
    best = r.prefill + r.decode
    for p, d in itertools.product(range(1, r.prefill + 4), range(1, r.decode + 4)):
        if p + d < best:
            assert expected_attainment(models, step, mix, p, d) < goal, (p, d)


def test_more_demand_or_a_stricter_goal_never_gives_fewer_replicas(models):
    mix = BurstMix.from_ratios([1.2], 6)
    prev = (0, 0)
    for rate in (1.0, 10.0, 40.0, 90.0, 160.0):
        for goal in (0.9, 0.99, 0.999):
            r = size_step(models, StepDemand(rate, 0.1 * rate, 1100.0, 220.0), mix, goal)
            assert r.prefill >= prev[0] or goal == 0.9
        r9 = size_step(models, StepDemand(rate, 0.1 * rate, 1100.0, 220.0), mix, 0.9)
        r999 = size_step(models, StepDemand(rate, 0.1 * rate, 1100.0, 220.0), mix, 0.999)
        assert r999.prefill >= r9.prefill and r999.decode >= r9.decode
        assert r9.prefill >= prev[0] and r9.decode >= prev[1]
        prev = (r9.prefill, r9.decode)


def test_unreachable_targets_are_reported(h200):
    # every prompt of ~16k tokens takes ~330 ms on an idle replica: a 50 ms TTFT is out of reach
    m = PoolModels(h200, h200, 50.0, 25.0, prefill_scv=0.0, min_prefill=1, min_decode=1)
    r = size_step(m, StepDemand(5.0, 0.0, 16000.0, 200.0), BurstMix(), 0.99)
    assert not r.reachable
    # an ITL target no concurrency meets
    m = PoolModels(h200, h200, 200.0, 0.5, prefill_scv=0.0, min_prefill=1, min_decode=1)
    assert not size_step(m, StepDemand(5.0, 0.0, 1000.0, 200.0), BurstMix(), 0.99).reachable


def test_gpus_per_replica_steer_the_split(h200):
    """With decode replicas four times the GPUs, the cheapest pair leans on prefill."""
    step = StepDemand(120.0, 10.0, 1100.0, 220.0)
    even = size_step(PoolModels(h200, h200, 200.0, 25.0, 0.9), step, BurstMix(), 0.99)
    heavy = size_step(
        PoolModels(h200, h200, 200.0, 25.0, 0.9, gpus_decode=4), step, BurstMix(), 0.99
    )
    assert heavy.decode <= even.decode and heavy.prefill >= even.prefill
