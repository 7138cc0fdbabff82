"""Run Dynamo's offline mocker replay on our requests and score it from per-request records.

Time: the replay starts its clock at the first arrival (it rebases the trace's timestamps), so
simulated time = trace time - `origin_s` (the first arrival). Policies see simulated time;
results are mapped back: `requests.arrival_ms` and `decisions` are in trace time, lifecycle
records stay in simulated ms (`origin_s` maps them).
"""

from __future__ import annotations

import logging
import resource
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sla_planner.evaluation.des import Requests, Schedule
from sla_planner_bench.dynamo_replay.engine import MockerEngines
from sla_planner_bench.dynamo_replay.lifecycle import (
    GpuHours,
    gpu_hours_billed,
    gpu_hours_by_decision,
    scaling_actions,
    worker_spans,
)
from sla_planner_bench.dynamo_replay.records import (
    LatencySummary,
    RequestTable,
    summarize_latency,
    table_from_jsonl,
)
from sla_planner_bench.dynamo_replay.runtime import native_replay, require_dynamo
from sla_planner_bench.dynamo_replay.schedule import (
    FixedSchedulePolicy,
    counts_at,
    shifted,
)
from sla_planner_bench.dynamo_replay.traces import TRACE_BLOCK_SIZE, write_mooncake

log = logging.getLogger("sla_planner.judge2")


@dataclass(frozen=True)
class ReplayConfig:
    """Engines and SLA targets of a disaggregated replay. `router_mode` is Dynamo's default
    round robin (each request queues at a worker on arrival); `kv_router` is the other one."""

    engines: MockerEngines
    ttft_ms: float = 200.0
    itl_ms: float = 25.0
    router_mode: str = "round_robin"
    trace_block_size: int = TRACE_BLOCK_SIZE
    workdir: str | None = None  # for the temporary trace and records (default: the system's)

    @property
    def gpus(self) -> dict[str, int]:
        return {"prefill": self.engines.gpus_prefill, "decode": self.engines.gpus_decode}


@dataclass
class ReplayResult:
    requests: RequestTable  # arrival_ms in trace time
    latency: LatencySummary
    gpu_hours: GpuHours  # billed from the lifecycle
    gpu_hours_decided: float  # desired counts from each decision to the end
    actions: dict[str, int]
    lifecycle: list[dict[str, Any]]  # simulated ms
    summary: dict[str, Any]  # Dynamo's own report
    initial: dict[str, int]
    origin_s: float  # trace time of simulated t = 0
    decisions: list[tuple[float, int, int]]  # (trace time s, prefill, decode) applied
    wall_s: float
    max_rss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def end_s(self) -> float:
        """Trace time of the replay's end (its last completion)."""
        return self.origin_s + float(self.summary.get("duration_ms", 0.0)) / 1000.0

    def as_dict(self) -> dict[str, Any]:
        """The figures a benchmark row reports."""
        lat = asdict(self.latency)
        return {
            **lat,
            "gpu_hours_billed": self.gpu_hours.billed,
            "gpu_hours_serving": self.gpu_hours.serving,
            "gpu_hours_decided": self.gpu_hours_decided,
            "scale_ops": self.actions.get("scale_ops", 0),
            "workers_started": self.actions.get("workers_started", 0),
            "workers_drained": self.actions.get("workers_drained", 0),
            "replay_wall_s": self.wall_s,
            "max_rss_mb": self.max_rss_mb,
        }


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_policy(
    requests: Requests,
    cfg: ReplayConfig,
    policy: Any,
    initial: tuple[int, int],
    *,
    replay_kwargs: dict[str, Any] | None = None,
) -> ReplayResult:
    """Replay `requests` (trace time, s) with `policy` as the scaling policy (None: fixed
    pools). `initial` = (prefill, decode) workers are ready at the first arrival."""
    require_dynamo()
    if len(requests) == 0:
        raise ValueError("no requests to replay")
    run = native_replay()
    origin_s = float(requests.t[0])
    with tempfile.TemporaryDirectory(dir=cfg.workdir, prefix="sla_judge2_") as tmp:
        trace = write_mooncake(
            requests, Path(tmp) / "trace.jsonl", origin_s=origin_s, block_size=cfg.trace_block_size
        )
        report = Path(tmp) / "requests.jsonl"
        kwargs: dict[str, Any] = dict(
            prefill_engine_args=cfg.engines.prefill_args,
            decode_engine_args=cfg.engines.decode_args,
            num_prefill_workers=int(initial[0]),
            num_decode_workers=int(initial[1]),
            router_mode=cfg.router_mode,
            trace_block_size=cfg.trace_block_size,
            trace_format="mooncake",
            sla_ttft_ms=cfg.ttft_ms,
            sla_itl_ms=cfg.itl_ms,
            capture_per_request=False,
            report_jsonl_path=str(report),
            scaling_policy=policy,
        )
        kwargs.update(replay_kwargs or {})
        t0 = time.perf_counter()
        native = run([str(trace)], **kwargs)
        wall = time.perf_counter() - t0
        lifecycle = list(native.lifecycle_operations)
        summary = dict(native.summary)
        del native
        if policy is not None and hasattr(policy, "finalize"):
            policy.finalize(lifecycle)
        table = table_from_jsonl(report).shifted(origin_s * 1000.0)
    sim_decisions = list(getattr(policy, "decisions", None) or [])
    res = score(table, lifecycle, summary, cfg, initial, origin_s, sim_decisions, wall)
    log.info(
        "judge2 replay requests=%d attainment=%.4f gpu_h=%.3f wall_s=%.1f",
        len(table),
        res.latency.attainment,
        res.gpu_hours.billed,
        wall,
    )
    return res


