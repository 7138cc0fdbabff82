"""Run the fleet controller in simulated time against the fake Kubernetes API: every variant's
pools as Grove PodCliqueScalingGroups, demand per deployment from real step-trace files, and a
check of every GPU type's budget after every single write (each write is one change of the
cluster, so this is every instant)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.controller_harness import NS, SwitchableSource, trace_source, write_step_trace
from support.fake_kube import PCSG, FakeKube
from support.fleet_run import fleet_dict, pool_objects, write_fleet

from sla_planner.controller.clock import SimulatedClock

GPUS_PER_REPLICA = 1  # both profiles are TP1


def gpu_type_of(data: dict[str, Any]) -> dict[str, str]:
    """Object name -> GPU type (the variant's profile: H100 for the aic one)."""
    out = {}
    for dep, variant, _pool, obj in pool_objects(data):
        d = next(x for x in data["deployments"] if x["name"] == dep)
        v = next(x for x in d["variants"] if x["name"] == variant)
        out[obj] = "H100" if "h100" in v["profile"] else "H200"
    return out


def budget_of(data: dict[str, Any]) -> dict[str, int]:
    return {t: p["count"] for t, p in data["cluster"]["gpus"].items()}


def cluster_use(kube: FakeKube, data: dict[str, Any]) -> dict[str, int]:
    types = gpu_type_of(data)
    used = {t: 0 for t in budget_of(data)}
    for obj, t in types.items():
        used[t] += kube.spec_replicas(PCSG, NS, obj) * GPUS_PER_REPLICA
    return used


@dataclass
class Checked:
    """An actuator whose every successful write is followed by a budget check of the whole
    cluster (read from the fake API server's own state)."""

    inner: Any
    check: Callable[[str], None]
    scales: list[int] = field(default_factory=list)

    @property
    def description(self) -> str:
        return self.inner.description

    def status(self):
        return self.inner.status()

    def scale(self, replicas: int, guard=None) -> None:
        self.inner.scale(replicas, guard=guard)
        self.scales.append(replicas)
        self.check(f"after {self.description} -> {replicas}")


@dataclass
class FleetCluster:
    kube: FakeKube
    clock: SimulatedClock
    data: dict[str, Any]
    runtime: Any
    sources: dict[str, SwitchableSource]
    violations: list[str] = field(default_factory=list)
    samples: int = 0

    @property
    def ctl(self):
        return self.runtime.controller

    def check(self, when: str) -> None:
        self.samples += 1
        used, budget = cluster_use(self.kube, self.data), budget_of(self.data)
        for t, n in used.items():
            if n > budget[t]:
                self.violations.append(f"{when}: {n} {t} GPUs on a budget of {budget[t]}")

    def replicas(self, deployment: str, variant: str) -> tuple[int, int]:
        return tuple(  # type: ignore[return-value]
            self.kube.spec_replicas(PCSG, NS, f"{deployment}-{variant}-{p}")
            for p in ("prefill", "decode")
        )

    def drive(self, seconds: float, on_tick: Callable[[float, Any], None] | None = None) -> int:
        end = self.clock.now() + seconds
        ticks = 0
        while self.clock.now() < end:
            snap = self.ctl.tick()
            self.check("after a tick")
            ticks += 1
            if on_tick is not None:
                on_tick(self.clock.now(), snap)
            self.clock.set(min(max(self.ctl.next_wakeup(), self.clock.now()), end))
            assert ticks < 10_000, "controller never settles"
        return ticks


def start_fleet(
    kube: FakeKube,
    clock: SimulatedClock,
    api_client: Any,
    tmp_path: Path,
    traffic: Mapping[str, Sequence[tuple[int, float]]],
    t0: float,
    *,
    data: dict[str, Any] | None = None,
    initial: Mapping[str, int] | None = None,
    ready_delay_s: Mapping[str, float] | None = None,
    is_leader: Callable[[], bool] | None = None,
) -> FleetCluster:
    """`traffic`: per deployment, (intervals, requests/s) steps from `t0`; `initial`: spec
    replicas per object name (default 0, ready at once); `ready_delay_s`: per object name,
    how long its new replicas take to get ready (default: the fake's)."""
    from sla_planner.config.resolve import load_fleet
    from sla_planner.controller.wiring import build_runtime

    data = data if data is not None else fleet_dict()
    for _, _, _, obj in pool_objects(data):
        n = (initial or {}).get(obj, 0)
        delay = (ready_delay_s or {}).get(obj)
        kube.add_pcsg(NS, obj, replicas=n, ready=n, ready_delay_s=delay)
    fleet = load_fleet(write_fleet(tmp_path / "fleet.yaml", data), for_run=True)
    sources = {
        name: SwitchableSource(trace_source(write_step_trace(tmp_path / f"{name}.csv", t0, steps)))
        for name, steps in traffic.items()
    }
    rt = build_runtime(fleet, clock=clock, api_client=api_client, sources=sources)
    if is_leader is not None:
        rt.controller._is_leader = is_leader
        rt.controller.act.is_leader = is_leader
    fc = FleetCluster(kube, clock, data, rt, sources)
    for fp in rt.controller.pools:
        fp.actuator = Checked(fp.actuator, fc.check)
    return fc
