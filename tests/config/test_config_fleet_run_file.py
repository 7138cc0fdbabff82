"""The fleet file of `sla-planner run --config FILE`: the fleet config plus, per variant, the
objects its pools scale, and the controller's settings; every mistake is one line naming the
field (exit code 2)."""

from __future__ import annotations

import copy

import pytest
from support.fleet_run import fleet_dict, write_fleet

from sla_planner.errors import UsageError


def _load(path):
    from sla_planner.config.resolve import load_fleet

    return load_fleet(path, for_run=True)


def test_the_fleet_file_loads_with_targets_per_variant(tmp_path):
    fleet = _load(write_fleet(tmp_path / "fleet.yaml"))
    cfg = fleet.source
    code = next(d for d in cfg.deployments if d.name == "code")
    assert [v.name for v in code.variants] == ["h200", "h100"]
    assert code.variants[1].targets.prefill.resolved_name() == "code-h100-prefill"
    assert [v.name for v in fleet.deployment("code").variants] == ["h200", "h100"]
    assert fleet.deployment("code").variants[1].prefill.gpu_type == "H100"
    assert cfg.loop.retry_interval_s == 10


def test_a_deployment_reads_prometheus_with_its_own_selector(tmp_path):
    fleet = _load(write_fleet(tmp_path / "fleet.yaml"))
    got = {d.name: d.prometheus.selector for d in fleet.deployments}
    assert got == {"chat": 'model="chat"', "code": 'model="code"', "batch": 'model="batch"'}


def test_per_pool_intervals_and_latency_correction_apply_to_a_fleet(tmp_path):
    # Once single-deployment only; one stack gives them to every deployment.
    d = _mutated(lambda d: d["loop"].update(prefill_interval_s=30, latency_correction=True))
    fleet = _load(write_fleet(tmp_path / "fleet.yaml", d))
    assert fleet.source.loop.prefill_interval_s == 30 and fleet.source.loop.latency_correction


def _mutated(mutate):
    d = copy.deepcopy(fleet_dict())
    mutate(d)
    return d


def _dep(d, name):
    return next(x for x in d["deployments"] if x["name"] == name)


ERRORS = [
    (lambda d: _dep(d, "chat")["variants"][0].pop("targets"),
     "deployments.chat.variants.h200.targets: required key is missing"),
    (lambda d: _dep(d, "code")["variants"][1]["targets"].update(
        prefill={"kind": "PodCliqueScalingGroup", "namespace": "llm", "name": "chat-h200-prefill"}),
     "PodCliqueScalingGroup llm/chat-h200-prefill is scaled by two pools"),
    (lambda d: _dep(d, "chat").update(demand={"trace": {"path": "conv.csv"}}),
     "deployments.chat.demand: sla-planner run reads demand from Prometheus"),
    (lambda d: d.update(targets={}), "targets: unknown key"),
]  # fmt: skip


@pytest.mark.parametrize("mutate, message", ERRORS)
def test_mistakes_are_one_usage_error_naming_the_field(tmp_path, mutate, message):
    path = write_fleet(tmp_path / "fleet.yaml", _mutated(mutate))
    with pytest.raises(UsageError) as e:
        _load(path)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_a_fleet_file_is_told_from_a_single_deployment_run_config(tmp_path):
    from sla_planner.config.load import is_fleet_file

    assert is_fleet_file(write_fleet(tmp_path / "fleet.yaml"))
    single = tmp_path / "planner.yaml"
    single.write_text("metrics: {prometheus: {url: 'http://x'}}\ntargets: {}\n")
    assert not is_fleet_file(single)
    broken = tmp_path / "broken.yaml"
    broken.write_text("deployments: [\n")
    assert not is_fleet_file(broken)  # the single loader reports the YAML error as before
    assert not is_fleet_file(tmp_path / "missing.yaml")


def test_a_deployment_drains_with_its_own_gauges(tmp_path):
    drain = {"gauge": "dynamo", "drain_timeout_s": 120, "serving_label": "sla-planner.io/serving"}
    d = _mutated(lambda d: _dep(d, "chat")["demand"]["prometheus"].update(drain=drain))
    fleet = _load(write_fleet(tmp_path / "fleet.yaml", d))
    chat = fleet.deployment("chat").drain
    assert (chat.gauge, chat.drain_timeout_s, chat.serving_label) == ("dynamo", 120, "sla-planner.io/serving")  # fmt: skip
    assert fleet.deployment("code").drain is None  # not configured: scale-downs as before
    bad = _mutated(lambda d: _dep(d, "chat")["demand"]["prometheus"].update(drain={"settle_s": -1}))
    with pytest.raises(UsageError, match="drain.settle_s"):
        _load(write_fleet(tmp_path / "bad.yaml", bad))
