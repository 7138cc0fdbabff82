"""The loop never hangs unseen: the planning part of a tick runs under a deadline, a loop that
stops completing ticks fails /healthz, and a leader whose loop is unhealthy gives up its Lease.
Real Planner, fake Kubernetes API over HTTP, simulated time (the deadline itself is wall-clock:
a hang is real)."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from kubernetes import client
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    TRACE_T0,
    curves,
    drive,
    kube_actuators,
    make_controller,
    planner_config,
    sample_value,
    trace_source,
    write_step_trace,
)
from support.fake_kube import LEASES, PCSG, FakeKube

from sla_planner.controller.api import create_app
from sla_planner.controller.clock import SimulatedClock
from sla_planner.controller.health import LoopHealth
from sla_planner.controller.leader import LeaderElector
from sla_planner.controller.pool_state import LoopSettings
from sla_planner.model.planner import Planner
from sla_planner.model.reasons import ErrorKind, ReasonCode
from sla_planner.model.types import DemandSample

STEP = 60.0


class StuckPlanner:
    """A real Planner that, while `stuck` is set, spins forever in pure Python in decide() (as
    sizing did on a 1e18 request count) - and swallows ordinary exceptions while at it."""

    def __init__(self, inner: Planner) -> None:
        self.inner = inner
        self.stuck = False
        self.calls = 0

    def observe(self, sample: DemandSample, deployment: str | None = None) -> None:
        self.inner.observe(sample, deployment)

    def decide(self, now: float, **kw):
        self.calls += 1
        n = 0
        while self.stuck:
            try:
                n += 1
            except Exception:  # noqa: BLE001 - a careless planner must still be interruptible
                pass
        return self.inner.decide(now, **kw)

    def __getattr__(self, name):  # seed, state, settings, deployment
        return getattr(self.inner, name)


def replicas(kube: FakeKube) -> tuple[int, int]:
    return kube.spec_replicas(PCSG, NS, PREFILL_NAME), kube.spec_replicas(PCSG, NS, DECODE_NAME)


@pytest.fixture
def stuck_setup(kube: FakeKube, api_client, clock: SimulatedClock, tmp_path):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(60, 40.0)])
    cfg = planner_config()
    planner = StuckPlanner(Planner.of_one(cfg, curves()))
    ctl, metrics = make_controller(
        clock=clock,
        source=trace_source(trace),
        actuators=kube_actuators(api_client),
        config=cfg,
        loop=LoopSettings(retry_interval_s=10, backfill_intervals=20, tick_deadline_s=0.5),
        planner=planner,
    )
    clock.set(TRACE_T0 + 20 * STEP)
    return ctl, metrics, planner


def test_a_planner_stuck_in_python_holds_the_pools_and_the_loop_goes_on(kube, clock, stuck_setup):
    ctl, metrics, planner = stuck_setup
    drive(ctl, clock, 5 * STEP)
    sized = replicas(kube)
    assert sized != (1, 1)
    planner.stuck = True
    drive(ctl, clock, 3 * STEP)  # returns: every tick gave up on planning at its deadline
    assert replicas(kube) == sized
    snap = ctl.snapshot()
    for ps in (snap.prefill, snap.decode):
        assert ps.held and ps.reason_code == ReasonCode.HOLD_DEADLINE, ps
        assert "deadline" in ps.reason
    assert sample_value(metrics, "sla_planner_errors_total", kind=ErrorKind.DEADLINE.value) >= 3
    assert ctl.health.problem() == ""  # the loop itself is alive: it holds and says why
    planner.stuck = False
    drive(ctl, clock, 2 * STEP)
    assert ctl.snapshot().prefill.reason_code != ReasonCode.HOLD_DEADLINE


def test_sigterm_interrupts_a_stuck_planning_call(stuck_setup):
    ctl, _, planner = stuck_setup
    ctl.loop = LoopSettings(retry_interval_s=10, backfill_intervals=20, tick_deadline_s=3600)
    ctl.deadline_s = 3600.0  # a deadline far away: only the stop event can end the call
    planner.stuck = True
    stop = threading.Event()
    loop = threading.Thread(target=ctl.run, args=(stop,))
    loop.start()
    while planner.calls == 0:
        loop.join(0.01)
    stop.set()  # what the SIGTERM handler does
    loop.join(30)
    assert not loop.is_alive(), "the loop ignored the stop request"


def test_healthz_fails_when_no_tick_completes(kube, api_client, clock, tmp_path):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(60, 4.0)])
    clock.set(TRACE_T0 + 20 * STEP)
    ctl, metrics = make_controller(
        clock=clock,
        source=trace_source(trace),
        actuators=kube_actuators(api_client),
        loop=LoopSettings(retry_interval_s=10, backfill_intervals=20, liveness_stale_s=180),
    )
    app = TestClient(
        create_app(
            snapshot=ctl.inner.snapshot,
            metrics=metrics,
            clock=clock,
            is_leader=lambda: True,
            stale_after_s=180,
            health=ctl.health.problem,
        )
    )
    drive(ctl, clock, 2 * STEP)
    assert app.get("/healthz").json() == {"status": "ok"}
    clock.advance(181)  # the loop is stuck somewhere: no tick completes
    r = app.get("/healthz")
    assert r.status_code == 503
    assert r.json()["status"] == "unhealthy" and "no tick has completed" in r.json()["reason"]
    ctl.tick()
    assert app.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        ([("start", 0), ("end", 5)], ""),
        ([("start", 0), ("end", 5), ("now", 100)], ""),
        ([("start", 0), ("end", 5), ("now", 106)], "no tick has completed for 101 s"),
        ([("start", 0), ("end", 5), ("start", 10), ("now", 111)], "running for 101 s"),
        ([("now", 101)], "no tick has completed for 101 s since start"),
    ],
)
def test_loop_health_table(events, problem):
    clock = SimulatedClock(0)
    h = LoopHealth(100, clock.now)
    for what, t in events:
        clock.set(t)
        if what == "start":
            h.tick_started()
        elif what == "end":
            h.tick_finished()
    got = h.problem()
    assert (problem in got) if problem else got == ""


def test_a_stuck_native_call_makes_the_loop_unhealthy():
    clock = SimulatedClock(0)
    stuck = {"for": None}
    h = LoopHealth(100, clock.now, lambda: stuck["for"])
    h.tick_started()
    h.tick_finished()
    stuck["for"] = 101.0
    assert "stuck for 101 s" in h.problem()


def test_a_leader_whose_loop_is_unhealthy_gives_up_the_lease(kube: FakeKube, api_client, clock):
    problem = {"text": ""}

    def elector(identity: str, loop_problem=None) -> LeaderElector:
        return LeaderElector(
            client.CoordinationV1Api(api_client),
            namespace=NS,
            name="sla-planner",
            identity=identity,
            clock=clock,
            lease_duration_s=15,
            renew_deadline_s=10,
            retry_period_s=2,
            loop_problem=loop_problem,
        )

    a = elector("planner-a", lambda: problem["text"])
    b = elector("planner-b")
    assert a.try_acquire_or_renew()
    for _ in range(5):
        clock.advance(2)
        a.try_acquire_or_renew()
        b.try_acquire_or_renew()
    assert a.is_leader() and not b.is_leader()
    problem["text"] = "a tick has been running for 400 s"  # A's loop hangs; its elector runs on
    clock.advance(2)
    assert a.try_acquire_or_renew() is False
    assert not a.is_leader()
    assert not kube.get(LEASES, NS, "sla-planner")["spec"].get("holderIdentity")  # released
    clock.advance(2)
    assert b.try_acquire_or_renew() and b.is_leader()  # the standby takes over at once
    for _ in range(10):  # A does not come back while its loop is unhealthy
        clock.advance(2)
        assert a.try_acquire_or_renew() is False
        b.try_acquire_or_renew()
    assert b.is_leader()
