"""The controller in simulated time: real Planner + bundled H200 profile, demand from real trace
files through TraceMetricsSource, actuators over real HTTP against the stateful fake API."""

from __future__ import annotations

import pytest
from support.controller_harness import (
    AZURE_CONV,
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    READY_DELAY_S,
    TRACE_T0,
    SwitchableSource,
    drive,
    kube_actuators,
    make_controller,
    sample_value,
    trace_source,
    write_step_trace,
)
from support.fake_kube import LWS, PCSG, FakeKube

from sla_planner.controller.clock import SimulatedClock
from sla_planner.controller.pool_state import LoopSettings
from sla_planner.model.types import Pool

STEP = 60.0
LOW, HIGH = 2.0, 40.0  # requests per second


def replicas(kube: FakeKube, plural_p: str = PCSG, plural_d: str = PCSG) -> tuple[int, int]:
    return (
        kube.spec_replicas(plural_p, NS, PREFILL_NAME),
        kube.spec_replicas(plural_d, NS, DECODE_NAME),
    )


@pytest.fixture
def pools(kube: FakeKube):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)


def test_follows_demand_up_and_back_down_within_budget(
    kube: FakeKube, api_client, clock: SimulatedClock, pools, tmp_path
):
    trace = write_step_trace(tmp_path / "step.csv", TRACE_T0, [(20, LOW), (20, HIGH), (30, LOW)])
    acts = kube_actuators(api_client)
    ctl, metrics = make_controller(clock=clock, source=trace_source(trace), actuators=acts)
    clock.set(TRACE_T0 + 10 * STEP)
    seen: list[tuple[float, int, int]] = []

    def record(t, snap):
        p, d = replicas(kube)
        seen.append((t - TRACE_T0, p, d))
        assert p + d <= 16, f"budget exceeded at t={t - TRACE_T0}: {p}+{d}"

    drive(ctl, clock, 58 * STEP, record)
    low_before = [(p, d) for t, p, d in seen if 12 * STEP <= t < 20 * STEP]
    high = [(p, d) for t, p, d in seen if 25 * STEP <= t < 40 * STEP]
    low_after = [(p, d) for t, p, d in seen if t >= 60 * STEP]
    assert low_before and high and low_after
    p_low, d_low = max(x[0] for x in low_before), max(x[1] for x in low_before)
    assert max(x[0] for x in high) > p_low, seen
    assert max(x[1] for x in high) > d_low, seen
    # Back to the low level once the scale-down window has passed.
    assert low_after[-1][0] < max(x[0] for x in high)
    assert low_after[-1][1] < max(x[1] for x in high)
    # Every change was written by the controller through the actuators, and says so.
    assert acts[Pool.PREFILL].scales and acts[Pool.DECODE].scales
    assert sample_value(metrics, "sla_planner_decisions_total", pool="prefill", reason="scale_up")
    assert sample_value(metrics, "sla_planner_decisions_total", pool="decode", reason="scale_down")
    snap = ctl.snapshot()
    assert snap is not None and snap.is_leader and not snap.partial
    assert (snap.prefill.desired, snap.decode.desired) == replicas(kube)
    assert (
        sample_value(metrics, "sla_planner_desired_replicas", pool="decode") == snap.decode.desired
    )


def test_runs_over_the_real_azure_trace(kube: FakeKube, api_client, clock, pools):
    # One hour of real Azure conversation traffic scaled x8 so the pools have to move.
    acts = kube_actuators(api_client)
    source = trace_source(AZURE_CONV, rate_scale=8.0)
    ctl, metrics = make_controller(clock=clock, source=source, actuators=acts)
    clock.set(TRACE_T0 + 5 * STEP)
    max_gpus = 0

    def record(t, snap):
        nonlocal max_gpus
        p, d = replicas(kube)
        max_gpus = max(max_gpus, p + d)

    drive(ctl, clock, 40 * STEP, record)
    assert max_gpus <= 16
    assert replicas(kube) != (1, 1)  # 8x the real traffic needs more than one replica somewhere
    assert sample_value(metrics, "sla_planner_errors_total", kind="metrics") is None
    assert sample_value(metrics, "sla_planner_forecast_requests") > 0


