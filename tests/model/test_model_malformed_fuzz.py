"""Malformed-input suite, settings and demand (issue 10): any settings mapping is a
ValidationError naming a field or a config the planner runs in bounded time; any demand stream
-- NaN, inf, negative, huge, gaps, reordered -- gives decisions within the pool limits."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from support.bounded import finishes

from sla_planner.model.config import MAX_HORIZON_STEPS, PlannerConfig
from sla_planner.model.planner import Planner
from sla_planner.model.size.planning_demand import horizon_steps
from sla_planner.model.types import DemandSample

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ODD = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0, 1e-9, 1e300, 1e18]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
)
VALUE = st.one_of(ODD, st.none(), st.text(max_size=4), st.booleans())


def _settings():
    pool = st.fixed_dictionaries({}, optional={"min_replicas": VALUE, "max_replicas": VALUE})
    return st.fixed_dictionaries(
        {},
        optional={
            "sla": st.fixed_dictionaries({}, optional={"ttft_ms": VALUE, "itl_ms": VALUE}),
            "interval_s": VALUE,
            "startup_s": VALUE,
            "budget": st.fixed_dictionaries(
                {},
                optional={
                    "max_gpus": VALUE,
                    "min_prefill_decode_ratio": VALUE,
                    "max_prefill_decode_ratio": VALUE,
                },
            ),
            "prefill": pool,
            "decode": pool,
            "planning_quantile": VALUE,
            "scale_down_window_s": VALUE,
            "history_window": VALUE,
            "burst_quantile": VALUE,
            "burst_window": VALUE,
            "burst_fallback": VALUE,
            "forecaster": st.sampled_from(["last", "ewma", "default"]),
        },
    )


def _sample(k: int, step: float, values: tuple) -> DemandSample:
    n, isl, osl, peak = values
    return DemandSample(k * step, step, n, isl, osl, peak_rate=peak, peak_window_s=10.0)


SAMPLE = st.tuples(ODD, ODD, ODD, st.one_of(st.none(), ODD))


@FUZZ
@given(_settings(), st.lists(SAMPLE, max_size=12))
def test_any_settings_and_demand_give_a_bounded_decision(h200, data, demand):
    try:
        cfg = PlannerConfig.model_validate(data)
    except ValidationError as e:
        assert e.errors() and all(err["loc"] or err["type"] for err in e.errors())
        return
    assert horizon_steps(cfg) <= MAX_HORIZON_STEPS
    try:
        planner = Planner.of_one(cfg, h200)
    except ValueError as e:  # BudgetConfigError: minimums over the budget, said clearly
        assert "max_gpus" in str(e)
        return
    for k, values in enumerate(demand):
        planner.observe(_sample(k, cfg.interval_s, values))
    d = finishes(lambda: planner.decide(len(demand) * cfg.interval_s).only, limit_s=30)
    for pool, limits in ((d.prefill, cfg.prefill), (d.decode, cfg.decode)):
        assert limits.min_replicas <= pool.replicas <= limits.max_replicas
    if cfg.budget.max_gpus is not None:
        assert d.total_gpus <= cfg.budget.max_gpus


SANE = st.tuples(
    st.floats(0, 5000), st.floats(1, 20000), st.floats(1, 4000), st.one_of(st.none(), ODD)
)


@FUZZ
@given(
    st.sampled_from(["last", "ewma", "default"]),
    st.lists(st.one_of(SANE, SANE, SANE, SAMPLE), min_size=1, max_size=40),
)
def test_any_demand_stream_gives_decisions_within_limits(h200, forecaster, demand):
    cfg = PlannerConfig(forecaster=forecaster)
    planner = Planner.of_one(cfg, h200)
    for k, values in enumerate(demand):
        d = finishes(lambda k=k: planner.decide(k * cfg.interval_s).only, limit_s=30)
        assert 1 <= d.prefill.replicas <= cfg.prefill.max_replicas
        assert 1 <= d.decode.replicas <= cfg.decode.max_replicas
        planner.observe(_sample(k, cfg.interval_s, values))
