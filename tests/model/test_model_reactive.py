"""The reactive rule: a table of hand-computed cases. One replica: 40,000 prompt tokens/s
batched, 100 ITL-feasible sequences; TTFT target 200 ms; settings S: trigger at a queue taking
1 x the TTFT target to clear (or p99 TTFT above it), size to 80% of capacity, clear a backlog
within 60 s, at most x2 per reaction. The defaults are less eager (5x, 90%): see the last
tests."""

from __future__ import annotations

import pytest

from sla_planner.model.reactive import (
    LoadSnapshot,
    PoolCapacity,
    ReactiveAction,
    ReactiveSettings,
    capacity,
    react,
)

CAP = PoolCapacity(prefill_tokens_per_s=40_000.0, decode_sequences=100.0)
S = ReactiveSettings(prefill_backlog=1.0, ttft_factor=1.0, utilisation=0.8)
TTFT = 200.0


def snap(arrivals=0.0, pq=0.0, dq=0.0, running=None, kv=None, p99=None, isl=1000.0):
    return LoadSnapshot(5.0, arrivals, pq, dq, isl, running, kv, p99)


@pytest.mark.parametrize(
    ("case", "s", "target", "ready", "expected"),
    [
        ("calm", snap(400, 0, 0, 50), (2, 2), (2, 2), (2, 2)),
        # 20 x 1000 tokens at 2 x 40k tok/s: 0.25 s to clear > 0.2 s; but 40 req/s and the
        # backlog need (40,000 + 20,000/60) / (40,000 x 0.8) = 1.26 -> 2: nothing beyond plan
        ("queue, rate fits", snap(200, 20), (2, 2), (2, 2), (2, 2)),
        # 80 req/s: (80,000 + 333.3) / 32,000 = 2.51 -> 3
        ("queue and rate beyond plan", snap(400, 20), (2, 2), (2, 2), (3, 2)),
        # 400 req/s would need 13; one reaction at most doubles: 4
        ("bounded step", snap(2000, 20), (2, 2), (2, 2), (4, 2)),
        # 3 needed, 6 asked for (some starting): never down, and no stacking on top
        ("never down", snap(400, 20), (6, 2), (2, 2), (6, 2)),
        # 5 waiting clear in 0.0625 s, but p99 TTFT 350 ms > 200 ms with a queue: 3
        ("ttft rising", snap(400, 5, p99=350.0), (2, 2), (2, 2), (3, 2)),
        # p99 high but nothing waiting: the slow requests are done, nothing to catch up
        ("ttft without queue", snap(400, 0, p99=350.0), (2, 2), (2, 2), (2, 2)),
        # nothing ready (all starting) and a queue: clearing time is infinite; 2 req/s x 1000
        # + 20,000/60 -> 2,333 tok/s: 1 replica, already asked for
        ("nothing ready", snap(10, 20), (1, 1), (0, 1), (1, 1)),
        ("nothing at all", snap(10, 20), (0, 1), (0, 1), (1, 1)),
        # 10 waiting for a decode slot, 150 running: (150 + 10) / 80 = 2 = target: slots
        # bind before ITL does, so one more
        ("decode waiting", snap(400, 0, 10, 150), (2, 2), (2, 2), (2, 3)),
        # 250 running > 2 x 100 ITL-feasible: 250 / 80 -> 4 (= the x2 bound)
        ("decode over ITL", snap(400, 0, 0, 250), (2, 2), (2, 2), (2, 4)),
        # 190 running fits 2 x 100: fine
        ("decode near", snap(400, 0, 0, 190), (2, 2), (2, 2), (2, 2)),
        # KV above 95% with an unknown count: one more
        ("kv full", snap(400, 0, 0, None, kv=0.97), (2, 2), (2, 2), (2, 3)),
        ("kv high but under", snap(400, 0, 0, None, kv=0.9), (2, 2), (2, 2), (2, 2)),
        ("both", snap(400, 20, 10, 150), (2, 2), (2, 2), (3, 3)),
    ],
)
def test_reactive_rule(case, s, target, ready, expected):
    action = react(s, target, ready, CAP, S, TTFT)
    assert (action.prefill, action.decode) == expected, case
    assert action.raised(target) == (expected != target)
    assert len(action.reasons) == sum(a > b for a, b in zip(expected, target, strict=True))


def test_reasons_name_what_triggered():
    a = react(snap(400, 20, 10, 150), (2, 2), (2, 2), CAP, S, TTFT)
    assert a.reasons[0].startswith("prefill: 20 waiting") and a.reasons[0].endswith("2 -> 3")
    assert a.reasons[1] == "decode: 10 waiting for a slot: 2 -> 3"


def test_disabled_never_acts():
    off = ReactiveSettings(enabled=False)
    assert react(snap(2000, 200, 50, 500), (2, 2), (2, 2), CAP, off, TTFT) == ReactiveAction(2, 2)


@pytest.mark.parametrize(
    "bad",
    [
        snap(float("nan"), float("nan"), float("nan"), float("nan"), float("nan")),
        snap(-5, -3, -1, -10),
        snap(400, float("inf"), 0, 50),
    ],
)
def test_broken_gauges_never_scale_up_or_down(bad):
    # NaN and negative readings are "unknown"; an infinite queue is not a number either
    a = react(bad, (2, 2), (2, 2), CAP, S, TTFT)
    assert (a.prefill, a.decode) == (2, 2)


def test_capacity_reads_the_profile(h200):
    profile_curves = h200
    cap = capacity(profile_curves, profile_curves, 1000.0, 200.0, 25.0)
    assert cap.prefill_tokens_per_s == pytest.approx(profile_curves.prefill_capacity_tps(1000.0))
    ctx = 1000.0 + 200.0 / 2
    assert cap.decode_sequences == pytest.approx(profile_curves.decode_max_concurrency(ctx, 25.0))


@pytest.mark.parametrize(
    ("case", "s", "expected"),
    [
        # 20 waiting clear in 0.25 s < 5 x 0.2 s: ordinary queueing, no reaction by default
        ("short queue", snap(400, 20), (2, 2)),
        # 200 waiting: 200,000 tokens / 80,000 tok/s = 2.5 s > 1 s: (80,000 + 200,000/60) /
        # (40,000 x 0.9) = 2.31 -> 3
        ("long queue", snap(400, 200), (3, 2)),
        ("p99 at 3x target", snap(400, 5, p99=600.0), (2, 2)),
        # p99 at 6x: (80,000 + 5,000/60) / 36,000 = 2.2 -> 3
        ("p99 at 6x target", snap(400, 5, p99=1200.0), (3, 2)),
    ],
)
def test_defaults_react_to_real_bursts_only(case, s, expected):
    a = react(s, (2, 2), (2, 2), CAP, ReactiveSettings(), TTFT)
    assert (a.prefill, a.decode) == expected, case
