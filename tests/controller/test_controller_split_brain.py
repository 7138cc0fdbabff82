"""Split brain: a leader frozen while its scale read is in flight, for longer than its Lease,
must not write once it resumes while another planner holds the Lease. Two runtimes wired like
`sla-planner run` (build_runtime: Lease elector, write fencing) share a simulated clock with
the fake API server; the scale read is held up in the server (real seconds) while simulated
time moves past the Lease and the other planner takes over."""

from __future__ import annotations

import threading
import time

import pytest
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    TRACE_T0,
    start_runtime,
    trace_source,
    write_step_trace,
)
from support.fake_kube import PCSG, FakeKube
from support.invariants import scale_writes, writes_without_the_lease

from sla_planner.config.load import parse_run_config
from sla_planner.controller.clock import SimulatedClock

pytestmark = pytest.mark.slow  # real seconds of injected latency, two planners over HTTP

STEP = 60.0
LEASE = f"{NS}/sla-planner"


def runtime(kube: FakeKube, clock: SimulatedClock, name: str, trace):
    cfg = parse_run_config(
        {
            "planner": {
                "sla": {"ttft_ms": 200, "itl_ms": 25},
                "interval_s": 60,
                "startup_s": 120,
                "budget": {"max_gpus": 16},
                "forecaster": "last",
                "scale_down_window_s": 0,
            },
            "metrics": {"prometheus": {"url": "http://127.0.0.1:9"}},  # replaced below
            "targets": {
                "prefill": {"kind": "PodCliqueScalingGroup", "namespace": NS, "name": PREFILL_NAME},
                "decode": {"kind": "PodCliqueScalingGroup", "namespace": NS, "name": DECODE_NAME},
            },
            "leader_election": {"enabled": True, "namespace": NS, "identity": name},
            "server": {"enabled": False},
            "loop": {"retry_interval_s": 10, "backfill_intervals": 20, "latency_correction": False},
        }
    )
    client = kube.api_client(token=name)
    return start_runtime(cfg, clock, api_client=client, source=trace_source(trace))


def test_a_leader_frozen_mid_read_never_writes_after_losing_the_lease(
    kube: FakeKube, clock: SimulatedClock, tmp_path
):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(60, 60.0)])
    clock.set(TRACE_T0 + 20 * STEP)
    a, b = runtime(kube, clock, "planner-a", trace), runtime(kube, clock, "planner-b", trace)
    assert a.elector.try_acquire_or_renew()
    for _ in range(24):  # both run; A leads and sizes the pools for 60 req/s
        for rt in (a, b):
            rt.elector.try_acquire_or_renew()
            rt.controller.tick()
        clock.advance(5)
    assert a.elector.is_leader() and not b.elector.is_leader()
    sized = kube.spec_replicas(PCSG, NS, DECODE_NAME)
    assert sized > 1, (a.controller.snapshot(), b.controller.snapshot())

    # Someone else changes decode: A's next tick reads the scale to write it back. That read
    # takes 2 s (real) in the server; meanwhile A is frozen for 26 s of simulated time.
    kube.set_replicas(PCSG, NS, DECODE_NAME, 1)
    kube.set_latency(2.0, method="GET", path_contains=f"{DECODE_NAME}/scale")
    clock.set(a.controller.next_wakeup())  # A's next regular tick, just after a renewal
    a.elector.try_acquire_or_renew()
    b.elector.try_acquire_or_renew()
    tick = threading.Thread(target=a.controller.tick)
    tick.start()
    while not any(r.method == "GET" and r.path.endswith("/scale") for r in kube.requests[-5:]):
        time.sleep(0.01)
    for _ in range(13):  # B keeps campaigning every 2 s; A's Lease expires, B takes it
        clock.advance(2)
        b.elector.try_acquire_or_renew()
    assert b.elector.is_leader(), kube.lease_specs()
    tick.join(timeout=30)
    assert not tick.is_alive()
    kube.clear_faults()

    identities = {"planner-a": "planner-a", "planner-b": "planner-b"}
    bad = writes_without_the_lease(kube, LEASE, identities)
    assert bad == [], [(w.method, w.path, w.user, held) for w, held in bad]
    late = [w for w in scale_writes(kube) if w.user == "planner-a" and w.at >= clock.now() - 30]
    assert late == []  # A refused its write instead of sending it
    snap = a.controller.snapshot()
    assert snap.decode.reason_code in ("hold_not_leader", "standby"), snap.decode
    # B, the leader now, puts decode back where demand needs it.
    for _ in range(16):
        b.elector.try_acquire_or_renew()
        b.controller.tick()
        clock.advance(5)
    assert kube.spec_replicas(PCSG, NS, DECODE_NAME) == sized
    assert writes_without_the_lease(kube, LEASE, identities) == []
    for rt in (a, b):
        rt.close()
