"""Baseline rules on hand-checkable cases, and the oracle as a lower bound on a real slice."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.loops import open_loop

from sla_planner.evaluation.sim_demand import demand_from_requests
from sla_planner.evaluation.simulator import Schedule, simulate_decisions
from sla_planner.model.config import PlannerConfig
from sla_planner.model.types import DemandSample
from sla_planner_bench.baselines.common import scale_to_budget
from sla_planner_bench.baselines.dynamo_classic import (
    DynamoClassicPolicy,
    dynamo_decode_replicas,
    dynamo_prefill_replicas,
)
from sla_planner_bench.baselines.hpa import HPAPolicy
from sla_planner_bench.baselines.oracle import (
    SchedulePolicy,
    forward_max,
    oracle_needs,
    oracle_schedule,
    static_peak,
)
from sla_planner_bench.baselines.static import StaticPolicy

CFG = PlannerConfig()


def _sample(t: float, requests: float, isl: float = 1117.0, osl: float = 200.0) -> DemandSample:
    return DemandSample(t, 60.0, requests, isl, osl)


def test_dynamo_prefill_rule_by_hand(h200):
    prof = h200.profile
    # ISL 1117 is a measured point: thpt/GPU there is the raw profile value.
    i = prof.prefill.isl.index(1117.0)
    tps = prof.prefill.throughput_per_gpu[i]
    req = 3000.0  # per 60 s interval
    want = math.ceil(req * 1117.0 / 60.0 / tps / 1)
    assert dynamo_prefill_replicas(prof, req, 1117.0, 60.0, 1) == want
    assert want == math.ceil(50 * 1117 / tps)
    assert dynamo_prefill_replicas(prof, 0.0, 1117.0, 60.0, 1) == 1  # at least one


def test_dynamo_decode_rule_by_hand(h200):
    isl, osl, req = 1000.0, 300.0, 6000.0
    best = h200.decode_max_throughput_tps(isl + osl / 2, 25.0)  # per replica = per GPU (TP1)
    want = math.ceil(req * osl / 60.0 / best)
    assert want >= 2
    assert dynamo_decode_replicas(h200, req, isl, osl, 60.0, 25.0) == want


def test_dynamo_budget_scales_both_by_the_same_factor():
    assert scale_to_budget(6, 10, 1, 1, None) == (6, 10)
    assert scale_to_budget(6, 10, 1, 1, 8) == (3, 5)  # factor 0.5: floor(3), decode the rest
    assert scale_to_budget(1, 10, 1, 1, 4) == (1, 3)  # prefill keeps one
    p, d = scale_to_budget(9, 3, 2, 2, 12)
    assert 2 * p + 2 * d <= 12 and p >= 1 and d >= 1


def test_dynamo_policy_uses_the_constant_prediction(h200):
    pol = DynamoClassicPolicy(CFG, h200, predictor="constant")
    assert pol.decide(0.0).only.prefill.replicas == 1  # no data: the minimum
    pol.observe(_sample(0.0, 3000.0))
    d = pol.decide(60.0).only
    assert d.prefill.replicas == dynamo_prefill_replicas(h200.profile, 3000.0, 1117.0, 60.0, 1)
    assert d.decode.replicas == dynamo_decode_replicas(h200, 3000.0, 1117.0, 200.0, 60.0, 25.0)


def test_hpa_rule(h200):
    pol = HPAPolicy(CFG, h200)
    cap = h200.prefill_capacity_tps(1117.0)
    # Demand at 1.4 x one replica's capacity: utilisation 140% -> ceil(1 * 1.4 / 0.7) = 2.
    rate = 1.4 * cap / 1117.0
    pol.observe(_sample(0.0, rate * 60.0))
    assert pol.decide(60.0).only.prefill.replicas == 2
    # Within the 10% tolerance of 70%: no change.
    pol2 = HPAPolicy(CFG, h200)
    pol2.observe(_sample(0.0, 0.72 * cap / 1117.0 * 60.0))
    assert pol2.decide(60.0).only.prefill.replicas == 1
    # Scale-up at once; scale-down held for the 5-minute window.
    pol3 = HPAPolicy(CFG, h200)
    t = 0.0
    pol3.observe(_sample(t, 4.0 * 0.7 * cap / 1117.0 * 60.0))
    t += 60
    up = pol3.decide(t).only.prefill.replicas
    assert up == 4
    seen = []
    for _ in range(8):
        pol3.observe(_sample(t, 0.1 * cap / 1117.0 * 60.0))
        t += 60
        seen.append(pol3.decide(t).only.prefill.replicas)
    assert seen[:4] == [4, 4, 4, 4]  # held while the high recommendation is < 300 s old
    assert seen[-1] == 1


def test_forward_max_and_oracle_schedule():
    assert forward_max(np.array([1, 3, 2, 1, 1, 5]), 2).tolist() == [3, 3, 2, 5, 5, 5]
    from sla_planner_bench.baselines.oracle import OracleNeeds

    needs = OracleNeeds(0.0, 60.0, np.array([1, 1, 4, 1, 1]), np.array([2, 2, 2, 2, 3]))
    s = oracle_schedule(needs, 120.0)
    assert s.prefill.tolist() == [4, 4, 4, 1, 1]  # asked exactly startup ahead, kept while needed
    assert s.decode.tolist() == [2, 2, 3, 3, 3]


def test_oracle_is_the_lower_bound_on_a_real_slice(h200, conv_trace):
    # 30 minutes of the Azure conv trace at 5x (arrivals compressed in time).
    t = (conv_trace.arrival_s - conv_trace.start) * 0.2
    keep = t < 1800
    dm = demand_from_requests(t[keep], conv_trace.isl[keep], conv_trace.osl[keep], 0.0, 1800.0)
    needs = oracle_needs(dm, h200, CFG)
    oracle = SchedulePolicy(CFG, oracle_schedule(needs, CFG.startup_s))

    class Source:  # the same demand at 60 s for the policies
        def time_range(self):
            return (0.0, 1800.0)

        def fetch(self, start, end, step_s):
            out = []
            for k in range(round((end - start) / step_s)):
                lo = start + k * step_s
                sel = keep & (t >= lo) & (t < lo + step_s)
                n = float(sel.sum())
                isl = float(conv_trace.isl[sel].mean()) if n else math.nan
                osl = float(conv_trace.osl[sel].mean()) if n else math.nan
                out.append(DemandSample(lo, step_s, n, isl, osl))
            return out

    from sla_planner.forecasters.registry import make_forecaster
    from sla_planner.model.planner import Planner

    policies = {
        "oracle": oracle,
        "static_peak": static_peak(needs, CFG),
        "static_2x": StaticPolicy(CFG, 2 * int(needs.prefill.max()), 2 * int(needs.decode.max())),
        "hpa": HPAPolicy(CFG, h200),
        "dynamo": DynamoClassicPolicy(CFG, h200, "constant"),
        "ours": Planner.of_one(
            CFG, h200, forecaster_factory=lambda: make_forecaster("last", interval_s=60.0)
        ),
    }
    res = {}
    for name, pol in policies.items():
        run = open_loop(Source(), pol, 0.0, 1800.0, 60.0)
        res[name] = simulate_decisions(run.decisions, dm, h200, 200.0, 25.0, 60.0, 120.0)
    o = res["oracle"]
    assert o.attainment >= 0.99
    for name, r in res.items():
        if r.attainment >= o.attainment - 1e-9:
            assert r.gpu_hours >= o.gpu_hours - 1e-9, name
    assert res["static_peak"].gpu_hours >= o.gpu_hours
    assert res["static_2x"].attainment >= o.attainment  # more capacity is at least as good


def test_schedule_policy_replays(h200):
    s = Schedule(0.0, 60.0, np.array([1, 2, 3]), np.array([4, 5, 6]))
    pol = SchedulePolicy(CFG, s)
    assert [pol.decide(t).only.prefill.replicas for t in (0.0, 60.0, 120.0)] == [1, 2, 3]
    assert pol.decide(60.0).only.decode.gpus == 5


@pytest.mark.parametrize("predictor", ["constant", "arima"])
def test_dynamo_predictors_run(h200, predictor):
    pol = DynamoClassicPolicy(CFG, h200, predictor=predictor)
    for k in range(12):
        pol.observe(_sample(60.0 * k, 600.0 + 10 * k))
    d = pol.decide(720.0).only
    assert d.prefill.replicas >= 1 and d.decode.replicas >= 1
