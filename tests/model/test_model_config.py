"""PlannerConfig rejects non-finite and absurd values with a message naming the field (issue 10,
defects 3, 4 and 6), and every pool has a finite replica ceiling by default."""

from __future__ import annotations

import math

import pytest
import yaml
from pydantic import ValidationError

from sla_planner.model.config import (
    DEFAULT_MAX_REPLICAS,
    MAX_HORIZON_STEPS,
    REPLICAS_LIMIT,
    PlannerConfig,
    PoolLimits,
)
from sla_planner.model.size.planning_demand import horizon_steps

FLOAT_FIELDS = [
    ("sla", "ttft_ms"),
    ("sla", "itl_ms"),
    ("interval_s",),
    ("startup_s",),
    ("planning_quantile",),
    ("scale_down_window_s",),
    ("burst_quantile",),
    ("burst_fallback",),
    ("budget", "min_prefill_decode_ratio"),
    ("budget", "max_prefill_decode_ratio"),
]


def _nest(path: tuple[str, ...], value: object) -> dict:
    out: dict = {path[-1]: value}
    for key in reversed(path[:-1]):
        out = {key: out}
    return out


def _error(data: dict) -> str:
    with pytest.raises(ValidationError) as exc:
        PlannerConfig.model_validate(data)
    return str(exc.value)


@pytest.mark.parametrize("path", FLOAT_FIELDS, ids=".".join)
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_every_float_field_must_be_finite(path, value):
    message = _error(_nest(path, value))
    assert ".".join(path) in message.replace("\n  ", ".")
    assert "finite" in message


def test_interval_inf_from_yaml_is_rejected():
    data = yaml.safe_load("interval_s: .inf\n")
    assert data == {"interval_s": math.inf}
    assert "interval_s" in _error(data)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"interval_s": 1e-6}, "interval_s"),
        ({"interval_s": 1e8}, "interval_s"),
        ({"startup_s": 1e12}, "startup_s"),
        ({"sla": {"ttft_ms": 1e300}}, "ttft_ms"),
        ({"sla": {"itl_ms": 1e300}}, "itl_ms"),
        ({"scale_down_window_s": 1e30}, "scale_down_window_s"),
        ({"history_window": 10**12}, "history_window"),
        ({"burst_window": 10**12}, "burst_window"),
        ({"budget": {"max_gpus": 10**15}}, "max_gpus"),
        ({"budget": {"max_prefill_decode_ratio": 1e9}}, "max_prefill_decode_ratio"),
        ({"prefill": {"min_replicas": 10**9}}, "min_replicas"),
        ({"decode": {"max_replicas": 10**9}}, "max_replicas"),
    ],
)
def test_absurd_values_are_rejected_naming_the_field(data, field):
    assert field in _error(data)


def test_a_forecast_horizon_beyond_the_cap_is_rejected_with_the_fix():
    message = _error({"interval_s": 1.0, "startup_s": 2.0 * MAX_HORIZON_STEPS})
    assert "startup_s" in message and "interval_s" in message and str(MAX_HORIZON_STEPS) in message


def test_horizon_steps_is_capped_even_for_an_unvalidated_config():
    cfg = PlannerConfig.model_construct(interval_s=1e-6, startup_s=120.0)
    assert horizon_steps(cfg) == MAX_HORIZON_STEPS


def test_sane_values_still_pass():
    cfg = PlannerConfig(interval_s=1.0, startup_s=600.0, sla={"ttft_ms": 5000, "itl_ms": 100})
    assert horizon_steps(cfg) == 601


def test_every_pool_has_a_finite_default_ceiling():
    cfg = PlannerConfig()
    assert cfg.prefill.max_replicas == cfg.decode.max_replicas == DEFAULT_MAX_REPLICAS
    # null (the old "no cap") means the default ceiling, not unbounded
    assert PoolLimits(max_replicas=None).max_replicas == DEFAULT_MAX_REPLICAS
    assert PoolLimits.model_validate({"max_replicas": None}).max_replicas == DEFAULT_MAX_REPLICAS
    assert PoolLimits(max_replicas=REPLICAS_LIMIT).max_replicas == REPLICAS_LIMIT  # overridable


def test_minimum_above_the_default_ceiling_says_how_to_fix_it():
    message = _error({"prefill": {"min_replicas": DEFAULT_MAX_REPLICAS + 1}})
    assert "max_replicas" in message and "raise max_replicas" in message


@pytest.mark.parametrize(
    ("interval_s", "startup_s", "horizon_s", "steps"),
    [
        (60.0, 120.0, None, 3),  # startup / interval + this decision's own step
        (60.0, 120.0, 60.0, 1),  # only the interval decided for
        (60.0, 120.0, 300.0, 5),
        (60.0, 120.0, 90.0, 2),  # a partial step counts
        (60.0, 0.0, 600.0, 10),
    ],
)
def test_the_forecast_horizon_lever(interval_s, startup_s, horizon_s, steps):
    cfg = PlannerConfig(interval_s=interval_s, startup_s=startup_s, horizon_s=horizon_s)
    assert horizon_steps(cfg) == steps


def test_a_horizon_beyond_the_cap_names_horizon_s():
    with pytest.raises(ValidationError) as e:
        PlannerConfig(interval_s=1.0, startup_s=0.0, horizon_s=2.0 * MAX_HORIZON_STEPS)
    assert "horizon_s" in str(e.value) and str(MAX_HORIZON_STEPS) in str(e.value)
