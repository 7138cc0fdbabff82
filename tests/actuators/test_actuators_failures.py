"""Failure semantics: conflicts, RBAC, missing targets, a slow / failing / absent API server.

Every failed scale must leave the object exactly as it was and raise one ActuatorError naming
the target, the problem and the fix.
"""

from __future__ import annotations

import time

import pytest
from support.bounded import finishes

from sla_planner.actuators.base import ActuatorError
from sla_planner.actuators.errors import KubeActuatorError

NS = "llm"


def _snapshot(fake_kube, kind, name):
    obj = fake_kube.get(kind.plural, NS, name)
    return obj["spec"]["replicas"], obj["metadata"]["resourceVersion"]


def test_conflict_is_reread_and_retried_until_it_succeeds(kind, make_actuator, fake_kube):
    actuator, name = make_actuator(replicas=2, conflict_retries=3)
    fake_kube.concurrent_writes(2, plural=kind.plural, name=name)
    actuator.scale(4)
    assert fake_kube.spec_replicas(kind.plural, NS, name) == 4
    puts = [(w.method, w.status) for w in fake_kube.writes()]
    assert puts == [("PUT", 409), ("PUT", 409), ("PUT", 200)]
    # each retry re-read the scale first: GET, PUT, GET, PUT, GET, PUT
    assert [r.method for r in fake_kube.requests] == ["GET", "PUT"] * 3


def test_persistent_conflict_gives_up_after_bounded_retries_and_changes_nothing(
    kind, make_actuator, fake_kube
):
    actuator, name = make_actuator(replicas=2, conflict_retries=2)
    fake_kube.concurrent_writes(100, plural=kind.plural, name=name)
    with pytest.raises(KubeActuatorError) as info:
        actuator.scale(7)
    err = info.value
    assert err.reason == "conflict" and err.retryable
    assert actuator.description in str(err) and "409" in str(err) and "3 " in str(err)
    assert "HPA" in str(err)  # names the likely fix
    assert fake_kube.spec_replicas(kind.plural, NS, name) == 2
    assert len(fake_kube.writes()) == 3  # 1 try + 2 retries, then stop


def test_forbidden_write_names_verb_and_resource_and_changes_nothing(
    kind, make_actuator, fake_kube
):
    actuator, name = make_actuator(replicas=2)
    fake_kube.forbid(f"{kind.plural}/scale", verbs={"update", "patch"})
    before = _snapshot(fake_kube, kind, name)
    with pytest.raises(KubeActuatorError) as info:
        actuator.scale(5)
    err = info.value
    assert err.reason == "forbidden" and not err.retryable and err.status == 403
    msg = str(err)
    assert msg.startswith(actuator.description)
    assert f'grant verb "update" on resource "{kind.plural}/scale"' in msg
    assert f'apiGroup "{kind.api_group}"' in msg and f'namespace "{NS}"' in msg
    assert _snapshot(fake_kube, kind, name) == before
    assert actuator.status().desired == 2  # reading is still allowed


def test_forbidden_read_names_get_on_the_object(kind, make_actuator, fake_kube):
    actuator, _ = make_actuator()
    fake_kube.forbid(kind.plural, verbs={"get"})
    with pytest.raises(KubeActuatorError) as info:
        actuator.status()
    assert info.value.reason == "forbidden"
    assert f'grant verb "get" on resource "{kind.plural}"' in str(info.value)


def test_missing_target_is_a_hold_error_naming_the_fix(kind, make_actuator, fake_kube, api_client):
    actuator = kind.actuator(api_client, NS, "does-not-exist")
    for call in (actuator.status, lambda: actuator.scale(3)):
        with pytest.raises(KubeActuatorError) as info:
            call()
        err = info.value
        assert err.reason == "not_found" and err.retryable and err.status == 404
        assert "target missing" in str(err) and "does-not-exist" in str(err)
        assert "correct the target name" in str(err)
    assert fake_kube.writes() == []


