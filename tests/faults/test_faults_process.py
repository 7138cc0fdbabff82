"""Faults in the planner process itself: the real `sla-planner run` in subprocesses, a real
Prometheus scraping live demand, the fake Kubernetes API over HTTP on real time.

* Two planners; the leader is frozen (SIGSTOP) while its scale read is in flight, for longer
  than its Lease, then resumed (SIGCONT): at least 20 randomised trials. Nobody may write
  without holding the Lease at that moment (the fake API server records the Lease at each
  write); the GPU budget and the minimums hold on every sample; /healthz of every running
  planner answers 200. A trial provokes the scale read by moving a pool; a move that lands on
  the leader's plan leaves it nothing to write (and nothing to read), so the pool is moved
  again.
* One planner killed (SIGKILL) while its write is in flight, and restarted: it resumes from
  the cluster and puts the pools back where demand needs them.

Invariant checks live in tests/support/invariants.py."""

from __future__ import annotations

import random
import threading
import time

import pytest
from support.controller_harness import DECODE_NAME, NS, PREFILL_NAME
from support.fake_kube import LEASES, PCSG, FakeKube
from support.invariants import check_cluster, scale_writes, writes_without_the_lease
from support.live_demand import LiveDemand
from support.planner_process import LEASE_S, PlannerProcess
from support.prometheus_server import INSTALL_HINT, prometheus_available

from sla_planner.controller.clock import RealClock

pytestmark = [
    pytest.mark.slow,  # subprocesses, real Prometheus, real time
    pytest.mark.skipif(not prometheus_available(), reason=f"needs prometheus: {INSTALL_HINT}"),
]

LEASE = f"{NS}/sla-planner"
BUDGET = 16
NAMES = (PREFILL_NAME, DECODE_NAME)


