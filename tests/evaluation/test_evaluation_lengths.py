"""The lengths the judge draws where a source knows only a distribution (issue 17 item 2):
histogram buckets give their shares and the source's mean, the default lognormal its mean and
SCV, draws are seeded, and the stream says which lengths it used."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sla_planner.evaluation.des_lengths import (
    ASSUMED,
    DEFAULT_ISL_SCV,
    DEFAULT_OSL_SCV,
    FROM_HISTOGRAMS,
    BinHistogram,
    LengthUsage,
    histogram_lengths,
    lognormal_lengths,
    scaled_pairs,
)

TWO = np.array([100.0, 1000.0])  # buckets (0, 100], (100, 1000], and above 1000


def _one_bin(counts, mean=math.nan, n=100_000, seed=0):
    hist = BinHistogram(TWO, np.array([counts], dtype=float), np.array([mean]))
    return histogram_lengths(np.random.default_rng(seed), hist, np.zeros(n, dtype=np.int64))


def test_a_two_bucket_histogram_gives_its_shares_exactly():
    # 30 observations at most 100 tokens, 70 between 101 and 1000: 10 requests drawn from it
    # are 3 and 7 (systematic sampling), whatever the seed; many are 30% / 70% to the request.
    for seed in range(5):
        x = _one_bin([30, 70, 0], n=10, seed=seed)
        assert (x <= 100).sum() == 3 and ((x > 100) & (x <= 1000)).sum() == 7
    x = _one_bin([30, 70, 0])
    assert (x <= 100).mean() == 0.3
    assert x.min() >= 1 and x.max() <= 1000 and np.all(x == np.round(x))
    # No mean known: uniform inside each bucket (integers 1..100 and 101..1000).
    assert x[x <= 100].mean() == pytest.approx(50.5, abs=0.5)
    assert x[x > 100].mean() == pytest.approx(550.5, abs=3)


@pytest.mark.parametrize("mean", [150.0, 300.0, 700.0])
def test_the_mean_the_source_reports_is_matched_inside_the_buckets(mean):
    x = _one_bin([30, 70, 0], mean=mean)
    assert x.mean() == pytest.approx(mean, rel=0.005)
    assert (x <= 100).mean() == 0.3  # the shares do not move to match it


def test_a_mean_the_buckets_cannot_give_gets_the_nearest_they_can():
    low = _one_bin([30, 70, 0], mean=50.0)  # 70% are above 100 tokens: the mean is > 70
    assert 70 < low.mean() < 75 and (low <= 100).mean() == 0.3
    high = _one_bin([30, 70, 0], mean=5000.0)
    assert 690 < high.mean() <= 1000 and high.max() <= 1000


def test_above_the_largest_finite_bucket_is_its_bound():
    x = _one_bin([0, 50, 50], mean=5000.0)
    assert (x == 1000).mean() >= 0.5 and x.max() == 1000


def test_draws_are_seeded_and_bins_keep_their_own_histograms():
    counts = np.array([[10, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=float)
    hist = BinHistogram(TWO, counts, np.array([40.0, 400.0, math.nan]))
    n = 20_000
    owner = np.repeat(np.arange(3), n)
    a = histogram_lengths(np.random.default_rng(7), hist, owner)
    b = histogram_lengths(np.random.default_rng(7), hist, owner)
    c = histogram_lengths(np.random.default_rng(8), hist, owner)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    first, second, third = a[:n], a[n : 2 * n], a[2 * n :]
    assert np.all(first <= 100) and np.all((second > 100) & (second <= 1000))
    assert np.all(third == 1000)
    assert first.mean() == pytest.approx(40.0, rel=0.01)
    assert second.mean() == pytest.approx(400.0, rel=0.01)


def test_a_bin_without_observations_takes_the_fallback_at_its_own_mean():
    hist = BinHistogram(TWO, np.zeros((2, 3)), np.array([math.nan, 500.0]))
    whole = BinHistogram(TWO, np.array([[50.0, 50.0, 0.0]]), np.array([300.0]))
    owner = np.repeat([0, 1], 20_000)
    x = histogram_lengths(np.random.default_rng(0), hist, owner, whole)
    assert (x[:20_000] <= 100).mean() == 0.5 and (x[20_000:] <= 100).mean() == 0.5
    assert x[:20_000].mean() == pytest.approx(300.0, rel=0.01)  # the fallback's mean
    assert x[20_000:].mean() == pytest.approx(500.0, rel=0.01)  # the bin's own
    assert np.isnan(histogram_lengths(np.random.default_rng(0), hist, owner)).all()


def test_the_default_lognormal_has_the_bins_mean_and_the_documented_scv():
    rng = np.random.default_rng(3)
    means = np.repeat([200.0, 2000.0], 200_000)
    for scv in (DEFAULT_ISL_SCV, DEFAULT_OSL_SCV):
        x = lognormal_lengths(rng, means, scv)
        for m, part in ((200.0, x[:200_000]), (2000.0, x[200_000:])):
            assert part.mean() == pytest.approx(m, rel=0.01)
            assert part.var() / part.mean() ** 2 == pytest.approx(scv, rel=0.05)
    # The documented figures: medians of the bundled traces' SCV within 10 s bins.
    assert (DEFAULT_ISL_SCV, DEFAULT_OSL_SCV) == (0.92, 0.58)


def test_scaled_pairs_keep_the_pool_shape_at_the_given_means():
    rng = np.random.default_rng(0)
    pool_isl = np.array([100.0, 300.0])
    pool_osl = np.array([10.0, 30.0])
    isl, osl = scaled_pairs(rng, pool_isl, pool_osl, 400.0, math.nan, 50_000)
    assert set(np.unique(isl)) == {200.0, 600.0}  # x2: the pool's mean 200 -> 400
    assert set(np.unique(osl)) == {10.0, 30.0}  # no mean: unscaled
    assert np.all((isl == 200.0) == (osl == 10.0))  # pairs stay pairs


def test_usage_says_which_lengths_and_warns_when_assumed():
    u = LengthUsage(FROM_HISTOGRAMS, fix="export the histograms")
    assert u.label == FROM_HISTOGRAMS and u.warning() is None  # nothing drawn yet
    u.add_both(FROM_HISTOGRAMS, 90)
    assert u.label == FROM_HISTOGRAMS and u.warning() is None
    u.add("OSL", ASSUMED, 10)
    u.add("ISL", FROM_HISTOGRAMS, 10)
    assert u.label == f"ISL: {FROM_HISTOGRAMS}; OSL: {ASSUMED} + {FROM_HISTOGRAMS}"
    w = u.warning()
    assert w is not None and "10.0% of the requests" in w and "export the histograms" in w
    assumed = LengthUsage(ASSUMED, fix="pass --tokens-from X")
    assumed.add_both(ASSUMED, 5)
    w = assumed.warning()
    assert assumed.label == ASSUMED and w is not None
    assert "lognormal" in w and "0.92" in w and "0.58" in w and "--tokens-from" in w
    assert "% of the requests" not in w
