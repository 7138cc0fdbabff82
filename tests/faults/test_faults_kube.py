"""Faults in the Kubernetes API while the planner scales: 409 on every write, 500, a write
that times out (and lands anyway, as in life), a dropped connection. The controller runs in
simulated time over a real trace file; the fake API server is real HTTP.

On every tick: the GPU budget and the minimums hold; a failed write holds the pool at what the
cluster runs, says why and counts the error; one attempt never PUTs more than
conflict_retries + 1 times; once the API is healthy again the pools follow demand within the
retry interval."""

from __future__ import annotations

import pytest
from support.controller_harness import (
    DECODE_NAME,
    NS,
    PREFILL_NAME,
    TRACE_T0,
    CountingActuator,
    drive,
    make_controller,
    sample_value,
    trace_source,
    write_step_trace,
)
from support.fake_kube import PCSG, FakeKube
from support.invariants import check_cluster

from sla_planner.actuators.config import TargetConfig
from sla_planner.actuators.factory import build_actuator
from sla_planner.model.reasons import ErrorKind, ReasonCode
from sla_planner.model.types import Pool

pytestmark = pytest.mark.slow  # real seconds of injected latency

STEP = 60.0
NAMES = {Pool.PREFILL: PREFILL_NAME, Pool.DECODE: DECODE_NAME}


def actuators(api_client, timeout_s: float = 1.0):
    return {
        p: CountingActuator(
            build_actuator(
                TargetConfig(kind="PodCliqueScalingGroup", namespace=NS, name=n,
                             request_timeout_s=timeout_s, conflict_retries=3),
                api_client, pool=p.value, sleep=lambda _s: None,
            )
        )
        for p, n in NAMES.items()
    }  # fmt: skip


def replicas(kube: FakeKube) -> tuple[int, int]:
    return tuple(kube.spec_replicas(PCSG, NS, n) for n in NAMES.values())  # type: ignore[return-value]


def inject(kube: FakeKube, fault: str) -> None:
    if fault == "conflict":
        kube.concurrent_writes(10_000, plural=PCSG)  # another writer wins every race
    elif fault == "500":
        kube.fail_next(10_000, status=500, method="PUT")
    elif fault == "timeout":
        kube.set_latency(2.0, method="PUT")  # > the 1 s request timeout; the write lands later
    elif fault == "drop":
        kube.fail_next(10_000, mode="drop", method="PUT")


@pytest.mark.parametrize(
    ("fault", "code", "kind"),
    [
        ("conflict", ReasonCode.HOLD_CONFLICT, ErrorKind.CONFLICT),
        ("500", ReasonCode.HOLD_API, ErrorKind.API),
        ("timeout", ReasonCode.HOLD_API, ErrorKind.API),
        ("drop", ReasonCode.HOLD_API, ErrorKind.API),
    ],
)
def test_write_faults_hold_count_and_recover(kube, api_client, clock, tmp_path, fault, code, kind):
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    trace = write_step_trace(tmp_path / "t.csv", TRACE_T0, [(12, 2.0), (40, 40.0)])
    ctl, metrics = make_controller(
        clock=clock, source=trace_source(trace), actuators=actuators(api_client)
    )
    clock.set(TRACE_T0 + 10 * STEP)
    violations: list[str] = []
    seen: list[tuple[float, tuple[int, int], tuple[str, str]]] = []

    def check(t, snap):
        p, d = replicas(kube)
        violations.extend(check_cluster({"p": p, "d": d}, {"p": 1, "d": 1}, 16, {"p": 1, "d": 1}))
        seen.append((t, (p, d), (snap.prefill.reason_code, snap.decode.reason_code)))

    drive(ctl, clock, 1 * STEP, check)
    before = replicas(kube)
    inject(kube, fault)
    kube.clear_log()
    drive(ctl, clock, 3 * STEP, check)  # demand rose: the pools want to grow, writes fail
    puts = [w for w in kube.writes() if w.method == "PUT"]
    assert puts, "the planner never tried to write"
    held = [c for _, _, c in seen[-3:]]
    if fault == "timeout":
        # The write timed out on the client but landed on the server: the next read sees it,
        # and the planner goes on from what the cluster really runs.
        assert any(code in c for c in held) or replicas(kube) != before, seen
    else:
        assert replicas(kube) == before, seen  # nothing half-applied
        assert all(c == (code, code) for c in held), seen
        snap = ctl.snapshot()
        assert snap.prefill.reason.startswith(f"holding at {before[0]}"), snap.prefill.reason
    assert sample_value(metrics, "sla_planner_errors_total", kind=kind.value) >= 2
    # One retry layer: per pool and tick, at most conflict_retries + 1 = 4 PUTs.
    per_tick: dict[tuple[float, str], int] = {}
    for w in puts:
        key = (w.at, next(n for n in NAMES.values() if n in w.path))
        per_tick[key] = per_tick.get(key, 0) + 1
    assert max(per_tick.values()) <= 4, per_tick
    kube.clear_faults()
    drive(ctl, clock, 15, check)  # retried within the retry interval, not an interval later
    drive(ctl, clock, 2 * STEP, check)
    after = replicas(kube)
    assert after[0] > before[0] and after[1] > before[1], seen
    assert violations == [], violations[:5]
    assert not ctl.snapshot().partial
