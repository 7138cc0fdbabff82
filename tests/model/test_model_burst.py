"""Sub-interval bursts: the excess peak/mean ratio, the tracker, and the planner's decode pool
planning for them (planner/model/forecast/burst.py, planner/model/planner.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sla_planner.model.config import PlannerConfig
from sla_planner.model.forecast.burst import BurstTracker, excess_burst, expected_max_normal
from sla_planner.model.planner import Planner
from sla_planner.model.types import DemandSample

T0 = 1_700_000_000.0


def minute(i: int, counts: list[float] | np.ndarray, isl: float = 1000.0, osl: float = 250.0):
    """One 60 s sample from its six 10 s sub-window counts (peak = the busiest window)."""
    c = np.asarray(counts, dtype=float)
    return DemandSample(
        T0 + 60.0 * i,
        60.0,
        float(c.sum()),
        isl,
        osl,
        peak_rate=float(c.max()) / 10.0,
        peak_window_s=10.0,
    )


def test_expected_max_of_normals_matches_simulation():
    rng = np.random.default_rng(0)
    for k in (2, 6, 12):
        sim = rng.standard_normal((200_000, k)).max(axis=1).mean()
        assert expected_max_normal(k) == pytest.approx(sim, abs=0.03)  # Blom: within 0.03
    assert expected_max_normal(1) == 0.0


def test_steady_poisson_traffic_is_not_a_burst_at_any_load():
    """The sizing already assumes Poisson arrivals: their noise must not count again."""
    rng = np.random.default_rng(1)
    for per_window in (5.0, 40.0, 2000.0):
        ratios = [excess_burst(minute(i, rng.poisson(per_window, 6))) for i in range(400)]
        assert np.median(ratios) == pytest.approx(1.0, abs=0.06)
        raw = [s.peak_rate * 60 / s.requests for s in (minute(0, rng.poisson(per_window, 6)),)]
        assert raw[0] >= 1.0


def test_a_real_burst_is_measured():
    # 1200 requests a minute, 40% of them in one 10 s window: 2.4x the mean rate there.
    r = excess_burst(minute(0, [144, 144, 144, 144, 144, 480]))
    noise = expected_max_normal(6) * math.sqrt(200.0) / 200.0
    assert r == pytest.approx(2.4 - noise, rel=1e-9)


@pytest.mark.parametrize(
    "sample",
    [
        DemandSample(T0, 60.0, 100.0, 1.0, 1.0),  # no peak data
        DemandSample(T0, 60.0, 0.0, math.nan, math.nan, peak_rate=0.0, peak_window_s=10.0),
        DemandSample(T0, 60.0, 100.0, 1.0, 1.0, peak_rate=math.nan, peak_window_s=10.0),
        DemandSample(T0, 60.0, 100.0, 1.0, 1.0, peak_rate=5.0, peak_window_s=60.0),  # k = 1
        DemandSample(T0, 60.0, math.nan, 1.0, 1.0, peak_rate=5.0, peak_window_s=10.0),
    ],
)
def test_unusable_samples_give_no_ratio(sample):
    assert excess_burst(sample) is None


def test_a_broken_source_is_capped():
    s = DemandSample(T0, 60.0, 10.0, 1.0, 1.0, peak_rate=1e9, peak_window_s=10.0)
    assert excess_burst(s) == 4.0


def test_tracker_quantile_window_and_fallback():
    t = BurstTracker(window=10, quantile=0.9, fallback=1.1)
    assert t.factor == 1.1 and t.samples == 0  # nothing seen: the fallback
    t.observe(DemandSample(T0, 60.0, 100.0, 1.0, 1.0))  # no peak data: still the fallback
    assert t.factor == 1.1
    flat = [1000.0] * 6
    for i in range(10):
        t.observe(minute(i, flat))
    assert t.factor == 1.0  # measured: no bursts (below the fallback, which is only a guess)
    for i in range(10, 12):
        t.observe(minute(i, [500.0] * 5 + [3500.0]))  # two bursty minutes
    assert t.factor > 1.5
    for i in range(12, 22):  # ... pushed out of the 10-interval window
        t.observe(minute(i, flat))
    assert t.factor == 1.0


@pytest.mark.parametrize(
    "kw", [{"window": 0}, {"quantile": 1.0}, {"quantile": 0.0}, {"fallback": 0.9}]
)
def test_tracker_rejects_bad_settings(kw):
    with pytest.raises(ValueError):
        BurstTracker(**kw)


def _cfg(**kw) -> PlannerConfig:
    base = {
        "sla": {"ttft_ms": 200, "itl_ms": 25, "attainment": None},
        "forecaster": "last",
        "planning_quantile": 0.5,
        "burst_fallback": 1.0,
    }
    return PlannerConfig.model_validate({**base, **kw})


def _run(h200, cfg: PlannerConfig, burst_share: float) -> list:
    """30 minutes of 12,000 requests a minute; `burst_share` of each in one 10 s window."""
    p = Planner.of_one(cfg, h200)
    hot = 12000.0 * burst_share
    rest = (12000.0 - hot) / 5.0
    out = []
    for i in range(30):
        p.observe(minute(i, [rest] * 5 + [hot]))
        out.append(p.decide(T0 + 60.0 * (i + 1)).only)
    return out


def test_decode_plans_for_bursts_and_prefill_does_not(h200):
    steady = _run(h200, _cfg(), 1 / 6)
    bursty = _run(h200, _cfg(), 0.3)  # the hot window runs at 1.8x the minute's mean
    assert bursty[-1].decode.replicas > steady[-1].decode.replicas
    assert bursty[-1].prefill.replicas == steady[-1].prefill.replicas
    assert any("planned for bursts x1.7" in n for n in bursty[-1].notes)
    assert not any("bursts" in n for n in steady[-1].notes)
    # Switched off: the bursty minutes are planned like steady ones.
    off = _run(h200, _cfg(burst_quantile=None), 0.3)
    assert off[-1].decode.replicas == steady[-1].decode.replicas


def test_fallback_applies_without_peak_data(h200):
    def run(fallback: float) -> int:
        p = Planner.of_one(_cfg(burst_fallback=fallback), h200)
        for i in range(10):
            p.observe(DemandSample(T0 + 60.0 * i, 60.0, 12000.0, 1000.0, 250.0))
        d = p.decide(T0 + 600.0).only
        if fallback > 1:
            assert any("burst_fallback" in n for n in d.notes)
        return d.decode.replicas

    assert run(1.5) > run(1.0)


def test_config_rejects_a_fallback_below_one():
    with pytest.raises(ValueError, match="burst_fallback"):
        PlannerConfig(burst_fallback=0.5)


def test_a_vanishing_count_is_no_burst_data():
    """Found by the malformed-input suite: 5e-324 requests / 6 sub-windows is 0.0 (division by
    zero before the fix)."""
    from sla_planner.model.forecast.burst import excess_burst
    from sla_planner.model.types import DemandSample

    sample = DemandSample(0.0, 60.0, 5e-324, 1.0, 1.0, peak_rate=0.0, peak_window_s=10.0)
    assert excess_burst(sample) is None
