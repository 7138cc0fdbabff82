"""Constants and helpers shared by the runtime tests (real planner, real profile, real actuators)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sla_planner.actuators.base import Actuator, ReplicaStatus
from sla_planner.actuators.config import TargetConfig
from sla_planner.actuators.factory import build_actuator
from sla_planner.controller.clock import SimulatedClock
from sla_planner.controller.controller import Controller
from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.controller.pool_state import LoopSettings
from sla_planner.model.config import PlannerConfig
from sla_planner.model.types import DemandSample, Pool
from sla_planner.sources.base import MetricsSource, MetricsSourceError

NS = "llm"
# Start of the Azure 2023 conversation trace (2023-11-16 18:15:46 UTC) rounded down to a minute.
TRACE_T0 = 1700158500.0
READY_DELAY_S = 90.0
PROFILE = "dynamo-h200-llama3.1-8b-fp8-tp1"
REPO = Path(__file__).resolve().parents[2]
AZURE_CONV = REPO / "planner" / "data" / "AzureLLMInferenceTrace_conv.csv"
PREFILL_NAME = "llama-0-prefill"
DECODE_NAME = "llama-0-decode"


@functools.cache
def curves():
    from sla_planner.profiles.interpolation import ProfileCurves
    from sla_planner.profiles.registry import load_profile

    return ProfileCurves(load_profile(PROFILE))


def planner_config(**overrides) -> PlannerConfig:
    base = dict(
        sla={"ttft_ms": 200, "itl_ms": 25},
        interval_s=60,
        startup_s=120,
        budget={"max_gpus": 16},
        prefill={"min_replicas": 1},
        decode={"min_replicas": 1},
        forecaster="last",
        scale_down_window_s=180,
    )
    base.update(overrides)
    return PlannerConfig.model_validate(base)


def write_step_trace(
    path: Path, t0: float, levels: Sequence[tuple[int, float]], step_s: float = 60.0
) -> Path:
    """An aggregate CSV trace (a real file read by sla_planner.sources.trace_source): `levels` is a list of
    (number of intervals, requests per second); ISL 1500 / OSL 250 tokens like chat traffic."""
    rows = ["timestamp,requests,isl_mean,osl_mean"]
    t = t0
    for n, rps in levels:
        for _ in range(n):
            rows.append(f"{t:.0f},{rps * step_s:.0f},1500,250")
            t += step_s
    path.write_text("\n".join(rows) + "\n")
    return path


def trace_source(path: Path, rate_scale: float = 1.0) -> MetricsSource:
    from sla_planner.sources.trace_files import load_trace
    from sla_planner.sources.trace_source import TraceMetricsSource

    return TraceMetricsSource(load_trace(path), rate_scale=rate_scale)


class SwitchableSource:
    """A real MetricsSource that can be switched off, as Prometheus goes away in an outage."""

    def __init__(self, inner: MetricsSource) -> None:
        self.inner = inner
        self.down = False
        self.calls = 0

    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        self.calls += 1
        if self.down:
            raise MetricsSourceError(
                "Prometheus at http://127.0.0.1:9 is unreachable (connection refused)"
            )
        return self.inner.fetch(start, end, step_s)

    def time_range(self):
        return self.inner.time_range()


@dataclass
class CountingActuator:
    """Wraps a real actuator to count writes per controller (the fake sees one client)."""

    inner: Actuator
    scales: list[int] = field(default_factory=list)

    @property
    def description(self) -> str:
        return self.inner.description

    def status(self) -> ReplicaStatus:
        return self.inner.status()

    def scale(self, replicas: int, guard=None) -> None:
        self.inner.scale(replicas, guard=guard)
        self.scales.append(replicas)


def kube_actuators(
    api_client, prefill_kind="PodCliqueScalingGroup", decode_kind="PodCliqueScalingGroup"
):
    def one(kind: str, name: str, pool: str) -> CountingActuator:
        target = TargetConfig(kind=kind, namespace=NS, name=name)
        return CountingActuator(
            build_actuator(target, api_client, pool=pool, sleep=lambda _s: None)
        )

    return {
        Pool.PREFILL: one(prefill_kind, PREFILL_NAME, "prefill"),
        Pool.DECODE: one(decode_kind, DECODE_NAME, "decode"),
    }


def make_controller(
    *,
    clock: SimulatedClock,
    source: MetricsSource,
    actuators,
    config: PlannerConfig | None = None,
    loop: LoopSettings | None = None,
    is_leader: Callable[[], bool] | None = None,
) -> tuple[Controller, PlannerMetrics]:
    from sla_planner.model.old_planner import Planner

    cfg = config or planner_config()
    metrics = PlannerMetrics()
    ctl = Controller(
        planner=Planner(cfg, curves()),
        source=source,
        actuators=actuators,
        clock=clock,
        config=cfg,
        gpus_per_replica={p: curves().gpus_per_replica for p in Pool},
        loop=loop or LoopSettings(retry_interval_s=10, backfill_intervals=30),
        metrics=metrics,
        is_leader=is_leader,
    )
    return ctl, metrics


def sample_value(metrics: PlannerMetrics, name: str, **labels: str) -> float | None:
    v = metrics.registry.get_sample_value(name, labels)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def drive(ctl: Controller, clock: SimulatedClock, seconds: float, on_tick=None) -> int:
    """Run the controller in simulated time for `seconds`, waking when it asks to. Returns ticks."""
    end = clock.now() + seconds
    ticks = 0
    while clock.now() < end:
        snap = ctl.tick()
        ticks += 1
        if on_tick is not None:
            on_tick(clock.now(), snap)
        clock.set(min(max(ctl.next_wakeup(), clock.now()), end))
        assert ticks < 10_000, "controller never settles"
    return ticks
