"""Dynamo's own planner in the loop: its runnable targets react to a load step; its SLA target
needs NVIDIA's AISimulate, which is not installable here."""

from __future__ import annotations

import numpy as np
import pytest
from support.dynamo import requires_dynamo

from sla_planner.evaluation.des import Requests
from sla_planner_bench.dynamo_replay import DynamoUnavailableError
from sla_planner_bench.dynamo_replay.dynamo_planner import DynamoPlannerKnobs

pytestmark = [pytest.mark.slow, requires_dynamo]


def _load_step() -> Requests:
    rng = np.random.default_rng(7)
    low = np.sort(rng.uniform(0.0, 200.0, 100))  # 0.5 req/s
    high = np.sort(rng.uniform(200.0, 500.0, 6000))  # 20 req/s x 6000 tokens > one worker
    t = np.concatenate([low, high])
    return Requests.of(t, np.full(t.size, 6000), np.full(t.size, 300))


@pytest.mark.parametrize("target", ["latency", "throughput"])
def test_dynamo_planner_scales_up_after_a_load_step(replay_cfg, target: str) -> None:
    from sla_planner_bench.dynamo_replay.dynamo_planner import run_dynamo_planner
    from sla_planner_bench.dynamo_replay.replay import replay_schedule

    reqs = _load_step()
    knobs = DynamoPlannerKnobs(optimization_target=target, max_gpu_budget=6)
    res = run_dynamo_planner(reqs, replay_cfg, knobs)
    assert res.extra["ticks"] > 80  # a tick every 5 s for ~500 s
    assert res.decisions, "the planner made no decision"
    t_first, p_first, d_first = res.decisions[0]
    assert t_first > 200.0 and (p_first > 1 or d_first > 1)  # not before the step
    ups = [
        op["at_ms"]
        for op in res.lifecycle
        if op["cause"] == "planner_scale"
        and op["transitions"][0]["transition"] == "worker_starting"
    ]
    assert ups and min(ups) > 195_000.0
    assert max(p + d for _, p, d in res.decisions) <= 6  # the GPU budget (1 GPU a worker)
    # its decisions, replayed as a fixed schedule at its own 5 s cadence, give the same run
    again = replay_schedule(reqs, res.extra["schedule"], replay_cfg)
    assert again.latency.attainment == pytest.approx(res.latency.attainment, abs=1e-9)
    assert again.gpu_hours.billed == pytest.approx(res.gpu_hours.billed, rel=1e-9)


def test_sla_target_is_refused_with_the_reason(replay_cfg) -> None:
    from sla_planner_bench.dynamo_replay import ais_shim
    from sla_planner_bench.dynamo_replay.dynamo_planner import run_dynamo_planner

    if ais_shim.real_aisimulate_available():
        pytest.skip("NVIDIA's aisimulate_core is installed: the SLA target can run")
    with pytest.raises(DynamoUnavailableError, match="aisimulate_core"):
        run_dynamo_planner(_load_step(), replay_cfg, DynamoPlannerKnobs(optimization_target="sla"))


def test_dynamos_sla_planner_itself_fails_without_aisimulate(replay_cfg) -> None:
    """Not just our refusal: Dynamo's own SLA planner cannot be built with the stubs."""
    import json

    from sla_planner_bench.dynamo_replay import ais_shim
    from sla_planner_bench.dynamo_replay.runtime import dynamo_module

    if ais_shim.real_aisimulate_available():
        pytest.skip("NVIDIA's aisimulate_core is installed: the SLA target can run")
    mod = dynamo_module("dynamo.replay.planner")
    assert ais_shim.is_active()
    with pytest.raises(ImportError, match="aisimulate"):
        mod.prepare_planner_replay(
            extra_engine_args=None,
            prefill_engine_args=replay_cfg.engines.prefill_args,
            decode_engine_args=replay_cfg.engines.decode_args,
            planner_config_arg=json.dumps(
                DynamoPlannerKnobs(optimization_target="sla").to_config()
            ),
            capture_details=False,
        )


def test_our_wrapper_runs_dynamos_planner_as_dynamos_own_api_does(
    replay_cfg, tmp_path, monkeypatch
) -> None:
    """run_dynamo_planner == dynamo.replay.api.run_trace_replay(planner_config=...) on the same
    trace: same goodput, GPU-hours and end time (our wrapper only records and streams)."""
    import json

    monkeypatch.chdir(tmp_path)  # Dynamo's own API writes ./planner_reports at the end

    from sla_planner_bench.dynamo_replay.dynamo_planner import run_dynamo_planner
    from sla_planner_bench.dynamo_replay.runtime import dynamo_module
    from sla_planner_bench.dynamo_replay.traces import write_mooncake

    reqs = _load_step()
    knobs = DynamoPlannerKnobs(optimization_target="latency", max_gpu_budget=6)
    ours = run_dynamo_planner(reqs, replay_cfg, knobs)
    api = dynamo_module("dynamo.replay.api")
    report = api.run_trace_replay(
        [str(write_mooncake(reqs, tmp_path / "trace.jsonl"))],
        prefill_engine_args=replay_cfg.engines.prefill_args,
        decode_engine_args=replay_cfg.engines.decode_args,
        trace_block_size=512,
        sla_ttft_ms=replay_cfg.ttft_ms,
        sla_itl_ms=replay_cfg.itl_ms,
        planner_config=json.dumps(knobs.to_config()),
    )
    s = report.summary
    assert ours.latency.met == s["goodput_completed_requests"] > 0
    assert ours.summary["gpu_hours"] == pytest.approx(s["gpu_hours"], rel=1e-12)
    assert ours.summary["duration_ms"] == pytest.approx(s["duration_ms"], rel=1e-12)
