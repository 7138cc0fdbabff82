"""Priced sizing: GPUs + price x expected misses, on hand-computed small grids and on the
measured H200 profile (properties)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from sla_planner.model.size.slo_price import HOUR_S, price_step, priced_on, shadow_price
from sla_planner.model.size.slo_sizing import (
    BurstMix,
    PoolModels,
    StepDemand,
    StepTables,
    expected_attainment,
    size_step,
)

# One rate node of 1 req/s: A(p, d) = a_p[p] x a_d[d], and the objective per second is
# p + d + k (1 - A) GPUs with k = 3600 x price (GPU-hours per miss) x 1 req/s.
A_P = [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999]
A_D = [0.0, 0.8, 0.99, 1.0, 1.0, 1.0]


def grid(gpus_decode: int = 1) -> tuple[PoolModels, StepTables]:
    m = PoolModels(None, None, 200.0, 25.0, 1.0, 1, gpus_decode, 1, 1)  # type: ignore[arg-type]
    t = StepTables(np.array([1.0]), np.array([1.0]), np.array([A_P]), np.array([A_D]))
    return m, t


@pytest.mark.parametrize(
    ("k", "pair"),
    [
        # k = 1: misses cheap; (1, 1) costs 2 + 1 x (1 - 0.4) = 2.6, the floor.
        (1.0, (1, 1)),
        # k = 10: (2, 2) 4 + 10 x 0.109 = 5.09 beats (3, 2) 5.199, (2, 1) 5.8, (2, 3) 6.
        (10.0, (2, 2)),
        # k = 100: (3, 2) 5 + 100 x 0.0199 = 6.99 beats (3, 3) 7.0 and (4, 2) 7.099.
        (100.0, (3, 2)),
        # k = 1000: (4, 3) 7 + 1000 x 0.001 = 8 beats (5, 3) 8.1 and (3, 3) 16.
        (1000.0, (4, 3)),
        # k = 1e5: (5, 3) 8 + 1e5 x 1e-4 = 18 beats (4, 3) 107; (5, 4) attains the same for
        # one GPU more.
        (1e5, (5, 3)),
        # k = 1 / 0.0099: (3, 2) 5 + 1.0101... x 1.99 and (3, 3) 6 + 1.0101... tie at
        # 7.0101...; the tie goes to the higher attainment.
        (1 / 0.0099, (3, 3)),
    ],
)
def test_the_priced_choice_on_a_small_grid(k, pair):
    m, t = grid()
    r = priced_on(m, t, k)
    assert (r.prefill, r.decode) == pair
    assert r.attainment == pytest.approx(A_P[pair[0]] * A_D[pair[1]])


def test_gpus_per_replica_enter_the_objective():
    # Decode replicas of 4 GPUs, k = 1000: (4, 3) costs 4 + 12 + 1 = 17, (4, 2) 4 + 8 + 10.99
    # = 22.99, (5, 3) 5 + 12 + 0.1 = 17.1: (4, 3) still; at k = 200: (4, 2) 12 + 2.198 =
    # 14.198 beats (4, 3) 16.2 and (3, 2) 11 + 3.98 = 14.98.
    m, t = grid(gpus_decode=4)
    assert (priced_on(m, t, 1000.0).prefill, priced_on(m, t, 1000.0).decode) == (4, 3)
    assert (priced_on(m, t, 200.0).prefill, priced_on(m, t, 200.0).decode) == (4, 2)


def test_the_search_is_the_brute_force_optimum_of_the_grid():
    m, t = grid()
    for k in (0.5, 3.0, 30.0, 300.0, 3000.0, 3e4):
        r = priced_on(m, t, k)
        obj = {
            (p, d): p + d + k * (1 - A_P[p] * A_D[d])
            for p, d in itertools.product(range(1, 6), range(1, 6))
        }
        assert r.prefill + r.decode + k * (1 - r.attainment) == pytest.approx(min(obj.values()))


@pytest.fixture(scope="module")
def models(h200) -> PoolModels:
    return PoolModels(h200, h200, 200.0, 25.0, prefill_scv=0.9, min_prefill=1, min_decode=1)


MIX = BurstMix.from_ratios([1.0, 1.1, 1.3], 6)


@pytest.mark.parametrize("rate", [5.0, 60.0, 200.0])
def test_price_step_is_the_cheapest_objective_on_the_real_profile(models, rate):
    """Brute force over every pair up to the answer + 3 in each pool."""
    step = StepDemand(rate, 0.1 * rate, 1100.0, 220.0)
    for price in (1e-5, 1e-4, 1e-3):
        r = price_step(models, step, MIX, price)
        k = HOUR_S * price * rate

        def obj(p: int, d: int, k: float = k) -> float:
            return p + d + k * (1.0 - expected_attainment(models, step, MIX, p, d))

        best = obj(r.prefill, r.decode)
        for p, d in itertools.product(range(1, r.prefill + 4), range(1, r.decode + 4)):
            assert obj(p, d) >= best - 1e-9 * max(best, 1.0), (price, p, d)


def test_a_higher_price_never_buys_fewer_gpus(models):
    rng = np.random.default_rng(7)
    for _ in range(25):
        rate = float(rng.uniform(1.0, 300.0))
        step = StepDemand(rate, rate * float(rng.uniform(0.0, 0.2)), 1100.0, 220.0)
        prev = -1
        for price in np.geomspace(1e-7, 1e-1, 13):
            r = price_step(models, step, MIX, float(price))
            assert r.prefill + r.decode >= prev, (rate, price)
            prev = r.prefill + r.decode


def test_the_shadow_price_keeps_the_goal_answer_or_buys_more(models):
    """At its shadow price, no pair cheaper than the goal's answer is priced better."""
    for rate in (20.0, 60.0, 150.0, 300.0):
        step = StepDemand(rate, 0.05 * rate, 1100.0, 220.0)
        g = size_step(models, step, MIX, 0.991)
        lam = shadow_price(models, step, MIX, 0.991)
        assert math.isfinite(lam) and lam > 0
        r = price_step(models, step, MIX, lam * 1.001)
        assert r.prefill + r.decode >= g.prefill + g.decode
        cheaper = price_step(models, step, MIX, lam * 0.5)
        assert cheaper.prefill + cheaper.decode <= r.prefill + r.decode


