"""The incremental API gives exactly the one-shot results, however time is split and however
the requests are chunked; replays are deterministic given the seed."""

from __future__ import annotations

import numpy as np
import pytest
from support.des_requests import trace_requests, week_counts

from sla_planner.evaluation.des import (
    Judge,
    Requests,
    Schedule,
    count_trace_stream,
    replay,
)


@pytest.fixture(scope="module")
def conv() -> Requests:
    return trace_requests("AzureLLMInferenceTrace_conv.csv", rate_scale=6.0)


def _schedule() -> Schedule:
    t = np.arange(0.0, 600.0, 60.0)
    p = [3, 3, 2, 2, 4, 4, 1, 3, 3, 2]  # includes changes up, down, and a deep cut
    d = [2, 3, 3, 1, 1, 2, 2, 2, 1, 2]
    return Schedule.of(t, p, d)


def _chunks(req: Requests, size: int):
    for a in range(0, len(req), size):
        yield Requests(req.t[a : a + size], req.isl[a : a + size], req.osl[a : a + size])


@pytest.mark.parametrize(
    ("routing", "seqs"), [("shared", 1024), ("round_robin", 1024), ("shared", 24)]
)
def test_incremental_equals_one_shot(
    profile: dict, conv: Requests, routing: str, seqs: int
) -> None:
    # seqs=24: the decode sequence cap binds, so the blocked-queue path is exercised too
    req = conv.window(0.0, 600.0)
    sched = _schedule()
    kw = {"capture": True, "prefill_routing": routing, "max_num_seqs": seqs}
    one = replay(req, sched, profile, end_s=600.0, **kw)

    j = Judge(_chunks(req, 997), profile, **kw)
    cuts = np.arange(0.0, 600.0 + 1e-9, 7.0)[1:]
    edges = np.unique(np.concatenate((cuts, sched.t[1:], [600.0])))
    windows = []
    for until in edges:
        k = np.searchsorted(sched.t, j.now, side="right") - 1
        windows.append(j.advance(until, sched.prefill[k], sched.decode[k]))
    j.finish()

    np.testing.assert_array_equal(j.captured, one.captured)  # bit-identical per request
    if seqs < 1024:
        assert max(w.decode_queue for w in windows) > 0
    assert one.finished == len(req) and one.unfinished == 0
    assert sum(w.finished for w in windows) + j.tail.finished == one.finished
    assert sum(w.met for w in windows) + j.tail.met == round(one.attainment * one.finished)
    # per-decision counts of the one-shot = the fine windows regrouped by decision
    per = np.zeros(sched.t.size, dtype=int)
    for w in windows:
        per[np.searchsorted(sched.t, w.t0, side="right") - 1] += w.finished
    np.testing.assert_array_equal(per, one.interval_finished)
    # the schedule bites: some requests miss (so equality is not trivial)
    assert 0.0 < one.attainment < 1.0


def test_count_trace_stream_is_seeded(profile: dict, conv: Requests) -> None:
    counts, bin_s = week_counts()
    counts = counts[:180]  # 30 minutes

    def stream(seed: int) -> list[Requests]:
        return list(
            count_trace_stream(counts, bin_s, conv, rate_scale=2.5, seed=seed, chunk_s=600.0)
        )

    a, b, c = stream(3), stream(3), stream(4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.t, y.t)
        np.testing.assert_array_equal(x.isl, y.isl)
    assert any(len(x) != len(y) or not np.array_equal(x.t, y.t) for x, y in zip(a, c, strict=True))
    # counts: floor(2.5 c) + Bernoulli(0.5) per bin, arrivals inside their bin
    t_all = np.concatenate([x.t for x in a])
    per_bin = np.bincount((t_all // bin_s).astype(int), minlength=counts.size)
    assert np.all(per_bin - np.floor(2.5 * counts) >= 0)
    assert np.all(per_bin - np.floor(2.5 * counts) <= 1)
    assert np.all(np.diff(t_all) >= 0)

    sched = Schedule.of([0.0, 900.0], [4, 3], [3, 3])
    r1 = replay(iter(stream(3)), sched, profile, end_s=1800.0, capture=True)
    r2 = replay(iter(stream(3)), sched, profile, end_s=1800.0, capture=True)
    assert r1.finished == r2.finished == len(t_all)
    np.testing.assert_array_equal(r1.hist, r2.hist)
    assert (r1.attainment, r1.gpu_hours) == (r2.attainment, r2.gpu_hours)
