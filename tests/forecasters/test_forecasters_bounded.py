"""A forecast horizon is bounded whatever the caller asks (issue 10, defect 3: `interval_s:
1e-6` asked for 1.2e8 steps and hung the loop)."""

from __future__ import annotations

import numpy as np
import pytest
from support.bounded import finishes

from sla_planner.forecasters.base import MAX_HORIZON
from sla_planner.forecasters.registry import available_forecasters, make_forecaster

# Prophet refits on every change of history; it is bounded too, but slow to fit in a unit test.
NAMES = [n for n in available_forecasters() if n != "prophet"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("horizon", [10**8, 2**62])
def test_a_huge_horizon_is_capped(name, horizon):
    f = make_forecaster(name, interval_s=60.0)
    for i in range(40):
        f.observe(100.0 + 10.0 * np.sin(i / 5.0))
    fc = finishes(lambda: f.forecast(horizon, (0.9, 0.99)))
    assert fc.mean.shape == (MAX_HORIZON,)
    for q in (0.9, 0.99):
        path = fc.upper(q)
        assert path.shape == (MAX_HORIZON,) and np.all(np.isfinite(path))
        assert np.all(path >= fc.mean - 1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_horizons_within_the_cap_are_untouched(name):
    f = make_forecaster(name, interval_s=60.0)
    for i in range(40):
        f.observe(float(i))
    assert f.forecast(MAX_HORIZON, (0.9,)).mean.shape == (MAX_HORIZON,)
    assert f.forecast(3, (0.9,)).mean.shape == (3,)
