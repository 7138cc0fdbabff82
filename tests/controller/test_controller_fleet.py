"""The fleet controller in simulated time against the fake Kubernetes API (real HTTP): three
deployments in three priority classes on two GPU types, each variant's pools a Grove
PodCliqueScalingGroup that gets ready 90 s after a scale-up. After every single write the whole
cluster is read back from the fake and each GPU type's budget checked (`support.fleet_cluster`)."""

from __future__ import annotations

import pytest
from support.controller_harness import READY_DELAY_S, TRACE_T0
from support.fake_kube import PCSG, FakeKube
from support.fleet_cluster import start_fleet
from support.fleet_run import fleet_dict

from sla_planner.controller.clock import SimulatedClock
from sla_planner.model.reasons import ReasonCode

STEP = 60.0
RUNNING = {"chat-h200-prefill": 1, "chat-h200-decode": 1,
           "code-h200-prefill": 1, "code-h200-decode": 1}  # fmt: skip


def _writes(kube: FakeKube, obj: str) -> list[tuple[float, int]]:
    """(fake-clock time, replicas written) of every successful scale write to `obj`."""
    out = []
    for w in kube.writes():
        if w.path.endswith(f"/{obj}/scale") and w.status == 200:
            out.append((w.at, int(w.body["spec"]["replicas"])))
    return out


def test_budget_holds_at_every_write_through_a_switch_and_readiness_delays(
    kube: FakeKube, api_client, clock: SimulatedClock, tmp_path
):
    """chat (critical, H200 only) ramps to 40 req/s; code (standard) moves to the cheaper H100
    variant, make-before-break; batch (min 0) wakes while chat holds the H200s."""
    traffic = {"chat": [(10, 2.0), (30, 40.0)], "code": [(40, 10.0)],
               "batch": [(5, 0.0), (35, 15.0)]}  # fmt: skip
    fc = start_fleet(kube, clock, api_client, tmp_path, traffic, TRACE_T0, initial=RUNNING)
    clock.set(TRACE_T0 + 10 * STEP)
    fc.drive(25 * STEP)
    assert fc.violations == []
    assert fc.samples > 10 and len(kube.writes()) > 5
    # chat grew on the H200s up to the budget.
    assert sum(fc.replicas("chat", "h200")) == 6
    # code moved to the H100 variant; its H200 replicas went only once the new ones were ready.
    assert fc.replicas("code", "h200") == (0, 0) and min(fc.replicas("code", "h100")) >= 1
    up = min(t for t, n in _writes(kube, "code-h100-prefill") if n > 0)
    down = min(t for t, n in _writes(kube, "code-h200-prefill") if n == 0)
    assert down >= up + READY_DELAY_S
    snap = fc.ctl.snapshot()
    assert snap.deployments["code"].variant == "h100"
    assert {fp.role for fp in snap.deployments["code"].pools["h200"].values()} == {"idle"}
    # batch wants GPUs, but the higher classes hold every H200: it waits at zero.
    batch = snap.deployments["batch"].pools["h200"]["prefill"]
    assert batch.pool.desired == 0 and batch.pool.wanted > 0
    assert "priority_limited" in batch.fleet_reasons


def test_a_switch_keeps_the_old_side_until_the_new_one_is_ready_even_past_startup_s(
    kube: FakeKube, api_client, clock: SimulatedClock, tmp_path
):
    """The H100 side takes 400 s to get ready, far beyond startup_s (120 s): the H200 side
    keeps serving until then (the allocator alone would release it after startup_s)."""
    traffic = {"chat": [(40, 2.0)], "code": [(40, 10.0)], "batch": [(40, 0.0)]}
    slow = {"code-h100-prefill": 400.0, "code-h100-decode": 400.0}
    fc = start_fleet(kube, clock, api_client, tmp_path, traffic, TRACE_T0, initial=RUNNING,
                     ready_delay_s=slow)  # fmt: skip
    clock.set(TRACE_T0 + 10 * STEP)
    fc.drive(20 * STEP)
    assert fc.violations == []
    assert fc.replicas("code", "h200") == (0, 0) and min(fc.replicas("code", "h100")) >= 1
    up = min(t for t, n in _writes(kube, "code-h100-prefill") if n > 0)
    down = min(t for t, n in _writes(kube, "code-h200-prefill") if n == 0)
    assert down >= up + 400.0


def test_no_scale_up_is_stacked_on_one_still_starting(
    kube: FakeKube, api_client, clock: SimulatedClock, tmp_path
):
    """chat's traffic climbs minute by minute with room to grow: each scale-up waits until the
    previous one is ready (90 s), holding meanwhile (hold_starting)."""
    data = fleet_dict(h200=12)
    traffic = {"chat": [(10, 2.0), (1, 15.0), (1, 30.0), (1, 45.0), (27, 60.0)],
               "code": [(40, 2.0)], "batch": [(40, 0.0)]}  # fmt: skip
    fc = start_fleet(kube, clock, api_client, tmp_path, traffic, TRACE_T0, data=data,
                     initial=RUNNING)  # fmt: skip
    clock.set(TRACE_T0 + 10 * STEP)
    codes: list[str] = []

    def seen(_now, snap):
        codes.append(snap.deployments["chat"].pools["h200"]["prefill"].pool.reason_code)

    fc.drive(10 * STEP, seen)
    assert fc.violations == []
    ups = [t for t, _ in _writes(kube, "chat-h200-prefill")]
    assert len(ups) >= 2
    assert all(b - a >= READY_DELAY_S for a, b in zip(ups, ups[1:], strict=False))
    assert ReasonCode.HOLD_STARTING in codes


