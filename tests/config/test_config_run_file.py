"""RunConfig: the YAML of `sla-planner run --config FILE`, and its errors at the CLI."""

from __future__ import annotations

import textwrap

import pytest

from sla_planner.cli.main import main
from sla_planner.config.load import ConfigError as RunConfigError
from sla_planner.config.load import load_run_config

EXAMPLE = """\
planner: {sla: {ttft_ms: 200, itl_ms: 25}, interval_s: 60, startup_s: 120,
          budget: {max_gpus: 16}, prefill: {min_replicas: 1}, decode: {min_replicas: 1}}
profile: dynamo-h200-llama3.1-8b-fp8-tp1
metrics: {prometheus: {url: "http://prometheus:9090", preset: dynamo, selector: 'model="llama"'}}
targets:
  prefill: {kind: PodCliqueScalingGroup, namespace: llm, name: llama-0-prefill}
  decode:  {kind: PodCliqueScalingGroup, namespace: llm, podCliqueSet: llama, replicaIndex: 0, group: decode}
leader_election: {enabled: true, namespace: llm, lease_name: sla-planner}
server: {host: 0.0.0.0, port: 8080}
loop: {prefill_interval_s: 30, decode_interval_s: 90}
"""


def write(tmp_path, text: str):
    p = tmp_path / "planner.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_the_documented_example_loads(tmp_path):
    cfg = load_run_config(write(tmp_path, EXAMPLE))
    assert cfg.planner.sla.ttft_ms == 200 and cfg.planner.budget.max_gpus == 16
    assert cfg.metrics.prometheus.url.startswith("http://prometheus:9090")
    assert cfg.targets.prefill.resolved_name() == "llama-0-prefill"
    assert cfg.targets.decode.resolved_name() == "llama-0-decode"  # Grove naming
    assert cfg.leader_election.enabled and cfg.leader_election.resolved_namespace() == "llm"
    assert cfg.server.port == 8080
    assert (cfg.loop.prefill_interval_s, cfg.loop.decode_interval_s) == (30, 90)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EXAMPLE.replace("lease_name:", "lease_nmae:"), "leader_election.lease_nmae: unknown key"),
        (EXAMPLE.replace("max_gpus: 16", "max_gpus: 0"), "planner.budget.max_gpus"),
        (
            EXAMPLE.replace(
                "kind: PodCliqueScalingGroup, namespace: llm, name: llama-0-prefill",
                "kind: StatefulSet, namespace: llm, name: x",
            ),
            "targets.prefill",
        ),
        (
            "\n".join(ln for ln in EXAMPLE.splitlines() if not ln.startswith("metrics")),
            "metrics: required key is missing",
        ),
        (EXAMPLE.replace("interval_s: 30", "interval_s: -5"), "loop.prefill_interval_s"),
        (
            EXAMPLE.replace("{enabled: true,", "{enabled: true, renew_deadline_s: 20,"),
            "renew_deadline_s",
        ),
        ("targets: [1, 2\n", "not valid YAML at line"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, text: str, expected: str):
    with pytest.raises(RunConfigError) as err:
        load_run_config(write(tmp_path, text))
    assert expected in str(err.value)
    assert str(tmp_path / "planner.yaml") in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(RunConfigError, match="does not exist"):
        load_run_config(tmp_path / "nope.yaml")