def wait_for(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def holder(kube: FakeKube) -> str | None:
    if not kube.exists(LEASES, NS, "sla-planner"):
        return None
    return kube.get(LEASES, NS, "sla-planner")["spec"].get("holderIdentity") or None


class Sampler:
    """Samples the cluster and the planners' /healthz every 0.2 s in a thread, recording every
    invariant violation."""

    def __init__(self, kube: FakeKube, planners: list[PlannerProcess]) -> None:
        self.kube, self.planners = kube, planners
        self.violations: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            reps = {n: self.kube.spec_replicas(PCSG, NS, n) for n in NAMES}
            self.violations += check_cluster(
                reps, {n: 1 for n in NAMES}, BUDGET, {n: 1 for n in NAMES}
            )
            for p in self.planners:
                if p.alive() and not p.frozen and p.url is not None:
                    r = p.get("/healthz")
                    if r is not None and r.status_code != 200:
                        self.violations.append(f"{p.identity} /healthz {r.status_code}: {r.text}")
            self.samples += 1


@pytest.fixture
def live_kube():
    with FakeKube(clock=RealClock(), ready_delay_s=0.0) as kube:  # type: ignore[arg-type]
        kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
        kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
        yield kube


def sized(kube: FakeKube) -> dict[str, int]:
    return {n: kube.spec_replicas(PCSG, NS, n) for n in NAMES}


def settle(kube: FakeKube, timeout_s: float = 60.0) -> dict[str, int]:
    """Wait until the pools are sized for the load (above 1) and stay put for 4 s."""
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = sized(kube)
        if now != last:
            last, since = now, time.monotonic()
        elif min(now.values()) > 1 and time.monotonic() - since > 4:
            return now
        time.sleep(0.2)
    raise AssertionError(f"the pools never settled: {last}")


def converged(kube: FakeKube, planners: dict[str, PlannerProcess]) -> bool:
    """The cluster runs what the leader decides (its /api/v1/decision)."""
    who = holder(kube)
    r = planners[who].get("/api/v1/decision") if who in planners else None
    if r is None or r.status_code != 200:
        return False
    body = r.json()
    want = {
        PREFILL_NAME: body["prefill"]["desiredReplicas"],
        DECODE_NAME: body["decode"]["desiredReplicas"],
    }
    return sized(kube) == want and body["leader"]


def perturb(kube: FakeKube, rng: random.Random, name: str) -> int:
    """Another writer moves one pool (within the budget): the leader must write it back."""
    now = sized(kube)
    cur = now[name]
    room = BUDGET - sum(now.values())
    if cur > 1 and (room < 1 or rng.random() < 0.6):
        target = max(1, cur - rng.choice([1, 2]))
    else:
        target = cur + 1
    kube.set_replicas(PCSG, NS, name, target)
    return target


def on_the_plan(p: PlannerProcess, name: str, target: int, since: float) -> dict | None:
    """`p`'s decision for pool `name` when it led a tick after `since`, read `target` replicas
    there and wants exactly that (steady): a move to `target` landed on its plan, so it has
    nothing to write. None otherwise."""
    r = p.get("/api/v1/decision")
    if r is None or r.status_code != 200:
        return None
    body = r.json()
    pool = body["prefill" if name == PREFILL_NAME else "decode"]
    landed = (
        body["leader"]
        and body["timestamp"] > since
        and pool["reasonCode"] == "steady"
        and pool["currentReplicas"] == target == pool["desiredReplicas"]
    )
    return {"timestamp": body["timestamp"], **pool} if landed else None


def provoke_scale_read(
    kube: FakeKube, rng: random.Random, leader: PlannerProcess, name: str, trial: int
) -> None:
    """Move pool `name` and return once `leader` is reading its scale to write it back.

    The leader reads the scale only when it has something to write, and a move can land on
    its plan: after a takeover the trial may start before the new leader's first tick has
    written back the pool the last trial moved, and the move puts it back itself; or the
    leader's decision moves to the moved value in the same tick (the forecast's spread widens
    once 30 residuals exist, about a minute in). The leader then reports the pool steady at
    the moved value, and the pool is moved again (at most 3 moves). Any other silence (a hold,
    a leader that stops acting) still fails after 30 s, 15 of its 2 s ticks."""
    landed = []
    for _attempt in range(3):
        mark, since = len(kube.requests), time.time()
        target = perturb(kube, rng, name)
        asked = [0.0]  # when the leader's decision was last asked (spare its API)

        def outcome(mark=mark, since=since, target=target, asked=asked) -> dict | str | None:
            if any(
                r.method == "GET" and r.path.endswith(f"{name}/scale") and r.user == leader.identity
                for r in kube.requests[mark:]
            ):
                return "read"
            if time.monotonic() - asked[0] < 0.5:
                return None
            asked[0] = time.monotonic()
            return on_the_plan(leader, name, target, since)

        got = wait_for(outcome, 30, f"trial {trial}: {leader.identity}'s scale read")
        if got == "read":
            return
        landed.append((target, got))
        print(f"trial {trial}: moved {name} to {target} at {since:.2f}, onto the plan: {got}")
    raise AssertionError(f"trial {trial}: every move of {name} landed on the plan: {landed}")


def log_tails(planners: dict[str, PlannerProcess], chars: int = 4000) -> str:
    """The end of each planner's log, for a failure message (CI keeps no tmp_path)."""
    return "".join(f"\n--- {i} log tail ---\n{p.log()[-chars:]}" for i, p in planners.items())


def test_leader_frozen_mid_actuation_never_writes_without_the_lease(live_kube, tmp_path):
    kube = live_kube
    rng = random.Random(20250101)
    with LiveDemand(tmp_path, rps=60) as demand:
        a = PlannerProcess(tmp_path, "planner-a", kube, demand.prometheus_url).start()
        b = PlannerProcess(tmp_path, "planner-b", kube, demand.prometheus_url).start()
        planners = {p.identity: p for p in (a, b)}
        try:
            for p in (a, b):
                p.wait_api()
            wait_for(lambda: holder(kube) in planners, 30, "a leader")
            settle(kube)
            frozen_writes_refused = 0
            with Sampler(kube, [a, b]) as sampler:
                for trial in range(20):
                    wait_for(lambda: holder(kube) in planners, 30, "a leader")
                    leader = planners[holder(kube)]
                    name = rng.choice(NAMES)
                    latency = rng.uniform(0.6, 1.5)
                    kube.set_latency(latency, method="GET", path_contains=f"{name}/scale")
                    try:
                        provoke_scale_read(kube, rng, leader, name, trial)
                    except AssertionError as exc:
                        raise AssertionError(f"{exc}{log_tails(planners)}") from None
                    time.sleep(rng.uniform(0.0, 0.8 * latency))  # somewhere inside the read
                    leader.freeze()
                    time.sleep(rng.uniform(LEASE_S + 1.0, LEASE_S + 3.0))
                    kube.clear_faults()
                    other = planners[("planner-a", "planner-b")[leader is a]]
                    wait_for(lambda o=other: holder(kube) == o.identity, 10, "the takeover")
                    before = len(kube.requests)
                    leader.thaw()
                    time.sleep(rng.uniform(1.0, 2.0))
                    late = [
                        r for r in kube.requests[before:]
                        if r.method in ("PUT", "PATCH") and "/leases" not in r.path
                        and r.user == leader.identity
                    ]  # fmt: skip
                    frozen_writes_refused += not late
                    bad = writes_without_the_lease(kube, LEASE, {i: i for i in planners})
                    assert bad == [], (trial, [(w.path, w.user, held) for w, held in bad])
                # The leader now runs the pools at what it decides demand needs.
                wait_for(lambda: converged(kube, planners), 30, "the cluster at the decision")
            assert sampler.samples > 100
            assert sampler.violations == [], sampler.violations[:10]
            assert frozen_writes_refused == 20
            assert writes_without_the_lease(kube, LEASE, {i: i for i in planners}) == []
            spec = kube.get(LEASES, NS, "sla-planner")["spec"]
            assert spec["leaseTransitions"] >= 20  # every freeze handed the Lease over
            writers = {w.user for w in scale_writes(kube) if w.status == 200}
            assert writers == {"planner-a", "planner-b"}
        finally:
            codes = {p.identity: p.terminate() for p in (a, b)}
        assert codes == {"planner-a": 0, "planner-b": 0}, (a.log()[-2000:], b.log()[-2000:])
        for p in (a, b):
            assert "Traceback" not in p.log()


def test_planner_killed_mid_write_resumes_from_the_cluster(live_kube, tmp_path):
    kube = live_kube
    rng = random.Random(7)
    with LiveDemand(tmp_path, rps=60) as demand:
        a = PlannerProcess(tmp_path, "planner-a", kube, demand.prometheus_url).start()
        try:
            a.wait_api()
            settle(kube)
            with Sampler(kube, [a]) as sampler:
                for trial in range(5):
                    name = rng.choice(NAMES)
                    kube.set_latency(1.0, method="PUT", path_contains=f"{name}/scale")
                    mark = len(kube.requests)
                    perturb(kube, rng, name)

                    def write_in_flight(mark=mark, name=name):
                        return any(
                            r.method == "PUT" and r.path.endswith(f"{name}/scale")
                            for r in kube.requests[mark:]
                        )

                    wait_for(write_in_flight, 30, f"trial {trial}: the write")
                    time.sleep(rng.uniform(0.0, 0.8))
                    a.kill()  # SIGKILL: no release of the Lease, no goodbye
                    kube.clear_faults()
                    a.start()
                    a.wait_api()
                    wait_for(lambda: converged(kube, {"planner-a": a}), 60, f"trial {trial}")
                    assert "resumed default/default/prefill=" in a.log()
            assert sampler.violations == [], sampler.violations[:10]
            assert writes_without_the_lease(kube, LEASE, {"planner-a": "planner-a"}) == []
        finally:
            code = a.terminate()
        assert code == 0, a.log()[-2000:]


def test_sigterm_while_an_api_reply_dribbles_exits_within_the_call_deadline(live_kube, tmp_path):
    """Issue 18 item 9: request_timeout_s bounded each socket read, not the call, so SIGTERM
    during a reply sent one byte a second waited for the whole reply (~5 minutes for a Scale).
    Every Kubernetes API call now has a total deadline (request_timeout_s: 3 s here)."""
    kube = live_kube
    rng = random.Random(3)
    with LiveDemand(tmp_path, rps=60) as demand:
        a = PlannerProcess(tmp_path, "planner-a", kube, demand.prometheus_url).start()
        try:
            a.wait_api()
            settle(kube)
            name = PREFILL_NAME
            kube.dribble_next(10_000, 1.0, method="GET", path_contains=f"{name}/scale")
            mark = len(kube.requests)
            perturb(kube, rng, name)  # the leader reads the scale to write it back

            def reading(mark=mark):
                return any(
                    r.method == "GET" and r.path.endswith(f"{name}/scale")
                    for r in kube.requests[mark:]
                )

            wait_for(reading, 30, "the scale read")
            time.sleep(0.5)  # inside the dribbled reply
            t0 = time.monotonic()
            code = a.terminate(timeout_s=60)
            elapsed = time.monotonic() - t0
            print(f"SIGTERM during a dribbled reply: exit {code} after {elapsed:.1f} s")
        finally:
            kube.clear_faults()
            if a.alive():
                a.kill()
        assert code == 0, a.log()[-3000:]
        assert elapsed < 10.0, (elapsed, a.log()[-3000:])
        assert "Traceback" not in a.log()
