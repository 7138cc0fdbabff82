"""Prefill pool kernels: batches of whole prompts, each batch timed by the profiled TTFT.

A batch starting at ts takes prompts from the head of a queue, in order, while they have arrived
by ts and adding the next would not exceed max_batched_tokens (a prompt longer than the cap runs
alone, unchunked, for TTFT(ISL)); it ends at ts + TTFT(batch tokens). Every prompt in it gets its
first token at the batch end: TTFT = batch end - arrival. A replica starts a batch as soon as it
is free and ready and a prompt is waiting (it never holds back to fill a batch).

Routing ("shared"): one FIFO queue feeds all ready replicas; the next batch goes to the replica
that can start it earliest (ties: the one idle longest, then the lowest slot).
Routing ("round_robin", as Dynamo's mocker): at arrival a request is assigned to the next ready
replica in slot order and queues there; if none is ready yet, to the one that will be ready
first; with no replica at all it waits unassigned.
Draining replicas take no new batch (shared) / no new assignment (round robin) but finish what
they hold. Only batches that start before `until` are run, so a later scaling decision (taking
effect at `until` or later) cannot change them.
"""

from __future__ import annotations

import numpy as np

from sla_planner.evaluation.des.jit import kernel
from sla_planner.evaluation.des.state import (
    ACTIVE,
    DRAINING,
    F_DRAIN,
    F_FREE,
    F_READY,
    F_REMOVED,
    GONE,
    I_QLEN,
    I_STATE,
)
from sla_planner.evaluation.des.timing import prefill_ms


@kernel
def _batch(
    q_t: np.ndarray,
    q_isl: np.ndarray,
    q_rep: np.ndarray,
    i: int,
    ts: float,
    cap: int,
    rep: int,
    members: np.ndarray,
) -> tuple:
    """Collect a batch from position i (rep >= 0: only that replica's requests, skipping others'
    and already-started ones). Returns (member count, tokens, position after the last member)."""
    tok = q_isl[i]
    members[0] = i
    k = 1
    j = i + 1
    while j < q_t.size and q_t[j] <= ts:
        if rep < 0 or q_rep[j] == rep:
            if tok + q_isl[j] > cap:
                break
            tok += q_isl[j]
            members[k] = j
            k += 1
        j += 1
    return k, tok, j


@kernel
def prefill_shared(
    q_t: np.ndarray,
    q_isl: np.ndarray,
    q_rep: np.ndarray,
    q_end: np.ndarray,
    i0: int,
    until: float,
    cap: int,
    pf_isl: np.ndarray,
    pf_ttft: np.ndarray,
    Fr: np.ndarray,
    Ir: np.ndarray,
    members: np.ndarray,
) -> int:
    """Shared FIFO: run batches starting before `until` from position i0; returns the new head.
    Each started request's batch end goes to q_end. `members`: scratch of >= cap entries (a
    batch holds at most cap prompts since ISL >= 1)."""
    i = i0
    while i < q_t.size:
        best, best_ts, best_free = -1, np.inf, np.inf
        for r in range(Fr.shape[0]):
            if Ir[r, I_STATE] != ACTIVE:
                continue
            free = max(Fr[r, F_FREE], Fr[r, F_READY])
            ts = max(free, q_t[i])
            if ts < best_ts or (ts == best_ts and free < best_free):
                best, best_ts, best_free = r, ts, free
        if best < 0 or best_ts >= until:
            break
        k, tok, _ = _batch(q_t, q_isl, q_rep, i, best_ts, cap, -1, members)
        end = best_ts + prefill_ms(pf_isl, pf_ttft, tok) / 1000.0
        q_end[i : i + k] = end
        Fr[best, F_FREE] = end
        i += k
    return i


@kernel
def _assign_rr(
    q_t: np.ndarray, q_rep: np.ndarray, until: float, Fr: np.ndarray, Ir: np.ndarray, rr: np.ndarray
) -> None:
    """Round-robin assignment at arrival of every unassigned request arriving before until."""
    R = Fr.shape[0]
    for j in range(q_t.size):
        if q_t[j] >= until:
            break
        if q_rep[j] >= 0:
            continue
        pick, first = -1, -1
        for step in range(1, R + 1):
            r = (rr[0] + step) % R
            if Ir[r, I_STATE] != ACTIVE:
                continue
            if Fr[r, F_READY] <= q_t[j]:
                pick = r
                break
            if first < 0 or Fr[r, F_READY] < Fr[first, F_READY]:
                first = r
        if pick < 0:
            pick = first
        if pick < 0:
            return  # no replica at all: keep FIFO order, assign later
        q_rep[j] = pick
        Ir[pick, I_QLEN] += 1
        rr[0] = pick


@kernel
def prefill_round_robin(
    q_t: np.ndarray,
    q_isl: np.ndarray,
    q_rep: np.ndarray,
    q_end: np.ndarray,
    until: float,
    cap: int,
    pf_isl: np.ndarray,
    pf_ttft: np.ndarray,
    Fr: np.ndarray,
    Ir: np.ndarray,
    rr: np.ndarray,
    members: np.ndarray,
) -> None:
    """Per-replica FIFO queues fed round-robin. q_end stays NaN for requests not started."""
    _assign_rr(q_t, q_rep, until, Fr, Ir, rr)
    for r in range(Fr.shape[0]):
        st = Ir[r, I_STATE]
        if st != ACTIVE and st != DRAINING:
            continue
        j = 0
        while Ir[r, I_QLEN] > 0:
            while j < q_t.size and (q_rep[j] != r or not np.isnan(q_end[j])):
                j += 1
            ts = max(max(Fr[r, F_FREE], Fr[r, F_READY]), q_t[j])
            if ts >= until:
                break
            k, tok, _ = _batch(q_t, q_isl, q_rep, j, ts, cap, r, members)
            end = ts + prefill_ms(pf_isl, pf_ttft, tok) / 1000.0
            for m in range(k):
                q_end[members[m]] = end
            Fr[r, F_FREE] = end
            Ir[r, I_QLEN] -= k
        if st == DRAINING and Ir[r, I_QLEN] == 0:  # drained: gone after its last batch
            Ir[r, I_STATE] = GONE
            Fr[r, F_REMOVED] = max(Fr[r, F_FREE], Fr[r, F_DRAIN])
