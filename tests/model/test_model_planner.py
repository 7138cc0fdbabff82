"""The Planner in simulated time over the real Azure 2023 conversation trace."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sla_planner.cli.dryrun_source import default_trace_path
from sla_planner.model.allocate.split import BudgetConfigError
from sla_planner.model.config import PlannerConfig
from sla_planner.model.planner import Planner
from sla_planner.model.size import latency_model as lm
from sla_planner.model.size.planning_demand import horizon_steps
from sla_planner.model.types import Decision, DemandSample

# The copy bundled with the package (same file as ../shared/data): runs in any clone.
TRACE = default_trace_path()
BIN_S = 10.0
SCALE = 30  # each trace request stands for 30: ~165 req/s, enough to move several replicas
T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def conv_demand() -> list[DemandSample]:
    """The trace binned into 10 s intervals: count (x SCALE), mean ISL and OSL per bin."""
    df = pd.read_csv(TRACE)
    ts = pd.to_datetime(df["TIMESTAMP"])
    sec = (ts - ts.iloc[0]).dt.total_seconds().to_numpy()
    idx = (sec // BIN_S).astype(int)
    n = idx.max() + 1
    count = np.bincount(idx, minlength=n).astype(float)
    isl_sum = np.bincount(idx, weights=df["ContextTokens"].to_numpy(float), minlength=n)
    osl_sum = np.bincount(idx, weights=df["GeneratedTokens"].to_numpy(float), minlength=n)
    out = []
    for k in range(n):
        c = count[k]
        isl = isl_sum[k] / c if c else math.nan
        osl = osl_sum[k] / c if c else math.nan
        out.append(DemandSample(T0 + k * BIN_S, BIN_S, c * SCALE, isl, osl))
    assert len(out) >= 300  # an hour of 10 s bins
    return out


def config(**budget) -> PlannerConfig:
    return PlannerConfig.model_validate(
        {
            "sla": {"ttft_ms": 200, "itl_ms": 25, "attainment": None},
            "interval_s": BIN_S,
            "startup_s": 30,
            "scale_down_window_s": 60,
            # 10 s bins are noisy: the 0.99 default (tuned at 60 s) would plan near the
            # noise peak every step; 0.9 keeps this scenario about tracking demand.
            "planning_quantile": 0.9,
            "forecaster": "default",
            "budget": budget,
        }
    )


def replay(planner: Planner, demand: list[DemandSample]) -> list[Decision]:
    out = []
    for s in demand:
        out.append(planner.decide(s.start).only)  # decide for the interval before seeing it
        planner.observe(s)
    return out


@pytest.fixture(scope="module")
def unbudgeted(h200, conv_demand) -> list[Decision]:
    return replay(Planner.of_one(config(), h200), conv_demand)


def test_horizon_covers_startup_plus_one_interval():
    assert horizon_steps(config()) == 4  # 30 s startup / 10 s intervals + the current one
    assert horizon_steps(PlannerConfig(interval_s=60, startup_s=120)) == 3
    assert horizon_steps(PlannerConfig(interval_s=60, startup_s=0)) == 1


def test_cold_start_uses_minimums_and_says_so(h200):
    d = Planner.of_one(config(), h200).decide(T0).only
    assert (d.prefill.replicas, d.decode.replicas) == (1, 1)
    assert "no demand history" in d.prefill.reason


def test_decisions_follow_demand_and_meet_the_sla(h200, conv_demand, unbudgeted):
    decisions = unbudgeted[30:]  # after a 5-minute warm-up
    actual = conv_demand[30:]
    rate = np.array([a.rate for a in actual])
    gpus = np.array([d.total_gpus for d in decisions])
    assert gpus.max() > gpus.min() + 2  # it scales
    # Replicas track demand: rank correlation of GPUs with a one-minute mean of the rate.
    smooth = pd.Series(rate).rolling(6, min_periods=1).mean()
    rho = pd.Series(gpus).corr(smooth, method="spearman")
    # (0.4: the tuned headroom and the ensemble's cautious start flatten the curve a little.)
    assert rho > 0.4, rho
    # Request-weighted expected attainment against the demand that really came.
    ok = total = 0.0
    for d, a in zip(decisions, actual, strict=True):
        if a.requests <= 0:
            continue
        t = lm.expected_ttft_ms(h200, a.rate, a.isl_mean, d.prefill.replicas)
        i = lm.expected_itl_ms(h200, a.rate, a.isl_mean, a.osl_mean, d.decode.replicas)
        total += a.requests
        ok += a.requests * (t <= 200 and i <= 25)
    assert ok / total >= 0.95, ok / total  # 10 s bins of a x30 trace are very noisy


def test_scale_down_is_held_for_the_window(unbudgeted):
    # Without a budget the replicas used are never below any recommendation in the last 60 s.
    for k, d in enumerate(unbudgeted):
        for back in unbudgeted[max(0, k - 5) : k + 1]:  # decisions within (t - 60, t]
            assert d.prefill.replicas >= max(back.prefill.wanted_replicas, 1)
            assert d.decode.replicas >= max(back.decode.wanted_replicas, 1)
    assert any("holding scale-down" in d.prefill.reason + d.decode.reason for d in unbudgeted)


def test_budget_and_limits_hold_every_interval(h200, conv_demand):
    cfg = config(max_gpus=8, min_prefill_decode_ratio=0.5, max_prefill_decode_ratio=2.0)
    decisions = replay(Planner.of_one(cfg, h200), conv_demand)
    for d in decisions:
        assert d.total_gpus <= 8 and d.budget_gpus == 8
        assert d.prefill.replicas >= 1 and d.decode.replicas >= 1
        assert d.prefill.gpus == d.prefill.replicas and d.decode.gpus == d.decode.replicas
        assert 0.5 <= d.prefill.gpus / d.decode.gpus <= 2.0
    limited = [d for d in decisions if "budget-limited" in d.prefill.reason + d.decode.reason]
    assert limited, "8 GPUs is below the peak need; some intervals must be budget-limited"
    assert all(d.total_gpus == 8 for d in limited)


def test_decisions_only_use_the_past(h200, conv_demand, unbudgeted):
    cut = 120
    doubled = [
        DemandSample(s.start, s.duration_s, s.requests * 2, s.isl_mean, s.osl_mean)
        for s in conv_demand[cut:160]
    ]
    other = replay(Planner.of_one(config(), h200), conv_demand[:cut] + doubled)
    for a, b in zip(unbudgeted[: cut + 1], other[: cut + 1], strict=True):
        assert (a.prefill.replicas, a.decode.replicas) == (b.prefill.replicas, b.decode.replicas)
    assert sum(d.total_gpus for d in other[cut + 5 :]) > sum(
        d.total_gpus for d in unbudgeted[cut + 5 : 160]
    )


def test_seed_resumes_from_cluster_and_holds(h200, conv_demand):
    p = Planner.of_one(config(), h200)
    p.seed(prefill=6, decode=5, now=T0)
    cold = p.decide(T0).only
    assert (cold.prefill.replicas, cold.decode.replicas) == (6, 5)
    assert "holding the replicas the cluster runs" in cold.prefill.reason
    quiet = [DemandSample(T0 + k * BIN_S, BIN_S, 10, 1000, 200) for k in range(3)]
    for s in quiet:
        p.observe(s)
    held = p.decide(T0 + 3 * BIN_S).only  # 30 s after the seed: still inside the 60 s window
    assert (held.prefill.replicas, held.decode.replicas) == (6, 5)
    assert "holding scale-down" in held.prefill.reason
    for k in range(3, 8):
        p.observe(DemandSample(T0 + k * BIN_S, BIN_S, 10, 1000, 200))
    later = p.decide(T0 + 8 * BIN_S).only
    assert (later.prefill.replicas, later.decode.replicas) == (1, 1)


def test_stale_data_is_forecast_across_and_noted(h200, conv_demand):
    p = Planner.of_one(config(), h200)
    for s in conv_demand[:30]:
        p.observe(s)
    d = p.decide(conv_demand[30].start + 5 * BIN_S).only
    assert any("before now" in n for n in d.notes)
    assert d.prefill.replicas >= 1


def test_gaps_and_zero_traffic_do_not_break_decisions(h200):
    p = Planner.of_one(config(), h200)
    p.observe(DemandSample(T0, BIN_S, 600, 1100, 200))
    p.observe(DemandSample(T0 + 3 * BIN_S, BIN_S, 0, math.nan, math.nan))  # 2 missing bins
    d = p.decide(T0 + 4 * BIN_S).only
    assert d.prefill.replicas >= 1 and math.isfinite(d.decode.expected_latency_ms)


def test_decode_pool_with_its_own_engine_config(h200):
    # The same engine latencies spread over a 2-GPU TP group: per-GPU throughput halves.
    prof = h200.profile
    tp2 = prof.model_copy(
        update={
            "name": prof.name + "-tp2",
            "gpus_per_replica": 2,
            "prefill": prof.prefill.model_copy(
                update={"throughput_per_gpu": [x / 2 for x in prof.prefill.throughput_per_gpu]}
            ),
            "decode": prof.decode.model_copy(
                update={"throughput_per_gpu": [x / 2 for x in prof.decode.throughput_per_gpu]}
            ),
        }
    )
    wide = type(h200)(tp2, warn=lambda m: None)
    p = Planner.of_one(config(max_gpus=12), h200, decode_curves=wide)
    for k in range(5):
        p.observe(DemandSample(T0 + k * BIN_S, BIN_S, 1800, 1155, 211))
    d = p.decide(T0 + 5 * BIN_S).only
    assert d.decode.gpus == 2 * d.decode.replicas and d.prefill.gpus == d.prefill.replicas
    assert d.total_gpus <= 12


def test_minimums_over_budget_rejected_up_front(h200):
    cfg = PlannerConfig.model_validate(
        {"budget": {"max_gpus": 2}, "prefill": {"min_replicas": 2}, "decode": {"min_replicas": 1}}
    )
    with pytest.raises(BudgetConfigError, match="max_gpus"):
        Planner.of_one(cfg, h200)


def test_reasons_are_codes_as_well_as_text(h200, conv_demand, unbudgeted):
    from sla_planner.model.reasons import Binding, Limit

    cold = Planner.of_one(config(), h200).decide(T0).only
    assert cold.prefill.binding is Binding.NO_HISTORY and cold.prefill.limit is Limit.NONE
    # The codes agree with the free text, decision by decision.
    for d in unbudgeted:
        for pd_ in (d.prefill, d.decode):
            assert pd_.reason.split(";")[-1].strip().startswith(str(pd_.binding)) or (
                pd_.binding is Binding.NO_HISTORY
            ), pd_
            held = "holding scale-down" in pd_.reason
            assert (pd_.limit is Limit.STABILISATION) == held, pd_
    assert {d.decode.binding for d in unbudgeted} >= {Binding.LATENCY}
    tight = replay(Planner.of_one(config(max_gpus=8), h200), conv_demand)
    limited = [p for d in tight for p in (d.prefill, d.decode) if "budget-limited" in p.reason]
    assert limited and all(p.limit is Limit.BUDGET for p in limited)
