"""Profile correction from observed latency: bounded smoothing, applied in sizing."""

from __future__ import annotations

import math

import pytest

from sla_planner.forecasters.registry import make_forecaster
from sla_planner.model.config import PlannerConfig
from sla_planner.model.planner import Planner
from sla_planner.model.size import latency_model as lm
from sla_planner.model.size.correction import CorrectedCurves, update_factor
from sla_planner.model.types import DemandSample


def test_update_factor_smooths_and_bounds():
    f = update_factor(1.0, 200.0, 100.0, alpha=0.5)
    assert f == pytest.approx(math.sqrt(2.0))  # halfway in log space
    assert update_factor(1.0, 1e6, 1.0, alpha=1.0) == 2.0  # bounded above
    assert update_factor(1.0, 1e-6, 1.0, alpha=1.0) == 0.5  # and below
    for bad in (None, math.nan, math.inf, 0.0, -1.0):
        assert update_factor(1.3, bad, 100.0) == 1.3  # no information: unchanged
        assert update_factor(1.3, 100.0, bad) == 1.3


def test_corrected_curves_scale_latency(h200):
    cc = CorrectedCurves(h200, prefill_factor=1.5, decode_factor=2.0)
    assert cc.prefill_ttft_ms(1000.0) == pytest.approx(1.5 * h200.prefill_ttft_ms(1000.0))
    assert cc.prefill_capacity_tps(1000.0) == pytest.approx(h200.prefill_capacity_tps(1000.0) / 1.5)
    assert cc.decode_itl_ms(10.0, 1500.0) == pytest.approx(2.0 * h200.decode_itl_ms(10.0, 1500.0))
    assert cc.decode_max_concurrency(1500.0, 25.0) == pytest.approx(
        h200.decode_max_concurrency(1500.0, 12.5)
    )
    assert cc.gpus_per_replica == h200.gpus_per_replica  # everything else passes through


def test_correcting_planner_learns_slower_engines_and_sizes_up(h200):
    cfg = PlannerConfig(slo={"attainment": None})

    def build():
        p = Planner.of_one(
            cfg, h200, forecaster_factory=lambda: make_forecaster("last"), latency_correction=True
        )
        cc = p.deployment().variants[0].prefill.curves
        assert isinstance(cc, CorrectedCurves)
        return p, cc

    plain, _ = build()
    slow, cc = build()
    rate, isl, osl = 40.0, 1200.0, 200.0
    t = 0.0
    for _ in range(15):
        dp, ds = plain.decide(t).only, slow.decide(t).only
        exp_t = lm.expected_ttft_ms(h200, rate, isl, ds.prefill.replicas)
        exp_i = lm.expected_itl_ms(h200, rate, isl, osl, ds.decode.replicas)
        # Production runs 1.6x slower than the profile in both phases.
        plain.observe(DemandSample(t, 60.0, rate * 60, isl, osl))
        slow.observe(
            DemandSample(
                t, 60.0, rate * 60, isl, osl, ttft_mean_ms=1.6 * exp_t, itl_mean_ms=1.6 * exp_i
            )
        )
        t += 60.0
    assert cc.prefill_factor == pytest.approx(1.6, rel=0.05)
    assert cc.decode_factor == pytest.approx(1.6, rel=0.05)
    dp, ds = plain.decide(t).only, slow.decide(t).only
    assert ds.decode.replicas > dp.decode.replicas
    assert ds.prefill.replicas >= dp.prefill.replicas
