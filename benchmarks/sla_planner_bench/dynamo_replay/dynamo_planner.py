"""Dynamo's own planner (ai-dynamo 1.6.1) in the loop: the Dynamo baseline, not a re-implementation.

`run_dynamo_planner` calls Dynamo's `dynamo.replay.planner.prepare_planner_replay`, the path
`dynamo.replay.api.run_trace_replay(planner_config=...)` takes: its `ReplayPlannerAdapter`
around the builtin `LocalPlannerOrchestrator` with a virtual clock, advisory mode. We only wrap
the adapter to record its decisions and stream per-request records.

Optimisation targets: `throughput`, `latency` and `load` run. `sla` needs NVIDIA's
`aisimulate_core` (its forward-pass performance model), which no reachable index serves: with
the import stubs (ais_shim) it fails when the planner is built, with an ImportError naming
AISimulate. The runnable targets are reactive: every `load_adjustment_interval_seconds` (5 s)
they read each worker's latest forward-pass metrics and move a pool by +1/-1 on fixed
thresholds (dynamo/planner/core/load_scaling.py), never while that pool is still scaling:

- prefill: queued prefill tokens / context length (the engine's `max_model_len`);
  throughput: up if any worker >= 1.0, down if all < 0.1; latency: up >= 0.1, down when all
  queues are empty; load: `prefill_scale_{up,down}_queue_tokens`.
- decode: (scheduled + queued decode KV tokens) / max KV tokens; throughput: up > 1.0, down
  < 0.6; latency: up > 0.4, down < 0.1; load: `decode_scale_{up,down}_kv_rate` (percent).

They ignore `ttft_ms`, `itl_ms` and the load predictor (Dynamo logs a warning).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sla_planner.evaluation.des import Requests
from sla_planner_bench.dynamo_replay import ais_shim
from sla_planner_bench.dynamo_replay.replay import ReplayConfig, ReplayResult, run_policy
from sla_planner_bench.dynamo_replay.runtime import (
    DynamoUnavailableError,
    dynamo_module,
    require_dynamo,
)
from sla_planner_bench.dynamo_replay.schedule import Decision, from_decisions, shifted

RUNNABLE_TARGETS = ("throughput", "latency", "load")


@dataclass(frozen=True)
class DynamoPlannerKnobs:
    """The PlannerConfig fields that matter for a disaggregated replay (Dynamo's defaults,
    except the budget: pass the same one as ours)."""

    optimization_target: str = "throughput"  # throughput | latency | load | sla
    max_gpu_budget: int = 8  # over both pools; -1 disables
    min_gpu_budget: int = -1
    min_endpoint: int = 1  # per pool
    load_adjustment_interval_seconds: int = 5
    max_throughput_scaling_replicas: int = 8
    load_scaling_down_sensitivity: int = 80
    load_min_observations: int = 5
    ttft_ms: float = 500.0  # sla target only
    itl_ms: float = 50.0  # sla target only
    # thresholds of the load target (required for it)
    prefill_scale_up_queue_tokens: int | None = None
    prefill_scale_down_queue_tokens: int | None = None
    decode_scale_up_kv_rate: float | None = None  # percent
    decode_scale_down_kv_rate: float | None = None
    prefill_engine_num_gpu: int = 1
    decode_engine_num_gpu: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_config(self) -> dict[str, Any]:
        cfg = {k: v for k, v in self.__dict__.items() if k != "extra" and v is not None}
        cfg.update(
            mode="disagg",
            environment="virtual",
            backend="mocker",
            control_api_port=0,
            pre_deployment_sweeping_mode="none",
            # Dynamo writes an HTML diagnostics report into ./planner_reports every simulated
            # day by default: a benchmark or test must not litter the caller's directory.
            report_interval_hours=None,
        )
        cfg.update(self.extra)
        return cfg


class _Recorder:
    """Forwards to Dynamo's adapter and records (simulated time s, prefill, decode) targets."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self.decisions: list[Decision] = []
        self.ticks = 0
        self.details: Any = None

    def initial_tick_ms(self) -> float:
        return float(self.adapter.initial_tick_ms())

    def on_tick(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        out = self.adapter.on_tick(snapshot)
        self.ticks += 1
        tp, td = out.get("target_prefill"), out.get("target_decode")
        if tp is not None or td is not None:
            p = int(snapshot["non_draining_prefill_count"]) if tp is None else int(tp)
            d = int(snapshot["non_draining_decode_count"]) if td is None else int(td)
            self.decisions.append((float(snapshot["now_ms"]) / 1000.0, p, d))
        return dict(out)

    def finalize(self, lifecycle: list[dict[str, Any]] | None = None) -> None:
        self.details = self.adapter.finalize(lifecycle)


def run_dynamo_planner(
    requests: Requests,
    cfg: ReplayConfig,
    knobs: DynamoPlannerKnobs | None = None,
    *,
    initial: tuple[int, int] = (1, 1),
) -> ReplayResult:
    """Replay `requests` with Dynamo's planner scaling the mocker pools in the loop.

    The engines should set `max_model_len` (the planner's prefill thresholds scale with it).
    `result.decisions` lists each non-empty decision (trace time); `result.extra` has
    `schedule` (a Schedule in trace time, to re-score with a fixed-schedule replay, exact at
    Dynamo's 5 s cadence), `ticks`, `scaling_events` and Dynamo's `metadata`.
    """
    require_dynamo()
    knobs = knobs or DynamoPlannerKnobs()
    if knobs.optimization_target == "sla" and not ais_shim.real_aisimulate_available():
        raise DynamoUnavailableError(
            "Dynamo's 'sla' optimisation target needs NVIDIA's aisimulate_core (its forward-pass "
            "performance model), which only NVIDIA's package index serves. Fix: run the "
            f"{', '.join(RUNNABLE_TARGETS)} targets, or install aisimulate_core from NVIDIA's index"
        )
    planner_replay = dynamo_module("dynamo.replay.planner")
    adapter = planner_replay.prepare_planner_replay(
        extra_engine_args=None,
        prefill_engine_args=cfg.engines.prefill_args,
        decode_engine_args=cfg.engines.decode_args,
        planner_config_arg=json.dumps(knobs.to_config()),
        capture_details=False,
    )
    rec = _Recorder(adapter)
    with adapter:
        res = run_policy(requests, cfg, rec, initial)
    res.extra["ticks"] = rec.ticks
    res.extra["schedule"] = shifted(from_decisions(rec.decisions, initial), -res.origin_s)
    details = rec.details
    res.extra["scaling_events"] = [vars(e) for e in getattr(details, "scaling_events", [])]
    res.extra["metadata"] = getattr(details, "metadata", {})
    res.extra["knobs"] = knobs.to_config()
    return res