def test_run_loop_ticks_on_each_pools_own_interval(
    kube: FakeKube, api_client, clock, pools, tmp_path
):
    import threading

    trace = write_step_trace(tmp_path / "flat.csv", TRACE_T0, [(60, LOW)])
    acts = kube_actuators(api_client)
    loop = LoopSettings(prefill_interval_s=30, decode_interval_s=120, backfill_intervals=10)
    ctl, metrics = make_controller(
        clock=clock, source=trace_source(trace), actuators=acts, loop=loop
    )
    clock.set(TRACE_T0 + 10 * STEP)
    start = clock.now()
    ctl.run(threading.Event(), max_ticks=60)
    # Decisions counted per pool: 30 s prefill loop vs 120 s decode loop.
    elapsed = clock.now() - start
    n_p = sum(
        v.value
        for m in metrics.registry.collect()
        if m.name == "sla_planner_decisions"
        for v in m.samples
        if v.name.endswith("_total") and v.labels["pool"] == "prefill"
    )
    n_d = sum(
        v.value
        for m in metrics.registry.collect()
        if m.name == "sla_planner_decisions"
        for v in m.samples
        if v.name.endswith("_total") and v.labels["pool"] == "decode"
    )
    assert elapsed > 0
    assert n_p == pytest.approx(elapsed / 30 + 1, abs=1)
    assert n_d == pytest.approx(elapsed / 120 + 1, abs=1)


def test_holds_when_metrics_fail_and_recovers(kube: FakeKube, api_client, clock, pools, tmp_path):
    trace = write_step_trace(tmp_path / "step.csv", TRACE_T0, [(12, LOW), (30, HIGH)])
    source = SwitchableSource(trace_source(trace))
    acts = kube_actuators(api_client)
    ctl, metrics = make_controller(clock=clock, source=source, actuators=acts)
    clock.set(TRACE_T0 + 10 * STEP)
    drive(ctl, clock, 2 * STEP)
    before = replicas(kube)
    source.down = True
    drive(ctl, clock, 5 * STEP)  # demand jumped meanwhile, but the planner cannot see it
    assert replicas(kube) == before
    snap = ctl.snapshot()
    for ps in (snap.prefill, snap.decode):
        assert ps.held and ps.reason_code == "hold_metrics"
        assert "metrics unavailable" in ps.reason and "unreachable" in ps.reason
        assert ps.desired == before[0 if ps.pool == "prefill" else 1]  # last good, not zero
    # Retried every retry interval, each failure counted.
    assert sample_value(metrics, "sla_planner_errors_total", kind="metrics") >= 5
    assert sample_value(
        metrics, "sla_planner_decisions_total", pool="prefill", reason="hold_metrics"
    )
    source.down = False
    drive(ctl, clock, 15)  # the next retry fetches the missed intervals and acts
    after = replicas(kube)
    assert after[0] > before[0] or after[1] > before[1]
    assert not ctl.snapshot().prefill.held


FAULTS = ["forbidden", "not_found", "conflict", "api"]


@pytest.mark.parametrize("fault", FAULTS)
def test_holds_on_cluster_errors_says_why_and_retries(
    kube: FakeKube, api_client, clock, pools, tmp_path, fault: str
):
    trace = write_step_trace(tmp_path / "step.csv", TRACE_T0, [(12, LOW), (30, HIGH)])
    acts = kube_actuators(api_client)
    ctl, metrics = make_controller(clock=clock, source=trace_source(trace), actuators=acts)
    clock.set(TRACE_T0 + 10 * STEP)
    drive(ctl, clock, 2 * STEP)
    before = replicas(kube)
    if fault == "forbidden":
        kube.forbid("podcliquescalinggroups/scale", {"update", "patch"})
    elif fault == "not_found":
        kube.delete(PCSG, NS, PREFILL_NAME)
        kube.delete(PCSG, NS, DECODE_NAME)
    elif fault == "conflict":
        kube.concurrent_writes(10_000, plural=PCSG)  # another writer wins every race
    else:
        kube.stop()
    try:
        drive(ctl, clock, 3 * STEP)
        snap = ctl.snapshot()
        for ps in (snap.prefill, snap.decode):
            assert ps.held, ps
            assert ps.reason_code == f"hold_{fault}", ps
            assert ps.reason.startswith(f"holding at {before[0 if ps.pool == 'prefill' else 1]}")
        assert sample_value(metrics, "sla_planner_errors_total", kind=fault) >= 2
        assert not snap.partial  # both held: nothing half-applied
    finally:
        kube.clear_faults()
        if fault == "api":
            kube.start()
    if fault == "not_found":
        assert not kube.exists(PCSG, NS, PREFILL_NAME)
        kube.add_pcsg(NS, PREFILL_NAME, replicas=before[0], ready=before[0])
        kube.add_pcsg(NS, DECODE_NAME, replicas=before[1], ready=before[1])
    else:
        assert replicas(kube) == before
    drive(ctl, clock, 15)  # retried within the retry interval, not a whole interval later
    after = replicas(kube)
    assert after != before and after[0] >= before[0] and after[1] >= before[1]
    assert not ctl.snapshot().prefill.held


