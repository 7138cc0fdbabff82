"""Sizing and queueing stay bounded in time whatever the input (issue 10, defect 3).

Each case hung before the fix (a Python loop over an astronomical server count); each runs
under support.bounded.finishes, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.bounded import finishes

from sla_planner.model.size import prefill_latency as pl
from sla_planner.model.size.sizing import SEARCH_CAP, size_decode, size_prefill

ISL, OSL, TTFT, ITL = 1155.0, 211.0, 200.0, 25.0


@pytest.mark.parametrize("servers", [1, 2, 7, 40, 333, 999, 1000])
@pytest.mark.parametrize("rho", [0.01, 0.3, 0.7, 0.9, 0.99, 0.9999])
def test_erlang_c_closed_form_agrees_with_the_recurrence(servers, rho):
    """Where both run, the O(1) closed form (Poisson pmf / cdf) equals the exact recurrence."""
    offered = rho * servers
    exact = pl.erlang_c_recurrence(servers, offered)
    closed = float(pl.erlang_c_closed_form(np.array([servers]), offered)[0])
    assert closed == pytest.approx(exact, rel=1e-9, abs=1e-12)


def test_erlang_c_is_continuous_across_the_switch_to_the_closed_form():
    a = 0.97 * pl.RECURRENCE_MAX_SERVERS
    below = pl.erlang_c(pl.RECURRENCE_MAX_SERVERS, a)
    above = pl.erlang_c(pl.RECURRENCE_MAX_SERVERS + 1, a)
    assert 0.0 < above < below  # one more server: strictly less waiting, no jump
    assert above == pytest.approx(below, rel=0.2)


@pytest.mark.parametrize(
    ("servers", "offered"),
    [(10**12, 0.9e12), (10**18, 1e17), (10**9, 1.0), (2**62, 2.0**62 * 0.999999)],
)
def test_erlang_c_is_bounded_for_astronomical_server_counts(servers, offered):
    p = finishes(lambda: pl.erlang_c(servers, offered))
    assert 0.0 <= p <= 1.0


def test_erlang_c_curve_is_bounded_and_matches_pointwise():
    curve = finishes(lambda: pl.erlang_c_curve(200_000, 150_000.0))
    assert curve.shape == (200_001,)
    for n in (149_999, 150_001, 150_500, 152_000, 200_000):
        assert curve[n] == pytest.approx(pl.erlang_c(n, 150_000.0), rel=1e-9, abs=1e-15)
    assert np.all(np.diff(curve[150_001:]) <= 1e-15)  # more servers, less waiting


def test_simulator_erlang_c_is_bounded(h200):
    from sla_planner.evaluation.sim_demand import SimDemand
    from sla_planner.evaluation.sim_prefill import ttft_share_per_bin

    bins = 4
    demand = SimDemand(
        0.0, 10.0, np.full(bins, 100.0), np.full(bins, ISL), np.full(bins, OSL),
        isl_sample=np.full(8, ISL),
    )  # fmt: skip
    ready = np.array([1, 10**7, 10**9, 3], dtype=np.int64)
    share = finishes(lambda: ttft_share_per_bin(h200, demand, ready, TTFT))
    assert np.all((share >= 0) & (share <= 1))
    assert share[1] == pytest.approx(1.0) and share[2] == pytest.approx(1.0)


@pytest.mark.parametrize("rate", [1e12, 1e18, 1e300])
def test_prefill_sizing_is_bounded_for_absurd_rates(h200, rate):
    r = finishes(lambda: size_prefill(h200, rate, ISL, TTFT))
    assert r.replicas == SEARCH_CAP
    assert "capped" in r.reason


@pytest.mark.parametrize(
    ("rate", "isl", "osl"), [(1e300, ISL, OSL), (5.0, ISL, 1e18), (1e300, 1e18, 1e18)]
)
def test_decode_sizing_is_bounded_for_absurd_demand(h200, rate, isl, osl):
    r = finishes(lambda: size_decode(h200, rate, isl, osl, ITL))
    assert 1 <= r.replicas <= SEARCH_CAP


def test_prefill_sizing_at_huge_minimum_is_bounded(h200):
    r = finishes(lambda: size_prefill(h200, 5.0, ISL, TTFT, min_replicas=10**9))
    assert r.replicas == 10**9 and math.isfinite(r.quantile_ms)


def test_budget_tables_are_capped_even_for_unvalidated_limits(h200):
    """Scoring tables span the replica counts a pool may take; with validated settings those
    are at most REPLICAS_LIMIT, and the fit caps them so even hand-built limits stay bounded."""
    from sla_planner.model.allocate.split import PoolRequest, fit_budget
    from sla_planner.model.config import REPLICAS_LIMIT, Budget, PoolLimits
    from sla_planner.model.size import latency_model as lm

    unbounded = PoolLimits.model_construct(min_replicas=1, max_replicas=None)
    budget = Budget.model_construct(
        max_gpus=10**15, min_prefill_decode_ratio=None, max_prefill_decode_ratio=10.0
    )

    def score(lo, hi):
        assert hi - lo <= REPLICAS_LIMIT
        return lm.ttft_attainment_curve(h200, 50.0, ISL, lo, hi, TTFT), np.ones(hi - lo + 1)

    a = finishes(
        lambda: fit_budget(
            PoolRequest(10**9, unbounded, 1, score), PoolRequest(1, unbounded, 1, score), budget
        )
    )
    assert a.prefill <= REPLICAS_LIMIT and a.decode <= REPLICAS_LIMIT