def test_priorities_hold_under_a_squeeze(kube: FakeKube, api_client, clock, tmp_path):
    """batch wakes first and takes the idle H200s; chat's traffic then rises: batch is
    preempted toward its minimum (0) so chat gets its wants, and the budget holds throughout."""
    data_traffic = {"chat": [(10, 1.0), (8, 1.0), (30, 30.0)], "code": [(50, 2.0)],
                    "batch": [(10, 30.0), (40, 30.0)]}  # fmt: skip
    fc = start_fleet(kube, clock, api_client, tmp_path, data_traffic, TRACE_T0, initial=RUNNING)
    clock.set(TRACE_T0 + 10 * STEP)
    batch_peak = 0

    def seen(now, _snap):
        nonlocal batch_peak
        if now < TRACE_T0 + 18 * STEP:
            batch_peak = max(batch_peak, sum(fc.replicas("batch", "h200")))

    fc.drive(28 * STEP, seen)
    assert fc.violations == []
    assert batch_peak >= 2  # batch had H200s before chat's traffic came
    snap = fc.ctl.snapshot()
    chat = snap.deployments["chat"].pools["h200"]
    got = {p: fp.pool.desired for p, fp in chat.items()}
    wanted = {p: fp.pool.wanted for p, fp in chat.items()}
    assert got == wanted  # the critical class gets all it asks for
    assert sum(fc.replicas("batch", "h200")) < batch_peak
    preempted = fc.runtime.metrics.value(
        "sla_planner_preemptions_total", deployment="batch", gpu_type="H200"
    )
    assert preempted is not None and preempted >= 1
    assert not fc.runtime.metrics.value(
        "sla_planner_preemptions_total", deployment="chat", gpu_type="H200"
    )


def test_a_scale_down_that_fails_caps_the_scale_up_waiting_for_its_gpus(
    kube: FakeKube, api_client, clock, tmp_path
):
    """The allocator moves H200s from batch to chat, but batch's writes fail (API 500) for a
    while: chat's scale-up is capped by what batch still holds (the GPU ledger), never
    stacked beyond the budget; once batch's writes go through, chat gets them."""
    traffic = {"chat": [(10, 1.0), (8, 1.0), (30, 30.0)], "code": [(50, 2.0)],
               "batch": [(50, 30.0)]}  # fmt: skip
    fc = start_fleet(kube, clock, api_client, tmp_path, traffic, TRACE_T0, initial=RUNNING)
    clock.set(TRACE_T0 + 10 * STEP)
    fc.drive(9 * STEP)
    batch_before = sum(fc.replicas("batch", "h200"))
    assert batch_before >= 2
    kube.fail_next(1000, status=500, method="PUT", path_contains="/batch-h200-")
    fc.drive(4 * STEP)
    assert sum(fc.replicas("batch", "h200")) == batch_before  # its writes all failed
    assert fc.violations == []
    chat = fc.ctl.snapshot().deployments["chat"].pools["h200"]
    assert any("until the other pool scales down" in fp.pool.reason for fp in chat.values())
    kube.clear_faults()
    fc.drive(4 * STEP)
    assert fc.violations == []
    assert sum(fc.replicas("batch", "h200")) < batch_before
    assert sum(fc.replicas("chat", "h200")) > 2


