"""The latency model: queueing formulas against closed forms, and behaviour on the real profile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sla_planner.model.size import latency_model as lm

ISL, OSL = 1155.0, 211.0  # Azure 2023 conversation trace means


# -- Erlang C -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("servers", "offered", "expected"),
    [(1, 0.5, 0.5), (2, 1.0, 1 / 3), (5, 4.0, 0.5541), (10, 5.0, 0.03610)],
)
def test_erlang_c_matches_textbook_values(servers, offered, expected):
    assert lm.erlang_c(servers, offered) == pytest.approx(expected, abs=2e-4)


def test_erlang_c_edges_and_curve_agree():
    assert lm.erlang_c(3, 3.0) == 1.0  # saturated
    assert lm.erlang_c(3, 0.0) == 0.0
    curve = lm.erlang_c_curve(12, 4.2)
    for n in range(5, 13):
        assert curve[n] == pytest.approx(lm.erlang_c(n, 4.2), rel=1e-12)
    assert (curve[:5] == 1.0).all()  # n <= offered: everyone waits


# -- prefill ---------------------------------------------------------------------------------
def test_single_replica_mean_wait_is_mm1(linear):
    # n = 1, cs^2 = 1: M/M/1, mean wait = rho * S / (1 - rho).
    cap = linear.prefill_capacity_tps(ISL)
    s = ISL / cap
    rate = 0.6 / s
    got = lm.expected_ttft_ms(linear, rate, ISL, 1, service_scv=1.0)
    base = linear.prefill_ttft_ms(ISL)
    assert got - base == pytest.approx(1000 * 0.6 * s / 0.4, rel=1e-9)
    # Deterministic service halves the wait (Allen-Cunneen / Pollaczek-Khinchine).
    det = lm.expected_ttft_ms(linear, rate, ISL, 1, service_scv=0.0)
    assert det - base == pytest.approx((got - base) / 2, rel=1e-9)


def test_ttft_is_base_when_idle_and_inf_when_overloaded(h200):
    base = h200.prefill_ttft_ms(ISL)
    assert lm.expected_ttft_ms(h200, 0.0, ISL, 1) == pytest.approx(base)
    saturating = 2 * h200.prefill_capacity_tps(ISL) / ISL  # exactly rho = 1 on 2 replicas
    assert lm.expected_ttft_ms(h200, saturating, ISL, 2) == math.inf
    assert lm.ttft_quantile_ms(h200, saturating, ISL, 2) == math.inf
    assert lm.ttft_attainment(h200, saturating, ISL, 2, 200.0) == 0.0
    assert lm.expected_ttft_ms(h200, 1.0, ISL, 0) == math.inf


def test_ttft_rises_with_load_and_falls_with_replicas(h200):
    rates = [5.0, 50.0, 90.0, 130.0, 170.0]
    by_rate = [lm.expected_ttft_ms(h200, r, ISL, 5) for r in rates]
    assert by_rate == sorted(by_rate) and by_rate[-1] > by_rate[0]
    by_n = [lm.ttft_quantile_ms(h200, 180.0, ISL, n) for n in range(5, 10)]
    assert by_n == sorted(by_n, reverse=True)


def test_ttft_quantile_and_attainment_are_inverse(h200):
    for q in (0.9, 0.99, 0.999):
        t = lm.ttft_quantile_ms(h200, 180.0, ISL, 5, quantile=q)
        assert t > h200.prefill_ttft_ms(ISL)  # 5 replicas at 180 req/s do queue
        assert lm.ttft_attainment(h200, 180.0, ISL, 5, t) == pytest.approx(q, abs=1e-9)
    p90 = lm.ttft_quantile_ms(h200, 180.0, ISL, 5, 0.9)
    p99 = lm.ttft_quantile_ms(h200, 180.0, ISL, 5, 0.99)
    assert p99 > p90


def test_ttft_attainment_curve_matches_pointwise(h200):
    curve = lm.ttft_attainment_curve(h200, 180.0, ISL, 1, 9, 200.0)
    point = [lm.ttft_attainment(h200, 180.0, ISL, n, 200.0) for n in range(1, 10)]
    assert np.allclose(curve, point, atol=1e-12)
    assert curve[0] == 0.0 and curve[-1] > 0.99  # 1 replica is overloaded, 9 are plenty


# -- decode ----------------------------------------------------------------------------------
def test_decode_fixed_point_matches_closed_form(linear):
    # ITL = c + k*(m + 1) and m = a * ITL with a = (lambda/n) osl / 1000:
    # m = a (c + k) / (1 - a k).
    rate, n = 40.0, 2
    a = rate / n * OSL / 1000.0
    want = a * (linear.c + linear.k) / (1 - a * linear.k)
    got = lm.decode_concurrency(linear, rate, ISL, OSL, n)
    assert got == pytest.approx(want, rel=1e-6)
    assert lm.expected_itl_ms(linear, rate, ISL, OSL, n) == pytest.approx(
        linear.c + linear.k * (want + 1), rel=1e-6
    )


def test_decode_satisfies_littles_law_on_real_profile(h200):
    ctx = lm.decode_context(ISL, OSL)
    for rate, n in [(5.5, 1), (50.0, 2), (180.0, 4), (180.0, 6)]:
        m = lm.decode_concurrency(h200, rate, ISL, OSL, n)
        itl = h200.decode_itl_ms(m + 1, ctx)
        assert m == pytest.approx(rate / n * OSL * itl / 1000.0, rel=1e-3)


def test_decode_over_kv_capacity_is_inf(h200):
    ctx = lm.decode_context(ISL, OSL)
    limit = lm.decode_load_limit(h200, ctx)
    # Throughput at the KV limit, per replica; 20% more than that cannot fit.
    per_replica = limit / (OSL * h200.decode_itl_ms(limit, ctx) / 1000.0)
    assert lm.expected_itl_ms(h200, 1.2 * per_replica * 3, ISL, OSL, 3) == math.inf
    assert lm.itl_attainment(h200, 1.2 * per_replica * 3, ISL, OSL, 3, 25.0) == 0.0
    assert math.isfinite(lm.expected_itl_ms(h200, 0.5 * per_replica * 3, ISL, OSL, 3))
    assert lm.decode_served_fraction(h200, 1.2 * per_replica * 3, ISL, OSL, 3) == pytest.approx(
        1 / 1.2, rel=1e-6
    )


def test_itl_rises_with_load_and_falls_with_replicas(h200):
    by_rate = [lm.expected_itl_ms(h200, r, ISL, OSL, 4) for r in (1, 30, 90, 150, 180)]
    assert by_rate == sorted(by_rate) and by_rate[-1] > 2 * by_rate[0]
    by_n = [lm.expected_itl_ms(h200, 180.0, ISL, OSL, n) for n in range(4, 9)]
    assert by_n == sorted(by_n, reverse=True)
    # Idle: one sequence alone.
    ctx = lm.decode_context(ISL, OSL)
    assert lm.expected_itl_ms(h200, 0.0, ISL, OSL, 1) == pytest.approx(h200.decode_itl_ms(1, ctx))


def test_itl_quantile_and_attainment_agree(h200):
    q95 = lm.itl_quantile_ms(h200, 180.0, ISL, OSL, 4, 0.95)
    mean = lm.expected_itl_ms(h200, 180.0, ISL, OSL, 4)
    assert q95 > mean
    assert lm.itl_attainment(h200, 180.0, ISL, OSL, 4, q95) == pytest.approx(0.95, abs=0.01)


def test_itl_attainment_curve_matches_pointwise(h200):
    curve = lm.itl_attainment_curve(h200, 180.0, ISL, OSL, 1, 8, 25.0)
    point = [lm.itl_attainment(h200, 180.0, ISL, OSL, n, 25.0) for n in range(1, 9)]
    assert np.allclose(curve, point, atol=1e-6)
    assert curve[0] == 0.0 and curve[-1] == pytest.approx(1.0)
    served = lm.decode_served_curve(h200, 180.0, ISL, OSL, 1, 8)
    assert np.allclose(
        served, [lm.decode_served_fraction(h200, 180.0, ISL, OSL, n) for n in range(1, 9)]
    )
