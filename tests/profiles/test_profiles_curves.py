"""ProfileCurves on the real H200 profile: batching, monotonicity, clamping, decode capacity."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla_planner.profiles.errors import ProfileRangeWarning
from sla_planner.profiles.interpolation import ProfileCurves

ISL_LO, ISL_HI = 100.0, 16372.0
CTX_LO, CTX_HI = 350.0, 13585.0

# Inside and well outside the measured ranges.
tokens = st.floats(min_value=1.0, max_value=60000.0, allow_nan=False)
contexts = st.floats(min_value=10.0, max_value=40000.0, allow_nan=False)
loads = st.floats(min_value=0.0, max_value=3000.0, allow_nan=False)
itl_targets = st.floats(min_value=0.5, max_value=100.0, allow_nan=False)
PROPS = settings(max_examples=150, deadline=None)


@pytest.fixture(scope="module")
def quiet(bundled):
    return ProfileCurves(bundled, warn=lambda _m: None)


# -- prefill ----------------------------------------------------------------------------------


def test_prefill_ttft_matches_measurements(curves, bundled):
    # The real TTFTs are already monotone, so smoothing leaves them untouched.
    measured = np.array(bundled.prefill.ttft_ms)
    assert np.allclose(curves.prefill_ttft_ms(np.array(bundled.prefill.isl)), measured)
    mid = (bundled.prefill.isl[3] + bundled.prefill.isl[4]) / 2
    assert curves.prefill_ttft_ms(mid) == pytest.approx((measured[3] + measured[4]) / 2)
    assert isinstance(curves.prefill_ttft_ms(1000.0), float)


def test_prefill_capacity_models_batching(curves):
    alone = 500 / curves.prefill_ttft_ms(500) * 1000
    batched = curves.prefill_capacity_tps(500)
    assert batched > 2.5 * alone  # ~48k vs ~18.5k tokens/s
    assert batched == pytest.approx(8192 / curves.prefill_ttft_ms(8192) * 1000)
    # A prompt longer than the batch cap runs alone.
    assert curves.prefill_capacity_tps(12000) == pytest.approx(
        12000 / curves.prefill_ttft_ms(12000) * 1000
    )


def test_prefill_capacity_respects_max_batched_tokens(bundled):
    small = ProfileCurves(bundled.model_copy(update={"max_batched_tokens": 2048}))
    big = ProfileCurves(bundled)
    assert small.prefill_capacity_tps(500) < big.prefill_capacity_tps(500)


def test_prefill_isotonic_smoothing_of_noisy_points(bundled):
    noisy = bundled.model_copy(deep=True)
    noisy.prefill.ttft_ms[5] = noisy.prefill.ttft_ms[6] + 20  # a spike above its neighbour
    c = ProfileCurves(noisy)
    values = c.prefill_ttft_ms(np.array(noisy.prefill.isl))
    assert np.all(np.diff(values) >= 0)
    assert values[5] == pytest.approx(values[6])


@PROPS
@given(a=tokens, b=tokens)
def test_prefill_ttft_monotone(quiet, a, b):
    lo, hi = min(a, b), max(a, b)
    assert quiet.prefill_ttft_ms(lo) <= quiet.prefill_ttft_ms(hi) + 1e-9


@PROPS
@given(a=tokens, b=tokens)
def test_prefill_capacity_positive_and_batch_bounded(quiet, a, b):
    cap = quiet.prefill_capacity_tps(a)
    assert cap > 0
    # No ISL beats the batch-filling rate at the cap or at its own (larger) size.
    assert cap <= max(quiet.prefill_capacity_tps(8192), a / quiet.prefill_ttft_ms(a) * 1000) + 1e-6


def test_prefill_extrapolates_linearly_beyond_max_isl_and_warns_once(curves, warned):
    edge = curves.prefill_ttft_ms(ISL_HI)
    assert not warned.messages
    assert curves.prefill_ttft_ms(2 * ISL_HI) == pytest.approx(2 * edge)
    assert curves.prefill_ttft_ms(np.array([3 * ISL_HI]))[0] == pytest.approx(3 * edge)
    assert len(warned.messages) == 1
    assert "beyond the longest measured prompt (16372 tokens)" in warned.messages[0]
    assert "dynamo-h200-llama3.1-8b-fp8-tp1" in warned.messages[0]


def test_prefill_clamps_below_min_isl_without_a_warning(curves, warned):
    # Clamped to the shortest measured prompt's TTFT: conservative, nothing to act on.
    floor = curves.prefill_ttft_ms(ISL_LO)
    assert curves.prefill_ttft_ms(10) == floor and curves.prefill_ttft_ms(1) == floor
    assert not warned.messages


def test_default_warning_is_a_python_warning(bundled):
    c = ProfileCurves(bundled)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c.prefill_ttft_ms(50000)
        c.prefill_ttft_ms(60000)
    assert [w.category for w in caught] == [ProfileRangeWarning]


# -- decode -----------------------------------------------------------------------------------


def test_decode_throughput_matches_measured_points(curves, bundled):
    d = bundled.decode
    kv, ctx, thpt = map(np.asarray, (d.kv_usage, d.context_length, d.throughput_per_gpu))
    offered = kv * d.max_kv_tokens / ctx
    checked = 0
    for n, c, measured in zip(offered, ctx, thpt, strict=True):
        limit = curves.decode_load_limit(c)
        # The load limit is the sequences actually running (Little's law), 2-5% under offered.
        if n <= limit * 1.10:
            n = min(n, limit)
            assert curves.decode_throughput_tps(n, c) == pytest.approx(measured, rel=0.15)
            checked += 1
        else:
            # The engine ran fewer sequences than offered (vLLM's sequence cap): the curves
            # stop at what it ran, and its throughput there is the measured plateau.
            assert c == CTX_LO and n > 1000
            assert curves.decode_throughput_tps(limit, c) == pytest.approx(measured, rel=0.15)
    assert checked >= 38


def test_decode_itl_at_single_sequence(curves, bundled):
    assert curves.decode_itl_ms(1.0, CTX_LO) == pytest.approx(4.38, abs=0.05)
    assert curves.decode_itl_ms(1.0, CTX_HI) == pytest.approx(4.83, abs=0.05)


def test_decode_itl_vectorised(curves):
    n = np.array([1.0, 10.0, 50.0, 100.0])
    many = curves.decode_itl_ms(n, 4000.0)
    assert isinstance(many, np.ndarray) and many.shape == (4,)
    assert np.allclose(many, [curves.decode_itl_ms(x, 4000.0) for x in n])
    both = curves.decode_itl_ms(n, np.array([500.0, 4000.0, 9000.0, 12000.0]))
    assert np.allclose(
        both, [curves.decode_itl_ms(x, c) for x, c in zip(n, [500, 4000, 9000, 12000], strict=True)]
    )
    assert np.allclose(curves.decode_throughput_tps(n, 4000.0), n / many * 1000)


def test_decode_interpolates_between_rows_at_equal_concurrency(curves):
    lo, hi = curves.decode_itl_ms(50.0, 2997.0), curves.decode_itl_ms(50.0, 5644.0)
    assert lo < hi
    assert curves.decode_itl_ms(50.0, (2997.0 + 5644.0) / 2) == pytest.approx((lo + hi) / 2)


@PROPS
@given(n1=loads, n2=loads, c=contexts)
def test_decode_itl_monotone_in_concurrency(quiet, n1, n2, c):
    lo, hi = min(n1, n2), max(n1, n2)
    assert quiet.decode_itl_ms(lo, c) <= quiet.decode_itl_ms(hi, c) + 1e-9


@PROPS
@given(n=loads, c1=contexts, c2=contexts)
def test_decode_itl_monotone_in_context(quiet, n, c1, c2):
    lo, hi = min(c1, c2), max(c1, c2)
    assert quiet.decode_itl_ms(n, lo) <= quiet.decode_itl_ms(n, hi) + 1e-9


@PROPS
@given(c=contexts, t1=itl_targets, t2=itl_targets)
def test_decode_max_concurrency_monotone_in_target(quiet, c, t1, t2):
    lo, hi = min(t1, t2), max(t1, t2)
    assert quiet.decode_max_concurrency(c, lo) <= quiet.decode_max_concurrency(c, hi) + 1e-9


@PROPS
@given(c=contexts, t=itl_targets)
def test_decode_max_concurrency_meets_target_within_measured_load(quiet, c, t):
    n = quiet.decode_max_concurrency(c, t)
    if n == 0.0:
        assert quiet.decode_itl_ms(1.0, c) > t
        return
    assert n >= 1.0
    assert quiet.decode_itl_ms(n, c) <= t + 1e-6
    assert n <= quiet.decode_load_limit(c) + 1e-9
    # Maximal: a little more load either misses the target or leaves the measured range.
    more = n * 1.01 + 0.01
    assert quiet.decode_itl_ms(more, c) > t or more > quiet.decode_load_limit(c)


def test_decode_max_concurrency_zero_for_impossible_target(curves):
    assert curves.decode_max_concurrency(4000, 1.0) == 0.0
    assert curves.decode_max_concurrency(4000, 4.0) == 0.0  # one sequence alone takes ~4.5 ms
    assert curves.decode_max_throughput_tps(4000, 1.0) == 0.0


def test_decode_max_concurrency_on_real_rows(curves):
    # Row 2997: measured (97 seq, 15.5 ms) and (145 seq, 22.1 ms).
    n = curves.decode_max_concurrency(2997, 20.0)
    assert 97 < n < 145
    # A generous target stops at the measured load, never beyond.
    assert curves.decode_max_concurrency(2997, 1000.0) == pytest.approx(
        curves.decode_load_limit(2997)
    )
    assert curves.decode_load_limit(2997) == pytest.approx(283.4, abs=0.5)
    # Longer contexts hold fewer sequences at the same ITL.
    assert curves.decode_max_concurrency(8291, 20.0) < n


def test_decode_load_beyond_measured_warns_once(curves, warned):
    limit = curves.decode_load_limit(5644.0)
    curves.decode_itl_ms(limit, 5644.0)
    assert not warned.messages
    at_edge = curves.decode_itl_ms(limit, 5644.0)
    assert curves.decode_itl_ms(limit * 3, 5644.0) >= at_edge
    curves.decode_itl_ms(limit * 4, 5644.0)
    assert len(warned.messages) == 1 and "exceeds the measured load" in warned.messages[0]


def test_decode_context_outside_rows_clamps_and_warns_once_beyond(curves, warned):
    assert curves.decode_itl_ms(10.0, 100.0) == curves.decode_itl_ms(10.0, CTX_LO)
    assert curves.decode_itl_ms(10.0, 50000.0) == curves.decode_itl_ms(10.0, CTX_HI)
    curves.decode_itl_ms(10.0, 60000.0)
    curves.decode_max_concurrency(120.0, 25.0)
    # Below the shortest context (read there: conservative) no warning; beyond, one.
    beyond = [m for m in warned.messages if "beyond the longest measured (13585)" in m]
    assert len(beyond) == 1 and len(warned.messages) == 1
    # KV capacity still binds beyond the longest row: fewer sequences fit.
    assert curves.decode_load_limit(2 * CTX_HI) == pytest.approx(
        curves.decode_load_limit(CTX_HI) / 2
    )


def test_decode_isotonic_smoothing_of_noisy_row(curves):
    # Row 350 measured 46.6 ms then 41.0 ms at higher load; the curve never falls.
    values = curves.decode_itl_ms(np.linspace(1, 900, 200), CTX_LO)
    assert np.all(np.diff(values) >= 0)


def test_single_row_profile_works(bundled):
    d = bundled.decode
    keep = [i for i, c in enumerate(d.context_length) if c == 2997.0]
    one = bundled.model_copy(deep=True)
    for key in ("kv_usage", "context_length", "itl_ms", "throughput_per_gpu"):
        setattr(one.decode, key, [getattr(d, key)[i] for i in keep])
    c = ProfileCurves(one, warn=lambda _m: None)
    assert c.decode_context_range == (2997.0, 2997.0)
    assert c.decode_itl_ms(100.0, 9000.0) == c.decode_itl_ms(100.0, 2997.0)
    assert 97 < c.decode_max_concurrency(2997, 20.0) < 145