def test_cli_bad_config_exits_2_with_one_line(tmp_path, capsys):
    path = write(tmp_path, EXAMPLE.replace("ttft_ms: 200", "ttft_ms: fast"))
    code = main(["run", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sla-planner: error:")
    assert "planner.sla.ttft_ms" in lines[0]
    assert "Traceback" not in err


def test_cli_bad_profile_exits_2(tmp_path, capsys):
    path = write(
        tmp_path,
        EXAMPLE.replace("profile: dynamo-h200-llama3.1-8b-fp8-tp1", "profile: no-such-profile"),
    )
    code = main(["run", "--config", str(path), "--once"])
    err = capsys.readouterr().err
    assert code == 2 and "no-such-profile" in err and len(err.strip().splitlines()) == 1


SAME_OBJECT = EXAMPLE.replace(
    "podCliqueSet: llama, replicaIndex: 0, group: decode", "name: llama-0-prefill"
)


@pytest.mark.parametrize(
    "text",
    [
        SAME_OBJECT,
        # The same object named two ways: by name, and by Grove fields.
        EXAMPLE.replace("name: llama-0-prefill", "name: llama-0-decode"),
    ],
    ids=["same-name", "name-and-grove-fields"],
)
def test_both_pools_on_one_object_is_rejected_at_load(tmp_path, text: str):
    # Both pools writing one object would flap it between their two sizes every tick.
    with pytest.raises(RunConfigError) as err:
        load_run_config(write(tmp_path, text))
    msg = str(err.value)
    assert "targets" in msg and "same object" in msg and "llm/llama-0-" in msg


def test_observing_one_object_from_two_metrics_only_pools_is_fine(tmp_path):
    text = EXAMPLE.replace(
        "  prefill: {kind: PodCliqueScalingGroup, namespace: llm, name: llama-0-prefill}\n"
        "  decode:  {kind: PodCliqueScalingGroup, namespace: llm, podCliqueSet: llama, "
        "replicaIndex: 0, group: decode}",
        "  prefill: {kind: MetricsOnly}\n  decode: {kind: MetricsOnly}",
    )
    cfg = load_run_config(write(tmp_path, text))
    assert cfg.targets.prefill.kind == cfg.targets.decode.kind == "MetricsOnly"


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        (EXAMPLE + "profile: other-profile\n", "profile", 11),
        (
            EXAMPLE.replace("interval_s: 60,", "interval_s: 60, interval_s: 600,"),
            "interval_s",
            1,
        ),
        (
            EXAMPLE.replace(
                "loop: {prefill_interval_s: 30, decode_interval_s: 90}",
                "loop:\n  prefill_interval_s: 30\n  prefill_interval_s: 5",
            ),
            "prefill_interval_s",
            12,
        ),
    ],
    ids=["top-level", "flow-mapping", "block-mapping"],
)
def test_duplicate_yaml_keys_are_rejected_naming_key_and_line(tmp_path, text, key, line):
    with pytest.raises(RunConfigError) as err:
        load_run_config(write(tmp_path, text))
    msg = str(err.value)
    assert f"duplicate key {key!r}" in msg and f"line {line}" in msg, msg
    assert len(msg.splitlines()) == 1


def test_cli_duplicate_key_is_one_line_exit_2(tmp_path, capsys):
    path = write(tmp_path, EXAMPLE + "profile: other\n")
    code = main(["run", "--config", str(path), "--once"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "duplicate key 'profile'" in err[0], err


def test_metrics_drain_turns_drains_on(tmp_path):
    from sla_planner.config.resolve import fleet_from_run_config

    off = fleet_from_run_config(load_run_config(write(tmp_path, EXAMPLE)))
    assert off.deployments[0].drain is None  # unset: a scale-down lowers replicas at once
    text = EXAMPLE.replace(
        "selector: 'model=\"llama\"'}}",
        "selector: 'model=\"llama\"'}, drain: {selector: 'job=\"vllm\"', drain_timeout_s: 90}}",
    )
    on = fleet_from_run_config(load_run_config(write(tmp_path, text))).deployments[0].drain
    assert (on.gauge, on.selector, on.drain_timeout_s, on.settle_s) == ("vllm", 'job="vllm"', 90, 30)  # fmt: skip
    with pytest.raises(RunConfigError, match="metrics.drain.drain_timeout_s"):
        load_run_config(write(tmp_path, text.replace("drain_timeout_s: 90", "drain_timeout_s: 0")))