def test_no_new_scale_up_while_the_last_one_is_starting(
    kube: FakeKube, api_client, clock, tmp_path
):
    # Demand climbs three steps in a row; new pods take 90 s to become ready (> the interval).
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(
        tmp_path / "climb.csv", TRACE_T0, [(11, LOW), (1, 40.0), (1, 80.0), (20, 120.0)]
    )
    acts = kube_actuators(api_client)
    ctl, _ = make_controller(clock=clock, source=trace_source(trace), actuators=acts)
    clock.set(TRACE_T0 + 10 * STEP)
    holds: list[tuple[float, str]] = []
    writes: list[tuple[float, int]] = []

    def record(t, snap):
        ps = snap.prefill
        if ps.reason_code == "hold_starting" and ps.updated_at == t:
            holds.append((t, ps.reason))
        n = kube.spec_replicas(PCSG, NS, PREFILL_NAME)
        if not writes or writes[-1][1] != n:
            writes.append((t, n))

    drive(ctl, clock, 8 * STEP, record)
    assert holds, f"no hold: a scale-up was stacked on one still starting ({writes})"
    assert "waiting for the previous scale-up to become ready" in holds[0][1]
    assert "ready 1/" in holds[0][1]
    ups = [(t, n) for (t, n), (_, prev) in zip(writes[1:], writes[:-1], strict=True) if n > prev]
    assert len(ups) >= 2, writes
    for (t0, _), (t1, _) in zip(ups[:-1], ups[1:], strict=True):
        assert t1 - t0 >= READY_DELAY_S, f"scale-up at {t1} stacked on the one at {t0}"


def test_gives_up_waiting_after_the_startup_grace(kube: FakeKube, api_client, clock, tmp_path):
    # The first scale-up never becomes ready (e.g. pods Pending): do not wait forever.
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "climb.csv", TRACE_T0, [(11, LOW), (1, 40.0), (20, 120.0)])
    acts = kube_actuators(api_client)
    ctl, metrics = make_controller(clock=clock, source=trace_source(trace), actuators=acts)
    clock.set(TRACE_T0 + 10 * STEP)
    drive(ctl, clock, 2 * STEP + 5)
    n1 = kube.spec_replicas(PCSG, NS, PREFILL_NAME)
    assert n1 > 1
    kube.set_ready(PCSG, NS, PREFILL_NAME, 1)  # the new replicas never become ready
    drive(ctl, clock, 60)
    assert ctl.snapshot().prefill.reason_code == "hold_starting"
    assert kube.spec_replicas(PCSG, NS, PREFILL_NAME) == n1
    drive(ctl, clock, 3 * STEP)  # past the 120 s grace
    assert kube.spec_replicas(PCSG, NS, PREFILL_NAME) > n1
    assert sample_value(metrics, "sla_planner_errors_total", kind="startup_timeout") >= 1


