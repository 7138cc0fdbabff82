"""The SLO planner in simulated time over the real Azure 2023 conversation trace (x30)."""

from __future__ import annotations

import math

import pytest

from sla_planner.model.config import PlannerConfig
from sla_planner.model.planner import Planner
from sla_planner.model.size.error_budget import AttainmentSample

from .test_model_planner import conv_demand  # noqa: F401  (the fixture)

STEP = 10.0


def config(attainment, **extra) -> PlannerConfig:
    return PlannerConfig.model_validate(
        {
            "slo": {"ttft_ms": 200, "itl_ms": 25, "attainment": attainment},
            "interval_s": STEP,
            "startup_s": 30,
            "scale_down_window_s": 60,
            "forecaster": "default",
            **extra,
        }
    )


def run(planner, demand, feedback=None):
    """Decide then observe every interval; `feedback(k, sample)` -> an AttainmentSample."""
    out = []
    for k, s in enumerate(demand):
        d = planner.decide(s.start).only
        out.append((d.prefill.replicas, d.decode.replicas))
        planner.observe(s)
        if feedback is not None:
            planner.observe_attainment(feedback(k, s))
    return out


def test_the_target_picks_the_sizing(h200):
    # slo.attainment null: fixed margins, no error budget; set: sized to its goal.
    assert Planner.of_one(config(None), h200).budget_status is None
    assert Planner.of_one(config(0.99), h200).budget_status.target == 0.99


def test_a_stricter_target_never_plans_fewer_replicas(h200, conv_demand):  # noqa: F811
    demand = conv_demand[:120]
    loose = run(Planner.of_one(config(0.9), h200), demand)
    strict = run(Planner.of_one(config(0.999), h200), demand)
    assert all(s[0] >= lo[0] and s[1] >= lo[1] for s, lo in zip(strict, loose, strict=True))
    assert sum(map(sum, strict)) > sum(map(sum, loose))


def test_the_slo_planner_plans_fewer_gpus_than_the_fixed_margins_at_99(h200, conv_demand):  # noqa: F811
    demand = conv_demand[:120]
    fixed = run(Planner.of_one(config(None), h200), demand)
    slo = run(Planner.of_one(config(0.99), h200), demand)
    assert sum(map(sum, slo)) < sum(map(sum, fixed))


def test_measured_misses_raise_the_plan_and_a_clean_record_lowers_it(h200, conv_demand):  # noqa: F811
    demand = conv_demand[:120]

    def window(miss_share):
        def fb(k, s):
            n = max(s.requests, 0.0)
            return AttainmentSample(s.start, s.start + STEP, n, n * (1 - miss_share))

        return fb

    calm = run(Planner.of_one(config(0.99), h200), demand)
    missing = Planner.of_one(config(0.99), h200)
    bad = run(missing, demand, window(0.05))  # 5x the budget, every interval
    assert sum(map(sum, bad[30:])) > sum(map(sum, calm[30:]))
    st = missing.budget_status
    assert st.windows == 120 and st.cumulative_attainment == pytest.approx(0.95)
    assert st.burn_cumulative == pytest.approx(5.0) and st.margin > 10
    clean = Planner.of_one(config(0.99), h200)
    good = run(clean, demand, window(0.0))
    assert sum(map(sum, good[30:])) <= sum(map(sum, calm[30:]))


def test_cold_decisions_teach_the_controller_nothing(h200, conv_demand):  # noqa: F811
    p = Planner.of_one(config(0.99), h200)
    s = conv_demand[0]
    p.decide(s.start)  # no history: a cold decision (minimum replicas)
    p.observe_attainment(AttainmentSample(s.start, s.start + STEP, 1000, 0))
    st = p.budget_status
    assert st.windows == 1 and st.cumulative_attainment == 0.0  # reported
    assert st.integral == 0.0  # not integrated: the plan in force had no goal


def test_decisions_say_what_they_aimed_at(h200, conv_demand):  # noqa: F811
    p = Planner.of_one(config(0.99), h200)
    run(p, conv_demand[:20])
    d = p.decide(conv_demand[20].start).only
    note = next(n for n in d.notes if n.startswith("SLO 99.000%"))
    assert "expected attainment" in note and "margin x" in note
    assert d.prefill.reason.startswith("slo:") or "slo:" in d.prefill.reason
    assert not any(n.startswith("decode planned for bursts") for n in d.notes)
    assert math.isnan(d.prefill.expected_latency_ms) is False


PRICE = {"error_budget": {"sizing": "price"}}


def test_priced_sizing_prices_a_miss_and_says_so(h200, conv_demand):  # noqa: F811
    planner = Planner.of_one(config(0.99, **PRICE), h200)
    run(planner, conv_demand[:30])
    d = planner.decide(conv_demand[30].start).only
    note = next(n for n in d.notes if n.startswith("SLO"))
    assert "priced a miss at" in note and "GPU-h" in note
    st = planner.budget_status
    assert st.price > 0 and st.price_ref > 0 and 0 < st.planned_miss < 0.5


def test_measured_misses_raise_the_priced_plan(h200, conv_demand):  # noqa: F811
    demand = conv_demand[:120]

    def fb(k, s):
        n = max(s.requests, 0.0)
        return AttainmentSample(s.start, s.start + STEP, n, n * 0.95)

    calm = run(Planner.of_one(config(0.99, **PRICE), h200), demand)
    missing = Planner.of_one(config(0.99, **PRICE), h200)
    bad = run(missing, demand, fb)
    assert sum(map(sum, bad[30:])) > sum(map(sum, calm[30:]))
    st = missing.budget_status
    assert st.price / st.price_ref == pytest.approx(100.0)  # at the bound, max_tighten
