"""The SLO in PlannerConfig: `slo: {ttft_ms, itl_ms, attainment}`, `sla:` accepted as its old
name, and the attainment target validated."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sla_planner.model.config import SLA, SLO, PlannerConfig


def test_default_slo_is_99_percent_of_requests_within_200_and_25_ms():
    cfg = PlannerConfig()
    assert (cfg.slo.ttft_ms, cfg.slo.itl_ms, cfg.slo.attainment) == (200.0, 25.0, 0.99)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"slo": {"ttft_ms": 300, "itl_ms": 30, "attainment": 0.999}}, (300.0, 30.0, 0.999)),
        ({"sla": {"ttft_ms": 300, "itl_ms": 30}}, (300.0, 30.0, 0.99)),  # the old name
        ({"sla": {"ttft_ms": 300, "attainment": 0.95}}, (300.0, 25.0, 0.95)),
        ({"slo": {"attainment": None}}, (200.0, 25.0, None)),  # fixed-margin sizing
        ({"slo": SLO(ttft_ms=150)}, (150.0, 25.0, 0.99)),
        ({"sla": SLA(itl_ms=40)}, (200.0, 40.0, 0.99)),  # objects under the old name too
    ],
)
def test_slo_and_its_old_name_load(data, expected):
    cfg = PlannerConfig.model_validate(data)
    assert (cfg.slo.ttft_ms, cfg.slo.itl_ms, cfg.slo.attainment) == expected
    assert cfg.sla is cfg.slo  # code reading config.sla keeps working


def test_dump_uses_the_new_name_and_round_trips():
    cfg = PlannerConfig.model_validate({"sla": {"ttft_ms": 300}})
    dumped = cfg.model_dump()
    assert "slo" in dumped and "sla" not in dumped
    assert PlannerConfig.model_validate(dumped) == cfg


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"sla": {"ttft_ms": 200}, "slo": {"ttft_ms": 300}}, "give slo or its old name sla"),
        ({"slo": {"attainment": 1.0}}, "slo.attainment"),
        ({"slo": {"attainment": 0.4}}, "slo.attainment"),
        ({"slo": {"attainment": float("nan")}}, "slo.attainment"),
        ({"slo": {"attainment": "high"}}, "slo.attainment"),
        ({"slo": {"ttft_ms": 0}}, "slo.ttft_ms"),
        ({"slo": {"p99": 1}}, "slo.p99"),
    ],
)
def test_bad_slo_is_rejected_naming_the_field(data, fragment):
    with pytest.raises(ValidationError) as e:
        PlannerConfig.model_validate(data)
    text = "; ".join(
        ".".join(str(x) for x in err["loc"]) + ": " + err["msg"] for err in e.value.errors()
    )
    assert fragment in text
