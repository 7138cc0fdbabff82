"""Which intervals a scrape gap or NaN samples leave incomplete: hand-computed tables over the
pure coverage rule (the same faults through a real Prometheus: tests/faults)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sla_planner.sources.prometheus_counters import summed_increases
from sla_planner.sources.prometheus_coverage import coverage, max_sample_age

nan = math.nan
B = 1000.0 + 60.0 * np.arange(5)  # five boundaries, four 60 s intervals
A = (("instance", "a"),)
NAMED_A = (("__name__", "x_total"), *A)  # last_over_time keeps the name; timestamp() drops it
C = (("instance", "c"),)


def run(values, stamps, max_age=31.0, lookback=300.0):
    cov = coverage(
        {k: np.array(v, float) for k, v in values.items()},
        {k: np.array(v, float) for k, v in stamps.items()},
        B,
        max_age,
        lookback,
    )
    counts = summed_increases(list(cov.values.values()), B.size - 1).tolist()
    return counts, [w is not None for w in cov.incomplete], cov.incomplete


def test_fresh_data_is_complete_and_unchanged():
    counts, bad, _ = run({NAMED_A: [0, 60, 120, 180, 240]}, {A: B - 5})
    assert counts == [60, 60, 60, 60] and bad == [False] * 4


def test_scrape_gap_at_the_live_edge_is_incomplete_not_a_drop():
    # Prometheus was down from t=1110: boundaries 1180 and 1240 still see the sample of 1105.
    counts, bad, why = run({NAMED_A: [0, 60, 105, 105, 105]}, {A: [995, 1055, 1105, 1105, 1105]})
    assert bad == [False, False, True, True]
    assert "75 s old" in why[2] and "scrape gap" in why[2]
    assert counts == [60, 45, 0, 0]  # what was scraped so far is kept, and flagged


@pytest.mark.parametrize(
    ("values", "stamps", "counts"),
    [
        # A gap across boundary 1120, data again at 1180: its growth is spread, not 0 then 2x.
        ([0, 60, 65, 180, 240], [995, 1055, 1065, 1175, 1235], [60, 60, 60, 60]),
        # NaN at 1120 for the only series, finite again after: spread the same way.
        ([0, 60, nan, 180, 240], [995, 1055, 1115, 1175, 1235], [60, 60, 60, 60]),
    ],
    ids=["gap", "nan"],
)
def test_interior_faults_are_spread_and_complete(values, stamps, counts):
    got, bad, _ = run({NAMED_A: values}, {A: stamps})
    assert got == counts and bad == [False] * 4


def test_nan_on_one_series_of_two_flags_the_tail():
    # Series c is fine; a's counter turns NaN at 1180: its requests are missing, not zero.
    counts, bad, why = run(
        {NAMED_A: [0, 60, 120, nan, nan], C: [0, 10, 20, 30, 40]},
        {A: B - 1, C: B - 1},
    )
    assert bad == [False, False, True, True]
    assert "NaN" in why[2] and counts[:2] == [70, 70]


def test_before_the_data_begins_is_incomplete():
    counts, bad, _ = run({NAMED_A: [nan, nan, 0, 60, 120]}, {A: [nan, nan, 1115, 1175, 1235]})
    assert bad == [True, True, False, False] and counts == [0, 0, 60, 60]


def test_a_series_that_vanished_is_not_a_gap_while_another_is_fresh():
    # Pod a stopped after 1060 (its last value stays within the lookback); c carries the load.
    counts, bad, _ = run(
        {NAMED_A: [0, 60, 60, 60, 60], C: [0, 0, 60, 120, 180]},
        {A: [995, 1055, nan, nan, nan], C: B - 1},
    )
    assert bad == [False] * 4 and counts == [60, 60, 60, 60]


def test_max_sample_age_from_the_scrape_interval():
    assert max_sample_age(15.0, 300.0) == 31.0
    assert max_sample_age(None, 300.0) == 300.0  # unknown: only a sample beyond the lookback
