"""Cross-check against a naive reference simulator written independently of the kernels.

The reference is a plain Python event loop with a per-sequence token counter (no step counter,
no finish heap, no per-replica advancing), on a synthetic profile whose step time is exactly
ITL = A + B * kv_usage + C * N. That model is linear in kv_usage on each context row and linear
in 1/context between rows, so the package's interpolation reproduces it exactly and the
reference needs no interpolation at all: any bookkeeping error in the kernels shows up.
"""

from __future__ import annotations

import numpy as np
import pytest

from sla_planner.evaluation.des import Judge, Requests

A, B, C, MAX_KV = 5.0, 200.0, 0.02, 2_000_000  # ms, ms per kv fraction, ms per sequence
ROWS = [500.0, 2000.0, 8000.0]
PF_A, PF_B = 10.0, 0.01  # prefill TTFT = 10 ms + 0.01 ms/token


def synthetic_profile() -> dict:
    kv, ctx, itl = [], [], []
    for c in ROWS:
        for x in (0.0, 0.5, 1.0):
            kv.append(x)
            ctx.append(c)
            itl.append(A + (B + C * MAX_KV / c) * x)  # N = kv * MAX_KV / ctx
    isl = [100.0, 20000.0]
    return {
        "name": "synthetic",
        "gpus_per_replica": 1,
        "max_batched_tokens": 8192,
        "prefill": {"isl": isl, "ttft_ms": [PF_A + PF_B * x for x in isl]},
        "decode": {"kv_usage": kv, "context_length": ctx, "itl_ms": itl, "max_kv_tokens": MAX_KV},
    }


def reference_prefill(t: np.ndarray, isl: np.ndarray, cap: int) -> np.ndarray:
    """One replica, FIFO, greedy batches of arrived prompts up to cap tokens."""
    end = np.empty(t.size)
    free, i = 0.0, 0
    while i < t.size:
        start = max(free, t[i])
        tok, j = isl[i], i + 1
        while j < t.size and t[j] <= start and tok + isl[j] <= cap:
            tok += isl[j]
            j += 1
        free = start + (PF_A + PF_B * max(tok, 100)) / 1000.0
        end[i:j] = free
        i = j
    return end


def reference_decode(t1: np.ndarray, isl: np.ndarray, osl: np.ndarray, n_rep: int) -> np.ndarray:
    """Per-token continuous batching on n_rep replicas; returns ITL ms per request."""
    itl = np.zeros(t1.size)
    order = sorted(range(t1.size), key=lambda k: (t1[k], k))
    reps = [{"run": [], "join": [], "tb": np.inf, "busy": False} for _ in range(n_rep)]
    nxt = 0
    while True:
        tb = min(r["tb"] for r in reps)
        ta = t1[order[nxt]] if nxt < len(order) else np.inf
        if ta == np.inf and tb == np.inf:
            return itl
        if ta <= tb:  # arrivals go before a boundary at the same instant
            k = order[nxt]
            nxt += 1
            r = min(range(n_rep), key=lambda q: (len(reps[q]["run"]) + len(reps[q]["join"]), q))
            rep = reps[r]
            rep["join"].append({"k": k, "ctx": isl[k] + 1, "left": osl[k] - 1})
            if not rep["busy"] and rep["tb"] == np.inf:
                rep["tb"] = ta
            continue
        rep = reps[min(range(n_rep), key=lambda q: (reps[q]["tb"], q))]
        now = rep["tb"]
        if rep["busy"]:
            for s in rep["run"]:
                s["ctx"] += 1
                s["left"] -= 1
                if s["left"] == 0:
                    itl[s["k"]] = (now - t1[s["k"]]) * 1000.0 / (osl[s["k"]] - 1)
            rep["run"] = [s for s in rep["run"] if s["left"] > 0]
        rep["run"] += rep["join"]
        rep["join"] = []
        n = len(rep["run"])
        if n:
            kv = sum(s["ctx"] for s in rep["run"]) / MAX_KV
            rep["tb"] = now + (A + B * kv + C * n) / 1000.0
            rep["busy"] = True
        else:
            rep["tb"], rep["busy"] = np.inf, False


@pytest.mark.parametrize(("n_dec", "rate"), [(1, 3.0), (2, 8.0), (3, 15.0)])
def test_kernels_match_naive_reference(n_dec: int, rate: float) -> None:
    rng = np.random.default_rng(11)
    n = 400
    t = np.cumsum(rng.exponential(1 / rate, n))
    t[50:60] = t[50]  # a simultaneous burst
    isl = rng.integers(600, 6000, n)
    osl = rng.integers(2, 400, n)
    req = Requests.of(t, isl, osl)

    j = Judge(req, synthetic_profile(), capture=True)
    j.advance(t[-1] + 1.0, 1, n_dec)
    j.finish()
    ttft, itl = j.captured[0], j.captured[1]

    end = reference_prefill(req.t, req.isl, 8192)
    np.testing.assert_allclose(ttft, (end - req.t) * 1000.0, rtol=1e-12, atol=1e-9)
    ref_itl = reference_decode(end, req.isl, req.osl, n_dec)
    np.testing.assert_allclose(itl, ref_itl, rtol=1e-9)
    assert itl.max() > 1.3 * itl.min()  # batch sizes and contexts really varied
