"""Targets no replica count can meet are said up front (issue 10, defect 7)."""

from __future__ import annotations

import pytest

from sla_planner.model.config import SLA
from sla_planner.model.size.feasibility import impossible_targets, target_warnings


def test_targets_below_the_profile_floor_are_impossible(linear):
    # LinearCurves: TTFT = 20 + 0.02 tokens (20.02 ms for one token), ITL = 5 + 0.1 n
    problems = impossible_targets(SLA(ttft_ms=15, itl_ms=5.05), linear, linear)
    assert [p.target for p in problems] == ["ttft_ms", "itl_ms"]
    assert "20.02 ms" in problems[0].message and "5.1 ms" in problems[1].message
    assert impossible_targets(SLA(ttft_ms=21, itl_ms=6), linear, linear) == []


def test_real_profile_floors(h200):
    assert [p.target for p in impossible_targets(SLA(ttft_ms=19, itl_ms=25), h200, h200)] == [
        "ttft_ms"
    ]
    assert [p.target for p in impossible_targets(SLA(ttft_ms=200, itl_ms=4), h200, h200)] == [
        "itl_ms"
    ]
    assert impossible_targets(SLA(), h200, h200) == []


@pytest.mark.parametrize(
    ("sla", "words"),
    [
        (SLA(ttft_ms=30, itl_ms=25), ["TTFT target 30 ms", "1155-token"]),
        (SLA(ttft_ms=200, itl_ms=4.39), ["ITL target 4.39 ms", "context 1260"]),
    ],
)
def test_targets_below_the_mean_requests_idle_latency_warn(h200, sla, words):
    warnings = target_warnings(sla, h200, h200, isl=1155.0, osl=211.0)
    assert len(warnings) == 1 and all(w in warnings[0] for w in words), warnings


def test_sane_targets_do_not_warn(h200):
    assert target_warnings(SLA(), h200, h200, isl=1155.0, osl=211.0) == []
    assert target_warnings(SLA(ttft_ms=40), h200, h200, isl=float("nan"), osl=211.0) == []