def test_slow_api_beyond_the_request_timeout_fails_fast_without_writing(
    kind, make_actuator, fake_kube
):
    actuator, name = make_actuator(replicas=2, request_timeout_s=0.3)
    fake_kube.set_latency(5.0, method="GET")
    with pytest.raises(KubeActuatorError) as info:
        actuator.scale(4)
    err = info.value
    assert err.reason == "unavailable" and err.retryable and "timed out" in str(err)
    assert fake_kube.writes() == []
    assert fake_kube.clear_faults() is None
    assert fake_kube.spec_replicas(kind.plural, NS, name) == 2


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_reply_dribbled_a_byte_at_a_time_is_bounded_by_the_call_deadline(
    kind, make_actuator, fake_kube, method
):
    """Issue 18 item 9: request_timeout_s was a per-read socket timeout, so a reply arriving
    one byte at a time (each well within it) held the call, and SIGTERM, for minutes."""
    actuator, name = make_actuator(replicas=2, request_timeout_s=1.0)
    fake_kube.dribble_next(1, 0.2, method=method, path_contains=f"{name}/scale")
    t0 = time.monotonic()
    with pytest.raises(KubeActuatorError) as info:
        finishes(lambda: actuator.scale(4), limit_s=30)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.5, elapsed  # the deadline (1 s), not the reply (~50 s)
    err = info.value
    assert err.reason == "unavailable" and err.retryable and "timed out after 1s" in str(err)
    if method == "PUT":  # the server applied it: the message says the write may have landed
        assert "may or may not have landed" in str(err)
    else:
        assert fake_kube.writes() == []


def test_slow_write_is_reported_as_possibly_landed(kind, make_actuator, fake_kube):
    actuator, name = make_actuator(replicas=2, request_timeout_s=0.3)
    fake_kube.set_latency(1.0, method="PUT")
    with pytest.raises(KubeActuatorError) as info:
        actuator.scale(4)
    assert info.value.retryable and "may or may not have landed" in str(info.value)


def test_server_errors_are_retryable_holds_and_change_nothing(kind, make_actuator, fake_kube):
    actuator, name = make_actuator(replicas=2)
    before = _snapshot(fake_kube, kind, name)
    fake_kube.fail_next(1, status=500, method="PUT")
    with pytest.raises(KubeActuatorError) as info:
        actuator.scale(6)
    assert info.value.reason == "unavailable" and info.value.retryable
    assert "500" in str(info.value)
    assert _snapshot(fake_kube, kind, name) == before
    fake_kube.fail_next(1, status=503, method="GET")
    with pytest.raises(KubeActuatorError):
        actuator.status()
    # the API recovers: the next interval's call goes through
    actuator.scale(6)
    assert fake_kube.spec_replicas(kind.plural, NS, name) == 6


def test_dropped_connection_is_a_retryable_hold(kind, make_actuator, fake_kube):
    actuator, name = make_actuator(replicas=2)
    fake_kube.fail_next(1, mode="drop", method="GET")
    with pytest.raises(KubeActuatorError) as info:
        actuator.scale(3)
    assert info.value.reason == "unavailable" and info.value.retryable
    assert fake_kube.spec_replicas(kind.plural, NS, name) == 2


def test_api_server_down_then_back(kind, make_actuator, fake_kube):
    actuator, name = make_actuator(replicas=2, request_timeout_s=1.0)
    fake_kube.stop()
    for call in (actuator.status, lambda: actuator.scale(5)):
        with pytest.raises(KubeActuatorError) as info:
            call()
        assert info.value.reason == "unavailable" and info.value.retryable
        assert "unreachable" in str(info.value)
    fake_kube.start()  # same port: the API is back
    actuator.scale(5)
    assert fake_kube.spec_replicas(kind.plural, NS, name) == 5


def test_invalid_replicas_are_refused_before_any_request(kind, make_actuator, fake_kube):
    actuator, _ = make_actuator()
    for bad in (-1, 2.5, True, "3"):
        with pytest.raises(ActuatorError) as info:
            actuator.scale(bad)  # type: ignore[arg-type]
        assert not info.value.retryable
    assert fake_kube.requests == []


def test_podclique_below_min_available_is_rejected_by_the_server(fake_kube, api_client):
    from sla_planner.actuators.grove_podclique import GrovePodCliqueActuator

    fake_kube.add_podclique(NS, "llama-0-worker", replicas=4, min_available=4)
    actuator = GrovePodCliqueActuator(api_client, NS, "llama-0-worker")
    with pytest.raises(KubeActuatorError) as info:
        actuator.scale(2)
    assert info.value.reason == "invalid" and not info.value.retryable
    assert "minAvailable" in str(info.value)
    assert fake_kube.spec_replicas("podcliques", NS, "llama-0-worker") == 4
    actuator.scale(0)  # 0 (idle) is allowed by Grove's rule
    assert fake_kube.spec_replicas("podcliques", NS, "llama-0-worker") == 0