@pytest.mark.parametrize("fault", ["down", "incomplete"])
def test_missing_data_for_one_deployment_holds_it_and_not_the_others(
    kube: FakeKube, api_client, clock, tmp_path, fault
):
    """code's demand data goes missing (Prometheus down for its selector, or its newest
    intervals incomplete) while its traffic drops and chat's rises: code holds what it runs
    (never a scale-down from missing data), chat keeps scaling."""
    traffic = {"chat": [(24, 2.0), (30, 30.0)], "code": [(24, 20.0), (30, 0.5)],
               "batch": [(60, 0.0)]}  # fmt: skip
    fc = start_fleet(kube, clock, api_client, tmp_path, traffic, TRACE_T0)
    clock.set(TRACE_T0 + 10 * STEP)
    fc.drive(12 * STEP)  # settled: code has moved to the cheaper H100s
    code_before = fc.replicas("code", fc.ctl.snapshot().deployments["code"].variant)
    chat_before = sum(fc.replicas("chat", "h200"))
    source = fc.sources["code"]
    original = source.inner
    if fault == "down":
        source.down = True
    else:
        inner = source.inner

        class Incomplete:
            def fetch(self, start, end, step_s):
                from dataclasses import replace

                out = inner.fetch(start, end, step_s)
                return [replace(s, incomplete="scrape gap") if s.start >= TRACE_T0 + 22 * STEP
                        else s for s in out]  # fmt: skip

            def time_range(self):
                return inner.time_range()

        source.inner = Incomplete()
    variant = fc.ctl.snapshot().deployments["code"].variant
    fc.drive(8 * STEP)
    assert fc.violations == []
    assert fc.replicas("code", variant) == code_before  # held, not scaled down
    assert sum(fc.replicas("chat", "h200")) > chat_before  # the others keep going
    code = fc.ctl.snapshot().deployments["code"].pools[variant]["prefill"].pool
    expected = ReasonCode.HOLD_METRICS if fault == "down" else ReasonCode.HOLD_INCOMPLETE
    assert code.reason_code == expected and code.held
    kind = "metrics" if fault == "down" else "metrics_incomplete"
    errors = fc.runtime.metrics.value("sla_planner_errors_total", deployment="code", kind=kind)
    assert errors and errors >= 1
    assert not fc.runtime.metrics.value("sla_planner_errors_total", deployment="chat", kind=kind)
    # Back: code plans again and, its traffic gone, scales down (after the stabilisation window).
    source.down, source.inner = False, original
    fc.drive(6 * STEP)
    assert sum(fc.replicas("code", variant)) < sum(code_before)


def test_a_standby_decides_and_publishes_but_never_writes(
    kube: FakeKube, api_client, clock, tmp_path
):
    traffic = {"chat": [(20, 30.0)], "code": [(20, 5.0)], "batch": [(20, 5.0)]}
    fc = start_fleet(kube, clock, api_client, tmp_path, traffic, TRACE_T0, initial=RUNNING,
                     is_leader=lambda: False)  # fmt: skip
    clock.set(TRACE_T0 + 10 * STEP)
    fc.drive(5 * STEP)
    assert [w for w in kube.writes() if "/leases" not in w.path] == []
    snap = fc.ctl.snapshot()
    chat = snap.deployments["chat"].pools["h200"]["prefill"].pool
    assert chat.reason_code == ReasonCode.STANDBY and chat.desired > 1  # decided, published
    assert not snap.is_leader


def test_resume_reads_the_variant_and_a_switch_in_progress_from_the_cluster(
    kube: FakeKube, api_client, clock, tmp_path
):
    """A restart while code's switch to H100 is under way (both sides running, the new side
    not ready yet): the new side is the variant, the old one keeps serving until it is ready;
    nothing is scaled down at once (the seeded stabilisation window)."""
    traffic = {"chat": [(20, 2.0)], "code": [(20, 10.0)], "batch": [(20, 0.0)]}
    initial = {**RUNNING, "code-h200-prefill": 2, "code-h100-prefill": 2, "code-h100-decode": 1}
    fc = start_fleet(kube, clock, api_client, tmp_path, traffic, TRACE_T0, initial=initial)
    kube.set_ready(PCSG, "llm", "code-h100-prefill", 0)
    kube.set_ready(PCSG, "llm", "code-h100-decode", 0)
    clock.set(TRACE_T0 + 10 * STEP)
    fc.drive(STEP)
    snap = fc.ctl.snapshot()
    code = snap.deployments["code"]
    assert code.variant == "h100" and code.held_variant == "h200"
    assert fc.replicas("code", "h200") == (2, 1)  # old side still serving
    assert fc.violations == []


def test_a_failing_forecast_holds_that_deployment_only(kube: FakeKube, api_client, clock, tmp_path):
    from sla_planner.model.forecast.demand_forecaster import ForecastError

    traffic = {"chat": [(14, 2.0), (30, 30.0)], "code": [(44, 8.0)], "batch": [(44, 0.0)]}
    fc = start_fleet(kube, clock, api_client, tmp_path, traffic, TRACE_T0, initial=RUNNING)
    clock.set(TRACE_T0 + 10 * STEP)
    fc.drive(2 * STEP)
    code = fc.ctl.planner.deployment("code")

    def diverged(now, gpus):
        raise ForecastError("model diverged")

    code.need = diverged
    variant = fc.ctl.snapshot().deployments["code"].variant
    before = {v: fc.replicas("code", v) for v in ("h200", "h100")}
    chat_before = sum(fc.replicas("chat", "h200"))
    fc.drive(6 * STEP)
    assert {v: fc.replicas("code", v) for v in ("h200", "h100")} == before
    snap = fc.ctl.snapshot().deployments
    assert snap["code"].pools[variant]["prefill"].pool.reason_code == ReasonCode.HOLD_FORECAST
    assert "forecast failed: model diverged" in snap["code"].failure
    assert snap["chat"].failure is None and sum(fc.replicas("chat", "h200")) > chat_before
    assert fc.runtime.metrics.value("sla_planner_errors_total", deployment="code", kind="forecast")
    assert fc.violations == []
