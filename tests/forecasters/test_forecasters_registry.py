"""Registry: names, errors, default."""

from __future__ import annotations

import pytest

from sla_planner.forecasters import registry
from sla_planner.forecasters.base import Forecaster
from sla_planner.forecasters.registry import available_forecasters, make_forecaster

NAMES = [
    "last",
    "moving_average",
    "ewma",
    "holt_winters",
    "arima",
    "prophet",
    "kalman",
    "seasonal_naive",
    "default",
]


def test_all_names_available() -> None:
    names = available_forecasters()
    assert set(NAMES) <= set(names)  # later models (e.g. an ensemble) may add names
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", NAMES)
def test_each_name_builds_a_forecaster(name: str) -> None:
    model = make_forecaster(name, interval_s=30.0)
    assert isinstance(model, Forecaster)
    assert model.interval_s == 30.0
    expected = registry.DEFAULT if name == "default" else name
    assert model.name == expected


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError) as err:
        make_forecaster("lstm")
    msg = str(err.value)
    assert "'lstm'" in msg
    for name in NAMES:
        assert name in msg


def test_options_are_passed_through() -> None:
    assert make_forecaster("ewma", alpha=0.7).alpha == 0.7
    assert make_forecaster("default", window=500).window == 500
    with pytest.raises(TypeError):
        make_forecaster("ewma", no_such_option=1)


def test_default_is_a_fast_model() -> None:
    assert registry.DEFAULT in {
        "kalman",
        "ewma",
        "moving_average",
        "last",
        "holt_winters",
        "ensemble",
    }