@pytest.mark.parametrize("keys", [("metadata",), ("metadata.resourceVersion",)])
def test_a_scale_read_without_resource_version_is_never_written_unconditionally(
    kind, make_actuator, fake_kube, keys
):
    """Issue 18 item 9: a Scale read of 200 without metadata led to a PUT carrying no
    resourceVersion: an unconditional write, which can overwrite another writer's change."""
    actuator, name = make_actuator(replicas=2)
    fake_kube.strip_next(1, keys, method="GET", path_contains=f"{name}/scale")
    before = _snapshot(fake_kube, kind, name)
    with pytest.raises(KubeActuatorError) as info:
        actuator.scale(5)
    err = info.value
    assert err.reason == "bad_response" and err.retryable
    assert actuator.description in str(err) and "resourceVersion" in str(err)
    assert fake_kube.writes() == []  # nothing was written, conditionally or not
    assert _snapshot(fake_kube, kind, name) == before
    actuator.scale(5)  # the next, whole reply is written as usual
    assert fake_kube.spec_replicas(kind.plural, NS, name) == 5


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("header", "wait_s"),
    [("7", 7.0), ("1000000000", 60.0), ("-3", 0.0), ("soon", 0.0)],
    ids=["seconds", "bounded", "negative", "garbage"],
)
def test_429_retry_after_is_honoured_and_bounded(kind, make_actuator, fake_kube, header, wait_s):
    """Issue 18 item 9: a 429 with Retry-After was ignored (the next interval asked again at
    once). Now nothing is sent to that target before Retry-After has passed, at most 60 s."""
    clock = _Clock()
    actuator, name = make_actuator(replicas=2, clock=clock)
    fake_kube.fail_next(1, status=429, path_contains=name, headers={"Retry-After": header})
    with pytest.raises(KubeActuatorError) as info:
        actuator.scale(4)
    err = info.value
    assert err.reason == "unavailable" and err.retryable and err.status == 429
    if wait_s:
        assert f"retry after {wait_s:g} s" in str(err)
        sent = len(fake_kube.requests)
        clock.t += wait_s - 0.5
        for call in (lambda: actuator.scale(4), actuator.status):
            with pytest.raises(KubeActuatorError, match="asked to wait") as held:
                call()
            assert held.value.retryable and held.value.status == 429
        assert len(fake_kube.requests) == sent  # nothing sent while it asked to wait
    clock.t += 1.0
    actuator.scale(4)
    assert fake_kube.spec_replicas(kind.plural, NS, name) == 4


def test_429_retry_after_as_an_http_date(kind, make_actuator, fake_kube):
    from email.utils import formatdate

    clock = _Clock()
    actuator, name = make_actuator(replicas=2, clock=clock)
    later = formatdate(time.time() + 20, usegmt=True)
    fake_kube.fail_next(1, status=429, path_contains=name, headers={"Retry-After": later})
    with pytest.raises(KubeActuatorError, match=r"retry after (19|20|21) s"):
        actuator.scale(4)


def test_409_retries_back_off_exponentially_with_jitter(kind, make_actuator, fake_kube):
    """Issue 18 item 9: conflicts were retried 0.2 s apart (~3 PUTs a second). Now each retry
    waits a jittered, doubling delay: half to all of 0.5 s, 1 s, 2 s, ..., at most 4 s, and
    one scale() at most 10 s in all."""
    for r, expected in ((0.0, [0.25, 0.5, 1.0, 2.0]), (1.0, [0.5, 1.0, 2.0, 4.0])):
        slept: list[float] = []
        actuator, name = make_actuator(
            replicas=2,
            name=f"pool-{int(r)}",
            conflict_retries=4,
            retry_backoff_s=0.5,
            sleep=slept.append,
            random=lambda r=r: r,
        )
        fake_kube.concurrent_writes(100, plural=kind.plural, name=name)
        with pytest.raises(KubeActuatorError, match="conflict"):
            actuator.scale(4)
        assert slept == expected, (r, slept)


def test_409_backoff_stops_when_the_write_budget_would_run_out(kind, make_actuator, fake_kube):
    slept: list[float] = []
    actuator, name = make_actuator(
        replicas=2, conflict_retries=5, retry_backoff_s=0.5, sleep=slept.append, random=lambda: 1.0
    )
    fake_kube.concurrent_writes(100, plural=kind.plural, name=name)
    with pytest.raises(KubeActuatorError, match="conflict"):
        actuator.scale(4, guard=lambda: 1.2)  # 1.2 s of leadership left at every check
    assert slept == [0.5]  # the 1 s wait would leave too little to write: stop, hold
    assert len(fake_kube.writes()) == 2


def test_409_backoff_is_bounded_in_total(kind, make_actuator, fake_kube):
    slept: list[float] = []
    actuator, name = make_actuator(
        replicas=2, conflict_retries=20, retry_backoff_s=0.5, sleep=slept.append, random=lambda: 1.0
    )
    fake_kube.concurrent_writes(100, plural=kind.plural, name=name)
    with pytest.raises(KubeActuatorError, match="after 5 read-and-retry attempts"):
        actuator.scale(4)
    assert slept == [0.5, 1.0, 2.0, 4.0]  # another 4 s would pass 10 s of waiting
    assert len(fake_kube.writes()) == 5