def test_no_demand_or_no_cheaper_pair_has_no_shadow_price(models):
    assert math.isnan(shadow_price(models, StepDemand(0.0, 0.0, 1000.0, 200.0), MIX, 0.99))
    # 0.5 req/s: one replica each reaches the goal: nothing cheaper to price against
    assert math.isnan(shadow_price(models, StepDemand(0.5, 0.0, 1000.0, 200.0), MIX, 0.99))


def test_unreachable_targets_are_reported_priced(h200):
    m = PoolModels(h200, h200, 50.0, 25.0, prefill_scv=0.0, min_prefill=1, min_decode=1)
    assert not price_step(m, StepDemand(5.0, 0.0, 16000.0, 200.0), BurstMix(), 1e-3).reachable
    r = price_step(m, StepDemand(0.0, 0.0, 1000.0, 200.0), BurstMix(), 1e-3)
    assert (r.prefill, r.decode, r.reachable) == (1, 1, True)


@pytest.mark.parametrize(
    ("k", "floor", "pair"),
    [
        # k = 1 alone takes (1, 1), A = 0.4; at least 0.85: (2, 2) 4 + 0.109 = 4.109 beats
        # (3, 2) A 0.9801 5.0199 and (2, 3) A 0.9 5.1 ((3, 1) A 0.792 is below)
        (1.0, 0.85, (2, 2)),
        # at least 0.95: (3, 2) A 0.9801, 5.0199, beats (3, 3) A 0.99, 6.01
        (1.0, 0.95, (3, 2)),
        # a floor below the priced choice changes nothing: k = 100 takes (3, 2), A 0.9801
        (100.0, 0.9, (3, 2)),
    ],
)
def test_a_priced_choice_never_expects_less_than_the_floor(k, floor, pair):
    m, t = grid()
    r = priced_on(m, t, k, floor)
    assert (r.prefill, r.decode) == pair and r.attainment >= floor


def test_a_floored_price_step_on_the_real_profile_stays_stable(models):
    # 150 req/s, a price so low the unfloored objective abandons the interval at the minimums
    step = StepDemand(150.0, 5.0, 1100.0, 220.0)
    bare = price_step(models, step, MIX, 1e-8)
    floored = price_step(models, step, MIX, 1e-8, floor=0.95)
    assert (bare.prefill, bare.decode) == (1, 1) and bare.attainment < 0.5
    assert floored.attainment >= 0.95
    assert (
        floored.prefill + floored.decode
        <= size_step(models, step, MIX, 0.99).prefill + size_step(models, step, MIX, 0.99).decode
    )
