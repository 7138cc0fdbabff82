"""Properties of the fleet allocator over random fleets (hypothesis): no GPU type's budget is
ever exceeded, at any tick, switches in progress included; minimums are kept; nothing gets more
than it wants; with room for everyone, everyone gets its wants."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.fleet import run_allocate, scored

from sla_planner.model.allocate.plan import FleetSettings
from sla_planner.model.allocate.state import FleetState
from sla_planner.model.config import Hysteresis, PoolLimits
from sla_planner.model.size.needs import DeploymentNeed, PoolNeed, VariantNeed

TYPES = ("A", "B", "C")


@st.composite
def fleets(draw, roomy: bool = False):
    types = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True))
    gpus = {t: draw(st.integers(0, 12)) for t in types}
    prices = {t: draw(st.floats(0.5, 5.0)) for t in types}
    shapes = []  # per deployment: limits and, per variant, (type, gpus per replica) per pool
    for _ in range(draw(st.integers(1, 5))):
        limits = [
            PoolLimits(
                min_replicas=draw(st.integers(0, 2)),
                max_replicas=draw(st.none() | st.integers(2, 9)),
            )
            for _ in range(2)
        ]
        variants = [
            [(draw(st.sampled_from(types)), draw(st.sampled_from((1, 2, 4)))) for _ in range(2)]
            for _ in range(draw(st.integers(1, 3)))
        ]
        shapes.append((draw(st.integers(0, 2)), limits, variants))
    if roomy:  # enough of every type for every variant's biggest wants (sized <= 8)
        gpus = {t: 2 * 8 * 4 * len(shapes) for t in types}
    # The config check: minimums fit on the first variants.
    need = dict.fromkeys(types, 0)
    for _, limits, variants in shapes:
        for (t, g), lim in zip(variants[0], limits, strict=True):
            need[t] += lim.min_replicas * g
            assume(lim.min_replicas * g <= gpus[t])
    assume(all(need[t] <= gpus[t] for t in types))
    hyst = Hysteresis(
        min_saving=draw(st.floats(0.0, 0.5)),
        hold_s=draw(st.sampled_from((0.0, 60.0, 180.0))),
        rescue_hold_s=draw(st.sampled_from((0.0, 60.0))),
    )
    fs = FleetSettings(gpus, prices, draw(st.sampled_from((0.0, 60.0, 120.0, 300.0))), hyst)
    window = draw(st.sampled_from((0.0, 120.0, 300.0)))
    return fs, [(rank, limits, variants, window) for rank, limits, variants in shapes]


def _pool(draw, gpu_type, gpr, limits, gpus) -> PoolNeed:
    cap = min(gpus[gpu_type] // gpr, limits.max_replicas)
    # A few drawn points, then a plateau (1.0, or never reaching it): small to draw, any shape.
    head = draw(st.lists(st.floats(0, 1), min_size=1, max_size=min(cap + 1, 10)))
    tail = draw(st.sampled_from((1.0, head[-1])))
    att = np.maximum.accumulate(np.array((head + [tail] * (cap + 1))[: cap + 1]))
    sized = max(draw(st.integers(0, 8)), limits.min_replicas)
    binding = draw(st.sampled_from(("latency", "latency", "minimum", "unattainable")))
    served = np.minimum(1.0, np.arange(cap + 1) / max(sized, 1))
    return scored(gpu_type, gpr, sized, att, served, binding, limits, cap)


def _needs(draw, fs, shapes, now) -> list[DeploymentNeed]:
    out = []
    for i, (rank, limits, variants, window) in enumerate(shapes):
        vs = {
            f"v{j}": VariantNeed(
                f"v{j}",
                _pool(draw, v[0][0], v[0][1], limits[0], fs.gpus),
                _pool(draw, v[1][0], v[1][1], limits[1], fs.gpus),
            )
            for j, v in enumerate(variants)
        }
        last = draw(st.sampled_from((None, now, now - 60.0, now - 10_000.0)))
        out.append(
            DeploymentNeed(
                name=f"d{i}", rank=rank, target=0.99, weight=draw(st.floats(0, 50)), variants=vs,
                has_history=draw(st.booleans()) or now > 0, last_request_at=last,
                recent_requests=1.0, idle_window_s=600.0, scale_down_window_s=window,
            )
        )  # fmt: skip
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), data=st.data())
def test_no_gpu_type_budget_is_ever_exceeded_and_minimums_hold(fleet, data):
    fs, shapes = fleet
    state = FleetState()
    for k in range(data.draw(st.integers(1, 10))):
        now = 60.0 * k
        needs = _needs(data.draw, fs, shapes, now)
        alloc, state = run_allocate(needs, state, now, fs)
        used = alloc.used()
        for t, budget in fs.gpus.items():
            assert used.get(t, 0) <= budget, (t, used, fs.gpus)  # old replicas of a switch included
        for n in needs:
            d = alloc.by_name(n.name)
            v = n.variants[d.variant]
            pools = ((d.prefill, v.prefill), (d.decode, v.decode))
            short = [
                got.replicas < min(got.wanted, pool.limits.max_replicas) for got, pool in pools
            ]
            for k, (got, pool) in enumerate(pools):
                assert got.replicas >= pool.limits.min_replicas
                # More than it wants only where its sibling is squeezed: then the spare GPUs
                # buy the pair's attainment (the split's rule), never another deployment's.
                assert got.replicas <= max(got.wanted, pool.limits.min_replicas) or short[1 - k]
                assert got.gpus == got.replicas * pool.gpus_per_replica
                assert got.gpu_type == pool.gpu_type
            if d.held is not None:
                assert d.held.variant != d.variant and d.held.until > now


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(roomy=True), data=st.data())
def test_with_room_for_everyone_everyone_gets_its_wants(fleet, data):
    fs, shapes = fleet
    state = FleetState()
    for k in range(data.draw(st.integers(1, 4))):
        needs = _needs(data.draw, fs, shapes, 60.0 * k)
        alloc, state = run_allocate(needs, state, 60.0 * k, fs)
        for n in needs:
            d = alloc.by_name(n.name)
            assert d.prefill.replicas == max(d.prefill.wanted, 0)
            assert d.decode.replicas == max(d.decode.wanted, 0)
            assert not alloc.preemptions
