"""Budget fitting: limits, ratio bounds, TP groups, and the SLA-pressure split."""

from __future__ import annotations

import pytest

from sla_planner.model.allocate.split import (
    BudgetConfigError,
    PoolRequest,
    fit_budget,
    proportional_split,
    ratio_ok,
    validate_budget,
)
from sla_planner.model.config import Budget, PlannerConfig, PoolLimits
from sla_planner.model.size import latency_model as lm
from sla_planner.model.size.sizing import size_decode, size_prefill

ISL, OSL, TTFT, ITL = 1155.0, 211.0, 200.0, 25.0
ONE = PoolLimits(min_replicas=1)


def req(wanted, lo=1, hi=None, gpr=1, scorer=None):
    return PoolRequest(wanted, PoolLimits(min_replicas=lo, max_replicas=hi), gpr, scorer)


def test_wanted_is_kept_when_it_fits():
    a = fit_budget(req(3), req(5), Budget(max_gpus=8))
    assert (a.prefill, a.decode, a.total_gpus) == (3, 5, 8)
    assert not (a.budget_limited or a.ratio_adjusted or a.ratio_violated)


def test_whole_tp_groups_and_budget():
    a = fit_budget(req(4, gpr=2), req(4, gpr=4), Budget(max_gpus=15))
    assert a.prefill_gpus == 2 * a.prefill and a.decode_gpus == 4 * a.decode
    assert a.total_gpus <= 15 and a.budget_limited


def test_max_replicas_cap_is_noted():
    a = fit_budget(req(9, hi=4), req(2), Budget())
    assert a.prefill == 4 and any("max_replicas" in n for n in a.notes)


def test_minimums_over_budget_is_a_config_error():
    with pytest.raises(BudgetConfigError, match="raise max_gpus or lower min_replicas"):
        fit_budget(req(1, lo=3, gpr=2), req(1, lo=2, gpr=2), Budget(max_gpus=8))
    cfg = PlannerConfig(budget=Budget(max_gpus=4), prefill=PoolLimits(min_replicas=2), decode=ONE)
    with pytest.raises(BudgetConfigError, match="need 5 GPUs"):
        validate_budget(cfg, prefill_gpus_per_replica=2)
    assert validate_budget(cfg) == []


def test_ratio_defined_on_gpus():
    b = Budget(min_prefill_decode_ratio=0.5, max_prefill_decode_ratio=1.0)
    assert ratio_ok(2, 4, b) and ratio_ok(4, 4, b) and not ratio_ok(1, 4, b)
    assert not ratio_ok(5, 4, b) and ratio_ok(0, 0, b) and not ratio_ok(1, 0, b)


def test_ratio_raises_the_lagging_pool_cheapest():
    b = Budget(max_gpus=16, min_prefill_decode_ratio=0.5)
    a = fit_budget(req(1), req(6), b)
    assert (a.prefill, a.decode) == (3, 6) and a.ratio_adjusted
    # On GPUs: a 2-GPU prefill replica counts double.
    a = fit_budget(req(1, gpr=2), req(6), b)
    assert (a.prefill, a.decode) == (2, 6)


def test_ratio_yields_to_budget_with_a_note_and_a_warning():
    b = Budget(max_gpus=4, min_prefill_decode_ratio=4.0)  # needs 4 prefill per decode GPU
    a = fit_budget(req(1), req(1), b)
    assert a.ratio_violated and a.total_gpus <= 4
    assert any("ratio bounds ignored" in n for n in a.notes)
    cfg = PlannerConfig(budget=b)
    warnings = validate_budget(cfg)
    assert warnings and "ratio" in warnings[0]


def test_ratio_honoured_under_budget_pressure_when_feasible():
    b = Budget(max_gpus=10, min_prefill_decode_ratio=0.5, max_prefill_decode_ratio=1.0)
    a = fit_budget(req(9), req(9), b)
    assert a.total_gpus <= 10 and ratio_ok(a.prefill_gpus, a.decode_gpus, b)
    assert a.budget_limited


