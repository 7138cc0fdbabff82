"""SLA sizing on the real H200 profile: targets met, minimal, knobs, edge cases."""

from __future__ import annotations

import math

import pytest

from sla_planner.model.size import latency_model as lm
from sla_planner.model.size.sizing import SizingPolicy, size_decode, size_prefill

ISL, OSL, TTFT, ITL = 1155.0, 211.0, 200.0, 25.0


def test_azure_conv_mean_load_needs_one_replica_each(h200):
    p = size_prefill(h200, 5.5, ISL, TTFT)
    d = size_decode(h200, 5.5, ISL, OSL, ITL)
    assert (p.replicas, d.replicas) == (1, 1)
    assert p.quantile_ms <= TTFT and d.quantile_ms <= ITL


@pytest.mark.parametrize("rate", [20.0, 55.0, 120.0, 180.0, 400.0, 720.0])
def test_prefill_meets_target_with_fewest_replicas(h200, rate):
    r = size_prefill(h200, rate, ISL, TTFT, min_replicas=0)
    assert r.quantile_ms <= TTFT
    assert lm.prefill_state(h200, rate, ISL, r.replicas).utilisation <= 0.9
    fewer = r.replicas - 1
    too_busy = lm.prefill_state(h200, rate, ISL, fewer).utilisation > 0.9
    assert too_busy or lm.ttft_quantile_ms(h200, rate, ISL, fewer, 0.99) > TTFT


@pytest.mark.parametrize("rate", [20.0, 55.0, 120.0, 180.0, 400.0, 720.0])
def test_decode_meets_target_with_fewest_replicas(h200, rate):
    r = size_decode(h200, rate, ISL, OSL, ITL, min_replicas=0)
    assert r.quantile_ms <= ITL + 1e-6
    assert r.expected_ms < r.quantile_ms
    assert lm.itl_quantile_ms(h200, rate, ISL, OSL, r.replicas - 1, 0.95) > ITL


def test_sizing_uses_minimum_and_idles_at_it(h200):
    assert size_prefill(h200, 0.0, ISL, TTFT, min_replicas=2).replicas == 2
    assert size_decode(h200, 0.0, ISL, OSL, ITL, min_replicas=0).replicas == 0
    r = size_decode(h200, 5.0, ISL, OSL, ITL, min_replicas=3)
    assert (r.replicas, r.binding) == (3, "minimum")
    # NaN demand (no requests observed) is treated as none, not as a crash.
    assert size_prefill(h200, math.nan, math.nan, TTFT, min_replicas=1).replicas == 1


def test_headroom_knobs_only_add_replicas(h200):
    base = size_prefill(h200, 180.0, ISL, TTFT).replicas
    assert size_prefill(h200, 180.0, ISL, TTFT, quantile=0.999).replicas >= base
    assert size_prefill(h200, 180.0, ISL, TTFT, max_utilization=0.6).replicas > base
    assert size_prefill(h200, 180.0, ISL, TTFT, target_fraction=0.5).replicas >= base
    d = size_decode(h200, 400.0, ISL, OSL, ITL).replicas
    assert size_decode(h200, 400.0, ISL, OSL, ITL, quantile=0.999).replicas >= d
    assert size_decode(h200, 400.0, ISL, OSL, ITL, target_fraction=0.6).replicas > d


def test_longer_prompts_and_outputs_need_more(h200):
    assert (
        size_prefill(h200, 50.0, 4000, TTFT).replicas
        > size_prefill(h200, 50.0, 1000, TTFT).replicas
    )
    assert (
        size_decode(h200, 100.0, ISL, 800, ITL).replicas
        > size_decode(h200, 100.0, ISL, 200, ITL).replicas
    )


def test_unattainable_ttft_is_reported_and_still_sized(h200):
    # A 12k-token prompt takes ~250 ms on an idle H200: a 200 ms TTFT cannot be met.
    r = size_prefill(h200, 20.0, 12_000, TTFT)
    assert r.binding == "unattainable" and "unattainable" in r.reason
    assert r.replicas >= math.ceil(20.0 * 12_000 / h200.prefill_capacity_tps(12_000))
    # ... and sizing stays monotone across the boundary.
    just_below = size_prefill(h200, 20.0, 9_000, TTFT).replicas
    assert r.replicas >= just_below


def test_unattainable_itl_is_reported(h200):
    r = size_decode(h200, 50.0, ISL, OSL, 3.0)  # below one sequence's ITL (~4.5 ms)
    assert r.binding == "unattainable" and "unattainable" in r.reason
    assert r.replicas >= 1


def test_policy_validates_knobs():
    with pytest.raises(ValueError, match="ttft_quantile"):
        SizingPolicy(ttft_quantile=1.0)
    with pytest.raises(ValueError, match="prefill_max_utilization"):
        SizingPolicy(prefill_max_utilization=1.5)
    assert SizingPolicy().ttft_quantile == 0.99
