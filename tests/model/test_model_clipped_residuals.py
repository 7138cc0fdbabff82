"""A sample the demand guard clipped does not train the forecast's error model (issue 18
item 7). After one +1e18 counter glitch the forecaster kept the clipped value's forecast error
in its residual window (720 intervals), so the upper quantile the planner provisions for stayed
~5x the steady demand 20 intervals later. The forecaster still learns the clipped value as a
level (the guard's bounded step: a real shift must be followed), but not its error: an outlier
says nothing of how wrong the model usually is."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sla_planner.forecasters.registry import make_forecaster
from sla_planner.model.config import SLO, PlannerConfig
from sla_planner.model.forecast.demand_forecaster import DemandForecaster
from sla_planner.model.forecast.robust_demand import DemandGuard
from sla_planner.model.planner import Planner
from sla_planner.model.types import DemandSample

STEP = 60.0
MEMBERS = ["default", "ewma", "last", "moving_average", "seasonal_naive", "holt_winters"]


def _run(name: str, glitch: dict[str, float] | None, until: int, q: float = 0.99):
    """Poisson(3600) requests a minute, mean lengths 1000/200 with noise; `glitch` replaces
    fields of interval 40. The 3-step forecast after interval `until`."""
    rng = np.random.default_rng(1)
    f = DemandForecaster(lambda: make_forecaster(name, interval_s=STEP))
    guard = DemandGuard()
    for i in range(until + 1):
        fields = {
            "requests": float(rng.poisson(3600)),
            "isl_mean": float(rng.normal(1000, 30)),
            "osl_mean": float(rng.normal(200, 8)),
        }
        if glitch and i == 40:
            fields.update(glitch)
        sample, _ = guard.clip(DemandSample(STEP * i, STEP, **fields))
        f.observe(sample)
    return f.forecast(3, q)[2]


@pytest.mark.parametrize("name", MEMBERS)
@pytest.mark.parametrize(
    ("field", "glitch"),
    [("requests", {"requests": 1e18}), ("osl", {"osl_mean": 1e18}), ("isl", {"isl_mean": 5e6})],
)
def test_one_clipped_sample_leaves_the_spread_as_it_was(name, field, glitch) -> None:
    clean, after = _run(name, None, 60), _run(name, glitch, 60)
    mean, upper = f"{field}" if field == "requests" else field, f"{field}_upper"
    spread_clean = getattr(clean, upper) - getattr(clean, mean)
    spread_after = getattr(after, upper) - getattr(after, mean)
    # 20 intervals on: the spread is the traffic's, not the outlier's (it was ~100x).
    assert spread_after <= 1.5 * spread_clean + 1e-6 * getattr(clean, mean), (
        spread_clean,
        spread_after,
    )


def test_the_clipped_value_is_still_learnt_as_a_level() -> None:
    # A sustained 200x shift is clipped (at 10 x max(median, 10 req/s x 60 s) = 6000) for ~8
    # intervals, and followed meanwhile.
    f = DemandForecaster(lambda: make_forecaster("last", interval_s=STEP))
    guard = DemandGuard()
    for i in range(30):
        sample, _ = guard.clip(
            DemandSample(STEP * i, STEP, 100.0 if i < 25 else 20000.0, 1000, 200)
        )
        f.observe(sample)
    assert f.forecast(1, 0.9)[0].requests == pytest.approx(6000.0)


def test_a_planner_after_a_glitch_returns_to_its_plan(h200) -> None:
    """The issue's scenario: +1e18 on one interval of a steady ~60 req/s. The plan for the next
    intervals rides on the clipped level (and the 5 min scale-down window holds it: the guard's
    bounded step, issue 18 item 3); once that has passed the plan is the steady one again.
    Before: 44 GPUs, then 15-24 GPUs for 15 more minutes (steady: 5), the upper forecast ~5x the
    mean on a residual of ~32,000 requests."""
    plans = []
    for glitch in (False, True):
        rng = np.random.default_rng(7)
        p = Planner.of_one(PlannerConfig(interval_s=STEP, slo=SLO(attainment=None)), h200)
        got = {}
        for i in range(56):
            n = 1e18 if glitch and i == 40 else float(rng.poisson(3600))
            p.observe(DemandSample(STEP * i, STEP, n, 1000.0, 200.0))
            if i in (50, 55):
                got[i] = p.decide((i + 1) * STEP).only
        plans.append(got)
    clean, after = plans
    assert after[50].total_gpus <= clean[50].total_gpus + 1, (clean[50], after[50])
    spread = {
        k: d[55].forecast.requests_upper - d[55].forecast.requests
        for k, d in (("clean", clean), ("after", after))
    }
    assert spread["after"] <= 1.5 * spread["clean"], spread
    assert not math.isnan(after[55].forecast.requests)
