"""Constants and helpers shared by the runtime tests (real planner, real profile, real actuators)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def single_runtime(
    planner,
    source: MetricsSource,
    actuators,
    *,
    step_s: float,
    keep: int,
    metrics: PlannerMetrics,
    intervals: dict | None = None,
):
    """The one deployment of a planner of one, as the controller runs it: its demand feed and
    its two pools over `actuators` (by Pool)."""
    import logging

    from sla_planner.config.fleet import DeploymentSpec
    from sla_planner.controller.demand_feed import DemandFeed
    from sla_planner.controller.pool_state import PoolState
    from sla_planner.controller.pools import ControlledPool, DeploymentRuntime, PoolKey
    from sla_planner.model.types import DEFAULT_VARIANT

    d = planner.deployment()
    v = d.variants[0]
    spec = DeploymentSpec(d.name, d.config, d.base, {}, rank=d.rank)
    feed = DemandFeed(
        lambda s: planner.observe(s, d.name), source, metrics.scoped(d.name),
        logging.getLogger("sla_planner.controller"), step_s, keep,
    )  # fmt: skip
    pools = {}
    for p, e in ((Pool.PREFILL, v.prefill), (Pool.DECODE, v.decode)):
        state = PoolState(p, (intervals or {}).get(p) or step_s, next_due=-math.inf)
        key = PoolKey(d.name, DEFAULT_VARIANT, p)
        pools[(DEFAULT_VARIANT, p)] = ControlledPool(
            key, e.gpu_type, e.gpus_per_replica, actuators[p], state
        )
    return DeploymentRuntime(spec, feed, pools)


class SingleController:
    """The controller of one deployment, read as the single-deployment planner's was: tick()
    and snapshot() give its single view (sla_planner.controller.snapshot.ControllerSnapshot),
    `decision` its Decision; everything else is the real Controller's."""

    def __init__(self, inner: Controller) -> None:
        self.inner = inner

    def tick(self, force: bool = False):
        return self.inner.tick(force).single()

    def snapshot(self):
        snap = self.inner.snapshot()
        return snap.single() if snap is not None else None

    @property
    def decision(self):
        fd = self.inner.decision
        return fd.deployments[0] if fd is not None and fd.deployments else None

    def __getattr__(self, name):
        return getattr(self.inner, name)


def make_controller(
    *,
    clock: SimulatedClock,
    source: MetricsSource,
    actuators,
    config: PlannerConfig | None = None,
    loop: LoopSettings | None = None,
    is_leader: Callable[[], bool] | None = None,
    planner=None,
    metrics: PlannerMetrics | None = None,
) -> tuple[SingleController, PlannerMetrics]:
    from sla_planner.model.planner import Planner

    cfg = config or planner_config()
    loop = loop or LoopSettings(retry_interval_s=10, backfill_intervals=30)
    metrics = metrics if metrics is not None else PlannerMetrics()
    planner = planner or Planner.of_one(cfg, curves())
    keep = min(loop.backfill_intervals, cfg.history_window)
    intervals = {Pool.PREFILL: loop.prefill_interval_s, Pool.DECODE: loop.decode_interval_s}
    rt = single_runtime(planner, source, actuators, step_s=cfg.interval_s, keep=keep,
                        metrics=metrics, intervals=intervals)  # fmt: skip
    ctl = Controller(
        planner=planner,
        deployments=[rt],
        clock=clock,
        loop=loop,
        metrics=metrics,
        is_leader=is_leader,
        startup_s=cfg.startup_s,
    )
    return SingleController(ctl), metrics


def sample_value(metrics: PlannerMetrics, name: str, **labels: str) -> float | None:
    """The sum of the samples of `name` whose labels include `labels` (a single deployment's
    series carry deployment and variant labels besides); None when there is none."""
    total, found = 0.0, False
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name != name or any(s.labels.get(k) != v for k, v in labels.items()):
                continue
            if isinstance(s.value, float) and math.isnan(s.value):
                continue
            total, found = total + s.value, True
    return total if found else None


def drive(ctl: Any, clock: SimulatedClock, seconds: float, on_tick=None) -> int:
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


def start_runtime(
    cfg, clock, *, source=None, api_client=None, attainment=None, queues=None, in_flight=None
):
    """`sla-planner run`'s runtime for a run config (a fleet of one), its controller read in
    the single view; `source`, `attainment`, `queues`, `in_flight` stand in for the
    deployment's."""
    from sla_planner.config.resolve import fleet_from_run_config
    from sla_planner.controller.wiring import build_runtime
    from sla_planner.model.types import DEFAULT_DEPLOYMENT as NAME

    def one(x):
        return None if x is None else {NAME: x}

    rt = build_runtime(
        fleet_from_run_config(cfg),
        clock=clock,
        api_client=api_client,
        sources=one(source),
        attainment=one(attainment),
        queues=one(queues),
        in_flight=one(in_flight),
    )
    rt.controller = SingleController(rt.controller)  # type: ignore[assignment]
    return rt