def test_partial_actuation_is_reported_and_retried(kube: FakeKube, api_client, clock, tmp_path):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_lws(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "step.csv", TRACE_T0, [(12, LOW), (30, HIGH)])
    acts = kube_actuators(api_client, decode_kind="LeaderWorkerSet")
    ctl, metrics = make_controller(clock=clock, source=trace_source(trace), actuators=acts)
    clock.set(TRACE_T0 + 10 * STEP)
    drive(ctl, clock, 2 * STEP)
    before = replicas(kube, PCSG, LWS)
    kube.forbid("leaderworkersets/scale", {"update", "patch"})
    drive(ctl, clock, 2 * STEP)
    p, d = replicas(kube, PCSG, LWS)
    assert p > before[0] and d == before[1]  # prefill moved, decode could not
    snap = ctl.snapshot()
    assert snap.partial
    assert "PARTIAL" in snap.prefill.reason and "PARTIAL" in snap.decode.reason
    assert "forbidden" in snap.decode.reason.lower()
    assert sample_value(metrics, "sla_planner_partial_actuation") == 1
    assert sample_value(metrics, "sla_planner_errors_total", kind="partial_actuation") >= 1
    kube.clear_faults()
    drive(ctl, clock, 15)
    assert replicas(kube, PCSG, LWS)[1] > before[1]
    assert not ctl.snapshot().partial
    assert sample_value(metrics, "sla_planner_partial_actuation") == 0


def test_resumes_from_cluster_state_after_restart(kube: FakeKube, api_client, clock, tmp_path):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "step.csv", TRACE_T0, [(12, LOW), (10, HIGH), (30, LOW)])
    ctl, _ = make_controller(
        clock=clock, source=trace_source(trace), actuators=kube_actuators(api_client)
    )
    clock.set(TRACE_T0 + 10 * STEP)
    drive(ctl, clock, 12 * STEP)  # through the high phase
    high = replicas(kube)
    assert high[1] > 1
    # The planner process restarts right after demand fell: a fresh controller and planner.
    del ctl
    clock.advance(STEP)
    kube.set_ready(PCSG, NS, DECODE_NAME, high[1] - 1)  # one replica still starting
    acts = kube_actuators(api_client)
    ctl2, _ = make_controller(clock=clock, source=trace_source(trace), actuators=acts)
    snap = ctl2.tick()
    assert (snap.prefill.current, snap.decode.current) == high  # read from the cluster
    assert snap.decode.ready == high[1] - 1
    # Low demand right after restart: the scale-down window still holds (seeded stabiliser),
    # so the restart does not drop replicas the previous run just added.
    assert replicas(kube) == high
    assert acts[Pool.DECODE].scales == []


def test_starts_while_the_target_is_missing_then_resumes(
    kube: FakeKube, api_client, clock, tmp_path
):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=2, ready=2)  # decode not created yet
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(30, LOW)])
    ctl, metrics = make_controller(
        clock=clock, source=trace_source(trace), actuators=kube_actuators(api_client)
    )
    clock.set(TRACE_T0 + 10 * STEP)
    snap = ctl.tick()
    for ps in (snap.prefill, snap.decode):
        assert ps.held and ps.reason_code == "hold_not_found"
        assert "cluster state could not be read" in ps.reason and DECODE_NAME in ps.reason
    assert kube.writes() == []
    assert sample_value(metrics, "sla_planner_errors_total", kind="not_found") >= 1
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    drive(ctl, clock, 15)
    snap = ctl.snapshot()
    assert not snap.prefill.held and not snap.decode.held
    assert snap.prefill.current == 2  # resumed from what the cluster runs


def test_conflicts_on_every_write_are_retried_by_one_bounded_layer(
    kube: FakeKube, api_client, clock, pools, tmp_path
):
    # Another writer wins every race (409 on every PUT): each attempt to scale a pool may PUT at
    # most conflict_retries + 1 = 4 times (one retry layer), not 4 x 4 (two nested layers).
    trace = write_step_trace(tmp_path / "step.csv", TRACE_T0, [(12, LOW), (30, HIGH)])
    acts = kube_actuators(api_client)
    ctl, metrics = make_controller(clock=clock, source=trace_source(trace), actuators=acts)
    clock.set(TRACE_T0 + 14 * STEP)  # two intervals into the high phase: both pools grow
    kube.concurrent_writes(10_000, plural=PCSG)
    kube.clear_log()
    ctl.tick()  # one attempt for each pool
    puts = [w for w in kube.writes() if w.method == "PUT" and w.path.endswith("/scale")]
    per_pool = {name: sum(name in w.path for w in puts) for name in (PREFILL_NAME, DECODE_NAME)}
    assert max(per_pool.values()) == 4, per_pool
    assert all(w.status == 409 for w in puts)
    assert sample_value(metrics, "sla_planner_errors_total", kind="conflict") >= 1