def score(
    table: RequestTable,
    lifecycle: list[dict[str, Any]],
    summary: dict[str, Any],
    cfg: ReplayConfig,
    initial: tuple[int, int],
    origin_s: float,
    sim_decisions: Sequence[tuple[float, int, int]],
    wall_s: float,
) -> ReplayResult:
    """A ReplayResult from the replay's raw outputs (decisions in simulated time)."""
    init = {"prefill": int(initial[0]), "decode": int(initial[1])}
    end_ms = float(summary.get("duration_ms", 0.0))
    decisions = [(origin_s + t, int(p), int(d)) for t, p, d in sim_decisions]
    steps = [(origin_s, init["prefill"], init["decode"]), *decisions]
    decided = gpu_hours_by_decision(
        [s[0] for s in steps],
        [s[1] for s in steps],
        [s[2] for s in steps],
        origin_s + end_ms / 1000.0,
        cfg.engines.gpus_prefill,
        cfg.engines.gpus_decode,
    )
    return ReplayResult(
        requests=table,
        latency=summarize_latency(table, cfg.ttft_ms, cfg.itl_ms),
        gpu_hours=gpu_hours_billed(worker_spans(lifecycle, init), end_ms, cfg.gpus),
        gpu_hours_decided=decided,
        actions=scaling_actions(lifecycle),
        lifecycle=lifecycle,
        summary=summary,
        initial=init,
        origin_s=origin_s,
        decisions=decisions,
        wall_s=wall_s,
        max_rss_mb=_max_rss_mb(),
    )


def replay_schedule(
    requests: Requests, schedule: Schedule, cfg: ReplayConfig, *, min_workers: int = 1
) -> ReplayResult:
    """Replay `requests` under a fixed schedule (both in trace time, s). The counts in force at
    the first arrival are the initial (ready) workers; later decisions apply at their times,
    with the engines' startup delay for added workers."""
    require_dynamo()
    if len(requests) == 0:
        raise ValueError("no requests to replay")
    sim = shifted(schedule, float(requests.t[0]))
    p0, d0 = counts_at(sim, 0.0)
    policy = FixedSchedulePolicy(sim, min_workers=min_workers)
    return run_policy(requests, cfg, policy, (max(p0, min_workers), max(d0, min_workers)))
