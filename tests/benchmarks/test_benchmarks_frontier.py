"""Equal-attainment comparison against a baseline's cost/attainment frontier
(benchmarks/frontier.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from frontier import Point, cost_at, judge, pareto  # noqa: E402

HPA = [
    Point(0.99997, 1183.0, "hpa 70%"),
    Point(0.99982, 1114.0, "hpa 75%"),
    Point(0.99807, 1044.0, "hpa 80%"),
    Point(0.98332, 990.0, "hpa 85%"),
    Point(0.98000, 1100.0, "hpa odd"),  # worse on both axes than 80%: off the frontier
]


def test_pareto_drops_dominated_settings_and_sorts_by_attainment():
    front = pareto(HPA)
    assert [p.label for p in front] == ["hpa 85%", "hpa 80%", "hpa 75%", "hpa 70%"]


def test_cost_at_interpolates_between_neighbouring_settings():
    mid = (0.99807 + 0.99982) / 2
    assert cost_at(HPA, mid) == pytest.approx((1044.0 + 1114.0) / 2)
    assert cost_at(HPA, 0.99982) == pytest.approx(1114.0)
    assert cost_at(HPA, 0.95) == 990.0  # its cheapest setting already reaches it
    assert cost_at(HPA, 0.999999) is None  # no setting reaches it
    assert cost_at([], 0.99) is None


def test_verdicts():
    # Cheaper than the frontier at our attainment: met.
    v = judge("hpa", Point(0.99895, 1070.0, "ours"), HPA)
    assert v.matched_gpu_hours == pytest.approx(1044.0 + 70.0 * (0.99895 - 0.99807) / 0.00175)
    assert v.wins and v.ratio < 1 and v.describe().startswith("met")
    # Above the frontier: not met, even though no single setting dominates us.
    v = judge("hpa", Point(0.99895, 1100.0, "ours"), HPA)
    assert not v.wins and not v.dominated_by and v.describe().startswith("not met")
    # A setting at least as good on both axes: not met, and named.
    v = judge("hpa", Point(0.9980, 1050.0, "ours"), HPA)
    assert v.dominated_by == ("hpa 80%",) and not v.wins and "hpa 80%" in v.describe()
    # Beyond every setting's attainment: the family cannot match it.
    v = judge("hpa", Point(0.999999, 1500.0, "ours"), HPA)
    assert v.matched_gpu_hours is None and v.wins and "no hpa setting" in v.describe()
    assert "its best: 100.00% at 1183.0 GPU-h" in v.describe()


def test_a_family_with_no_settings_cannot_match_and_says_so():
    v = judge("HPA", Point(0.99, 10.0, "ours"), [])
    assert v.matched_gpu_hours is None and v.wins
    assert v.describe() == "met: no HPA setting reaches 99.00%"
