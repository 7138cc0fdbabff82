"""The fleet baselines (sla_planner_bench.baselines.fleet): static quotas on hand-computed
cases, and on the demo fleet the rules each one claims (within the cluster's caps or, for the
static split, within its quotas; never below a deployment's minimums; the unbounded reference
breaks the budget the demo's peaks exceed)."""

from __future__ import annotations

import pytest

from sla_planner.config.fleet import Fleet
from sla_planner.config.resolve import demo_fleet_path, load_fleet
from sla_planner.model.allocate.plan import FleetSettings
from sla_planner.model.planner import Allocator
from sla_planner.offline.dryrun import DryRun, run_dry_run
from sla_planner.offline.sources import FleetSources, build_sources
from sla_planner_bench.baselines.fleet import (
    FirstComeCapPolicy,
    GreedySaturationPolicy,
    StaticSplitPolicy,
    UnboundedPolicy,
    static_quotas,
)

# The variants the fleet benchmark's baselines run on the demo (those ours runs most).
PLACEMENT = {"chat": "h200", "code": "h100", "batch": "h200"}


@pytest.mark.parametrize(
    ("gpus", "peaks", "minimums", "expected"),
    [
        # Spare 4 split 4:2 -> 2.67 / 1.33: whole 2 / 1, the last GPU to the larger remainder.
        (
            {"H200": 6},
            {"a": {"H200": 4}, "b": {"H200": 2}},
            {"a": {"H200": 1}, "b": {"H200": 1}},
            {"a": {"H200": 4}, "b": {"H200": 2}},
        ),
        # A deployment that never used a type but must hold its minimum of it keeps the minimum;
        # a type nobody uses is not split.
        (
            {"H200": 4, "H100": 2},
            {"a": {"H200": 3}, "b": {}},
            {"a": {"H200": 0}, "b": {"H200": 1}},
            {"a": {"H200": 3}, "b": {"H200": 1}},
        ),
    ],
)
def test_static_quotas_split_each_type_by_peak_above_the_minimums(
    gpus: dict, peaks: dict, minimums: dict, expected: dict
) -> None:
    assert static_quotas(gpus, peaks, minimums) == expected


@pytest.fixture(scope="module")
def demo() -> tuple[Fleet, FleetSources, FleetSettings]:
    fleet = load_fleet(demo_fleet_path())
    return fleet, build_sources(fleet), fleet.settings


def replay_fleet(fleet: Fleet, fs: FleetSources, allocator: Allocator) -> DryRun:
    """The demo's open loop with the planner sharing GPUs by `allocator`."""
    planner = fleet.planner(allocator=allocator)
    return run_dry_run(fs.sources, planner, fs.start, fs.end, fleet.interval_s, warmup=fs.warmup)


def _used(run: DryRun) -> list[dict[str, int]]:
    return [a.used() for a in run.ticks]


def _never_below_minimums(fleet: Fleet, run: DryRun) -> None:
    for d in fleet.deployments:
        for a in run.ticks:
            got = a.by_name(d.name)
            assert got.prefill.replicas >= d.config.prefill.min_replicas, (d.name, a.timestamp)
            assert got.decode.replicas >= d.config.decode.min_replicas, (d.name, a.timestamp)


def test_on_the_demo_fleet_each_baseline_keeps_its_rule(demo) -> None:
    fleet, fs, settings = demo
    cap = settings.gpus
    unbounded = replay_fleet(fleet, fs, UnboundedPolicy(settings, PLACEMENT))
    # The demo's peaks together need more H200s than the cluster has.
    assert max(u["H200"] for u in _used(unbounded)) > cap["H200"]

    # The quotas as the fleet benchmark sets them: the unbounded run's peaks, the minimums.
    peaks: dict[str, dict[str, int]] = {}
    mins: dict[str, dict[str, int]] = {}
    for d in fleet.deployments:
        per = [a.by_name(d.name).gpus_by_type() for a in unbounded.ticks]
        peaks[d.name] = {t: max(p.get(t, 0) for p in per) for t in {t for p in per for t in p}}
        v = d.engines(PLACEMENT[d.name])
        mins[d.name] = {}
        for e, lim in ((v.prefill, d.config.prefill), (v.decode, d.config.decode)):
            mins[d.name][e.gpu_type] = (
                mins[d.name].get(e.gpu_type, 0) + lim.min_replicas * e.gpus_per_replica
            )
    quotas = static_quotas(cap, peaks, mins)
    for t, n in cap.items():
        assert sum(q.get(t, 0) for q in quotas.values()) <= n

    static = replay_fleet(fleet, fs, StaticSplitPolicy(settings, quotas, PLACEMENT))
    for a in static.ticks:
        for d in a.deployments:
            for t, g in d.gpus_by_type().items():
                assert g <= quotas[d.name].get(t, 0), (d.name, t, a.timestamp)
    _never_below_minimums(fleet, static)

    for policy in (FirstComeCapPolicy(settings, PLACEMENT), GreedySaturationPolicy(settings, PLACEMENT)):  # fmt: skip
        run = replay_fleet(fleet, fs, policy)
        for u in _used(run):
            assert all(u[t] <= cap[t] for t in cap), (policy.name, u)
        _never_below_minimums(fleet, run)
        # Not idle: each grows some deployment beyond its first allocation.
        first = {d.name: d.prefill.replicas + d.decode.replicas for d in run.ticks[0].deployments}
        assert any(
            d.prefill.replicas + d.decode.replicas > first[d.name]
            for a in run.ticks
            for d in a.deployments
        ), policy.name
