"""Prefill sized by the traffic's measured prompt-length SCV (planner/model/forecast/prompt_variability.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sla_planner.model.config import PlannerConfig
from sla_planner.model.forecast.prompt_variability import MIN_REQUESTS, PromptScvTracker
from sla_planner.model.planner import Planner
from sla_planner.model.size.sizing import POLICY_SERVICE_SCV, SizingPolicy
from sla_planner.model.types import DemandSample

T0 = 1_700_000_000.0


def test_pooled_scv_equals_the_scv_of_all_requests_together():
    rng = np.random.default_rng(3)
    parts = [rng.gamma(2.0, 400.0, 300), rng.gamma(1.0, 1500.0, 500), rng.gamma(4.0, 100.0, 200)]
    t = PromptScvTracker(window=10)
    for x in parts:
        t.observe(x.size, x.mean(), x.var() / x.mean() ** 2)
    allx = np.concatenate(parts)
    # Between-interval drift in mean length counts too, as a queue sees it.
    assert t.scv == pytest.approx(allx.var() / allx.mean() ** 2, rel=1e-9)


def test_too_few_requests_or_bad_rows_give_no_estimate():
    t = PromptScvTracker()
    t.observe(MIN_REQUESTS - 1, 1000.0, 0.9)
    assert t.scv is None
    for row in [(50, math.nan, 0.9), (50, 1000.0, None), (0, 1000.0, 0.9), (50, 1000.0, -1.0)]:
        t.observe(*row)
    assert t.scv is None
    t.observe(1, 1000.0, 0.9)
    assert t.scv == pytest.approx(0.9)


def test_window_forgets_old_traffic():
    t = PromptScvTracker(window=3)
    for _ in range(3):
        t.observe(1000, 1000.0, 3.0)
    for _ in range(3):
        t.observe(1000, 1000.0, 0.5)
    assert t.scv == pytest.approx(0.5)
    with pytest.raises(ValueError):
        PromptScvTracker(window=0)


def _planner_after(h200, scv: float | None, policy: SizingPolicy | None = None) -> Planner:
    cfg = PlannerConfig.model_validate(
        {
            "sla": {"ttft_ms": 200, "itl_ms": 25, "attainment": None},
            "forecaster": "last",
            "planning_quantile": 0.5,
        }
    )
    p = Planner.of_one(cfg, h200, policy=policy)
    for i in range(20):
        p.observe(DemandSample(T0 + 60 * i, 60.0, 3000.0, 2500.0, 200.0, isl_scv=scv))
    return p


def test_prefill_sized_by_the_measured_scv_with_its_margin(h200):
    uniform = _planner_after(h200, 0.2)
    heavy = _planner_after(h200, 6.0)
    unknown = _planner_after(h200, None)
    assert uniform.deployment().demand.prefill_scv == pytest.approx(0.2 * 1.25)
    assert heavy.deployment().demand.prefill_scv == pytest.approx(6.0 * 1.25)
    assert unknown.deployment().demand.prefill_scv == POLICY_SERVICE_SCV  # no data: the fixed value
    now = T0 + 20 * 60
    n = [p.decide(now).only.prefill.replicas for p in (uniform, unknown, heavy)]
    assert n[0] < n[1] < n[2], n
    fixed = _planner_after(h200, 0.2, SizingPolicy(prefill_scv_margin=None))
    assert fixed.deployment().demand.prefill_scv == POLICY_SERVICE_SCV
    assert fixed.decide(now).only.prefill.replicas == n[1]


def test_policy_rejects_a_non_positive_margin():
    with pytest.raises(ValueError, match="prefill_scv_margin"):
        SizingPolicy(prefill_scv_margin=0.0)