def _scorers(curves, rate, isl, osl):
    def p(lo, hi):
        return (
            lm.ttft_attainment_curve(curves, rate, isl, lo, hi, TTFT),
            lm.prefill_served_curve(curves, rate, isl, lo, hi),
        )

    def d(lo, hi):
        return (
            lm.itl_attainment_curve(curves, rate, isl, osl, lo, hi, ITL),
            lm.decode_served_curve(curves, rate, isl, osl, lo, hi),
        )

    return p, d


def _attainment(curves, rate, isl, osl, np_, nd):
    return lm.ttft_attainment(curves, rate, isl, np_, TTFT) * lm.itl_attainment(
        curves, rate, isl, osl, nd, ITL
    )


def test_pressure_split_beats_proportional_when_over_budget(h200):
    # Long prompts, short outputs (Azure code-like) at 300 req/s, one GPU short of the wants:
    # a proportional cut takes a replica from prefill, which then cannot keep up; the
    # pressure split takes it from decode, whose want carries queueing headroom.
    rate, isl, osl = 300.0, 2048.0, 28.0
    wp = size_prefill(h200, rate, isl, TTFT).replicas
    wd = size_decode(h200, rate, isl, osl, ITL).replicas
    budget = Budget(max_gpus=wp + wd - 3)
    ps, ds = _scorers(h200, rate, isl, osl)
    ours = fit_budget(req(wp, scorer=ps), req(wd, scorer=ds), budget)
    prop = proportional_split(req(wp), req(wd), budget)
    assert ours.total_gpus <= budget.max_gpus and prop.total_gpus <= budget.max_gpus
    assert ours.budget_limited
    a_ours = _attainment(h200, rate, isl, osl, ours.prefill, ours.decode)
    a_prop = _attainment(h200, rate, isl, osl, prop.prefill, prop.decode)
    assert a_ours > a_prop + 0.4, (ours, prop, a_ours, a_prop)
    assert ours.expected_attainment == pytest.approx(a_ours, abs=1e-6)


@pytest.mark.parametrize("rate", [50.0, 150.0, 300.0])
@pytest.mark.parametrize(("isl", "osl"), [(1155.0, 211.0), (2048.0, 28.0), (600.0, 400.0)])
def test_pressure_split_never_worse_than_proportional(h200, rate, isl, osl):
    wp = size_prefill(h200, rate, isl, TTFT).replicas
    wd = size_decode(h200, rate, isl, osl, ITL).replicas
    ps, ds = _scorers(h200, rate, isl, osl)
    for short in (1, 2, 3):
        budget = Budget(max_gpus=max(2, wp + wd - short))
        ours = fit_budget(req(wp, scorer=ps), req(wd, scorer=ds), budget)
        prop = proportional_split(req(wp), req(wd), budget)
        a_ours = _attainment(h200, rate, isl, osl, ours.prefill, ours.decode)
        a_prop = _attainment(h200, rate, isl, osl, prop.prefill, prop.decode)
        assert a_ours >= a_prop - 1e-4


def test_pressure_split_is_best_possible_split(h200):
    rate = 300.0
    ps, ds = _scorers(h200, rate, ISL, OSL)
    budget = Budget(max_gpus=12)
    ours = fit_budget(req(20, scorer=ps), req(20, scorer=ds), budget)
    best = max(_attainment(h200, rate, ISL, OSL, p, 12 - p) for p in range(1, 12))
    assert ours.total_gpus == 12
    assert _attainment(h200, rate, ISL, OSL, ours.prefill, ours.decode) == pytest.approx(
        best, abs=1e-4
    )


def test_no_split_can_meet_sla_falls_back_to_throughput(h200):
    # Far over budget: no allocation meets either target, so split by the share each pool can serve.
    rate = 2000.0
    ps, ds = _scorers(h200, rate, ISL, OSL)
    a = fit_budget(req(60, scorer=ps), req(40, scorer=ds), Budget(max_gpus=10))
    assert a.total_gpus == 10 and a.prefill >= 2 and a.decode >= 2
