"""The fleet config file: every mistake is one FleetConfigError naming the field path and the fix."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from support.paths import BUNDLED_PROFILE, BUNDLED_TRACE

from sla_planner.config.load import ConfigError as FleetConfigError
from sla_planner.config.resolve import demo_fleet_path
from sla_planner.config.resolve import load_fleet as load_fleet_file
from sla_planner.errors import UsageError

H100 = "aic-h100-llama3.1-8b-fp8-tp1"


def base() -> dict:
    return {
        "cluster": {"gpus": {"H200": {"count": 4, "price_per_gpu_hour": 3.5}}},
        "priority_classes": ["high", "low"],
        "deployments": [
            {
                "name": "chat",
                "priority": "high",
                "slo": {"ttft_ms": 200, "itl_ms": 25},
                "demand": {"trace": {"path": str(BUNDLED_TRACE)}},
                "variants": [{"name": "h200", "profile": BUNDLED_PROFILE}],
            }
        ],
    }


def write(tmp_path, data) -> str:
    p = tmp_path / "fleet.yaml"
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(p)


def with_(mutate) -> dict:
    d = base()
    mutate(d)
    return d


def dep(d: dict) -> dict:
    return d["deployments"][0]


# (mutation, text the one-line error must contain)
ERRORS = [
    (lambda d: dep(d).update(slo={"ttft_ms": 200, "itl_ms": 25, "attainmnt": 0.9}),
     "deployments.chat.slo.attainmnt: unknown key (check the spelling"),
    (lambda d: d.update(clustr={}), "clustr: unknown key"),
    (lambda d: dep(d).update(priority="urgent"), "priority 'urgent' is not a priority class"),
    (lambda d: dep(d).update(slo={"ttft_ms": -1, "itl_ms": 25}), "deployments.chat.slo.ttft_ms"),
    (lambda d: dep(d).update(slo={"ttft_ms": 200, "itl_ms": 25, "attainment": 1.5}),
     "deployments.chat.slo.attainment"),
    (lambda d: dep(d).update(name="Chat_1"), "deployments.Chat_1.name: String should match pattern"),
    (lambda d: d["deployments"].append(dep(d)), "deployment names must be unique; repeated: chat"),
    (lambda d: dep(d).update(demand={}), "give exactly one demand source"),
    (lambda d: dep(d).update(demand={"prometheus": {"selector": 'model="x"'}}),
     "add a `prometheus:` section"),
    (lambda d: dep(d)["variants"].append({"name": "h200", "profile": BUNDLED_PROFILE}),
     "variant names must be unique"),
    (lambda d: dep(d).update(variants=[{"name": "x", "profile": H100}]),
     "deployments.chat.variants.x.prefill: profile 'aic-h100-llama3.1-8b-fp8-tp1' runs on GPU "
     "type 'H100', which is not a cluster GPU pool (H200)"),
    (lambda d: dep(d).update(variants=[{"name": "x", "profile": "no-such-profile"}]),
     "deployments.chat.variants.x.prefill.profile: profile 'no-such-profile' not found"),
    (lambda d: dep(d).update(variants=[{"name": "x", "profile": BUNDLED_PROFILE, "gpu_type": "B200"}]),
     "gpu_type 'B200' is not a cluster GPU pool"),
    (lambda d: dep(d).update(prefill={"min_replicas": 3}, decode={"min_replicas": 2}),
     "cluster.gpus.H200.count: the deployments' minimums on their first variants need 5 H200"),
    (lambda d: dep(d).update(prefill={"min_replicas": 5}),
     "deployments.chat.variants.h200.prefill: min_replicas 5 x 1 GPU(s) need 5 H200 GPUs"),
    (lambda d: dep(d).update(prefill={"min_replicas": 2, "max_replicas": 1}),
     "max_replicas (1) is below min_replicas (2)"),
    (lambda d: d.update(interval_s=float("inf")), "interval_s"),
    (lambda d: d.update(priority_classes=None), "priority 'high' is not a priority class"),
    (lambda d: d["deployments"].append({**dep(d), "name": "b", "priority": 3}),
     "priorities mix integers and class names"),
    (lambda d: dep(d)["demand"]["trace"].update(start_at=1.0, time_offset_s=5.0),
     "give start_at or time_offset_s, not both"),
    (lambda d: d["cluster"]["gpus"]["H200"].update(price_per_gpu_hour=0), "price_per_gpu_hour"),
    (lambda d: dep(d).update(variants=[{"name": "x", "profile": BUNDLED_PROFILE,
                                        "prefill": {"profile": BUNDLED_PROFILE}}]),
     "give `profile` (both pools) or `prefill`, not both"),
]  # fmt: skip


@pytest.mark.parametrize("mutate, message", ERRORS)
def test_config_errors_name_the_field(tmp_path, mutate, message):
    path = write(tmp_path, with_(mutate))
    with pytest.raises(FleetConfigError) as err:
        load_fleet_file(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value).strip()
    assert isinstance(err.value, UsageError)  # exit code 2 on the command line


def test_duplicate_keys_and_bad_yaml(tmp_path):
    text = textwrap.dedent(
        """
        cluster: {gpus: {H200: {count: 4, price_per_gpu_hour: 3.5}}}
        cluster: {gpus: {H200: {count: 8, price_per_gpu_hour: 3.5}}}
        deployments: []
        """
    )
    with pytest.raises(
        FleetConfigError, match="duplicate key 'cluster' at line 3 \\(first at line 2\\)"
    ):
        load_fleet_file(write(tmp_path, text))
    with pytest.raises(FleetConfigError, match="not valid YAML"):
        load_fleet_file(write(tmp_path, "cluster: [unclosed"))
    with pytest.raises(FleetConfigError, match="expected a mapping"):
        load_fleet_file(write(tmp_path, "- a list"))
    with pytest.raises(FleetConfigError, match="does not exist"):
        load_fleet_file(tmp_path / "missing.yaml")


def test_relative_paths_resolve_beside_the_file_and_the_demo_loads(tmp_path):
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "conv.csv").write_bytes(BUNDLED_TRACE.read_bytes())
    d = base()
    dep(d)["demand"]["trace"]["path"] = "traces/conv.csv"
    loaded = load_fleet_file(write(tmp_path, d))
    assert loaded.resolve("traces/conv.csv") == tmp_path / "traces" / "conv.csv"
    demo = load_fleet_file(demo_fleet_path())
    assert len(demo.deployments) >= 3
    types = {
        e.gpu_type for d in demo.deployments for v in d.variants for e in (v.prefill, v.decode)
    }
    assert types == {"H200", "H100"}
    assert {d.priority for d in demo.deployments} == {"critical", "standard", "batch"}
