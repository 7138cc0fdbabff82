"""Decode pool kernel: continuous batching, one token per running sequence per step.

Exact step-by-step simulation (no multi-step chunks): a replica's state is its step counter, the
count and summed context of its running sequences, and a heap of the step counts at which each
sequence emits its last token. A step costs O(1) plus O(log n) per finishing sequence, so the
per-token cost is constant and no per-sequence work is done between events.

Timeline of a request (OSL >= 2; OSL <= 1 never enters decode): its first token is the prefill's
output, at prefill end t1 (= decode arrival; KV transfer is instant). It is routed at t1 to the
ready, non-draining replica with the fewest sequences (or least reserved KV) among those that can
admit it, and enters that replica's next step boundary (an idle replica starts a step at once,
with every sequence that arrives at that same instant). It then takes OSL - 1 steps. At each
step its context is ISL + tokens generated so far (ISL + 1 on its first step), and the step
time is ITL(kv, ctx) of the batch (timing.itl_ms). ITL = (last token - t1) / (OSL - 1).

Admission: a replica admits a sequence if it runs fewer than max_num_seqs and its reserved KV
(sum of ISL + OSL of every sequence it holds, i.e. full length, so no preemption is ever
needed) plus the newcomer's ISL + OSL fits max_kv_tokens; an empty replica admits anything. A
request that fits nowhere waits in one shared FIFO decode queue; the head is admitted at the
first step boundary at which some ready replica has room (or when a starting replica becomes
ready), and everything behind it waits. The wait counts against its ITL.

Functions here are short except `decode_window`, the event loop (one place for the ordering
rules, which is easier to check than spread across helpers). Arrays are passed one by one, not
in tuples: numba reference-counts arrays unpacked from tuples on every call, which cost more
than the simulation itself.

Replica arrays (state.py): Fr / Ir per-replica floats / ints, sF / sI per-sequence slots,
hp[r] = (finish heap keys, heap slots, free slot stack). par = (max_kv_tokens, max_num_seqs,
routing 0 fewest sequences / 1 least KV, TTFT target ms, ITL target ms).
"""

from __future__ import annotations

import numpy as np

from sla_planner.evaluation.des.jit import kernel
from sla_planner.evaluation.des.state import (
    ACTIVE,
    DRAINING,
    F_READY,
    F_REMOVED,
    F_TB,
    GONE,
    H_FREE,
    H_KEY,
    H_VAL,
    I_DONE,
    I_FTOP,
    I_HSIZE,
    I_INPROG,
    I_JCTX,
    I_JN,
    I_KV,
    I_N,
    I_STATE,
    I_SUMCTX,
    S_CTXEND,
    S_ID,
    S_OSL,
    S_TFIRST,
    S_TTFT,
)
from sla_planner.evaluation.des.stats import A_DWAIT, A_DWAIT_S, record
from sla_planner.evaluation.des.timing import itl_ms

P_MAXKV, P_MAXSEQS, P_ROUTING, P_SLA_TTFT, P_SLA_ITL = range(5)
_BIG = 9.0e18


@kernel
def _heap_push(hp: np.ndarray, r: int, size: int, key: int, val: int) -> None:
    i = size
    hp[r, H_KEY, i] = key
    hp[r, H_VAL, i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hp[r, H_KEY, p] <= key:
            break
        hp[r, H_KEY, i] = hp[r, H_KEY, p]
        hp[r, H_VAL, i] = hp[r, H_VAL, p]
        i = p
    hp[r, H_KEY, i] = key
    hp[r, H_VAL, i] = val


@kernel
def _heap_pop(hp: np.ndarray, r: int, size: int) -> int:
    """Remove the minimum of a heap of `size` entries; returns its value."""
    top = hp[r, H_VAL, 0]
    last = size - 1
    key, val = hp[r, H_KEY, last], hp[r, H_VAL, last]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= last:
            break
        if c + 1 < last and hp[r, H_KEY, c + 1] < hp[r, H_KEY, c]:
            c += 1
        if key <= hp[r, H_KEY, c]:
            break
        hp[r, H_KEY, i] = hp[r, H_KEY, c]
        hp[r, H_VAL, i] = hp[r, H_VAL, c]
        i = c
    hp[r, H_KEY, i] = key
    hp[r, H_VAL, i] = val
    return top


@kernel
def _finish_step(
    Fr: np.ndarray,
    Ir: np.ndarray,
    sF: np.ndarray,
    sI: np.ndarray,
    hp: np.ndarray,
    par: np.ndarray,
    acc: np.ndarray,
    hist: np.ndarray,
    cap: np.ndarray,
    r: int,
) -> None:
    """Close the step in progress at its boundary: every sequence gains a token; the ones on
    their last token complete."""
    if Ir[r, I_INPROG] == 0:
        return
    t = Fr[r, F_TB]
    done = Ir[r, I_DONE] + 1
    Ir[r, I_DONE] = done
    n = Ir[r, I_N]
    Ir[r, I_SUMCTX] += n
    size = Ir[r, I_HSIZE]
    while size > 0 and hp[r, H_KEY, 0] <= done:
        s = _heap_pop(hp, r, size)
        size -= 1
        n -= 1
        Ir[r, I_SUMCTX] -= sI[r, s, S_CTXEND]
        Ir[r, I_KV] -= sI[r, s, S_CTXEND]
        itl = (t - sF[r, s, S_TFIRST]) * 1000.0 / (sI[r, s, S_OSL] - 1)
        record(
            acc,
            hist,
            cap,
            par[P_SLA_TTFT],
            par[P_SLA_ITL],
            sF[r, s, S_TTFT],
            itl,
            sI[r, s, S_ID],
            t,
        )
        hp[r, H_FREE, Ir[r, I_FTOP]] = s
        Ir[r, I_FTOP] += 1
    Ir[r, I_HSIZE] = size
    Ir[r, I_N] = n
    Ir[r, I_INPROG] = 0


@kernel
def _start_step(
    Fr: np.ndarray, Ir: np.ndarray, tab: np.ndarray, par: np.ndarray, r: int, t: float
) -> None:
    """Open the next step at boundary t with the running plus newly joined sequences."""
    n = Ir[r, I_N] + Ir[r, I_JN]
    Ir[r, I_N] = n
    Ir[r, I_SUMCTX] += Ir[r, I_JCTX]
    Ir[r, I_JN] = 0
    Ir[r, I_JCTX] = 0
    if n > 0:
        sc = float(Ir[r, I_SUMCTX])
        Fr[r, F_TB] = t + itl_ms(tab, sc / par[P_MAXKV], sc / n) / 1000.0
        Ir[r, I_INPROG] = 1
        return
    Fr[r, F_TB] = np.inf
    if Ir[r, I_STATE] == DRAINING:  # a draining replica disappears once empty
        Ir[r, I_STATE] = GONE
        Fr[r, F_REMOVED] = t


@kernel
def _advance_all(
    Fr: np.ndarray,
    Ir: np.ndarray,
    sF: np.ndarray,
    sI: np.ndarray,
    hp: np.ndarray,
    tab: np.ndarray,
    par: np.ndarray,
    acc: np.ndarray,
    hist: np.ndarray,
    cap: np.ndarray,
    t: float,
) -> None:
    """Run every live replica through all its step boundaries strictly before t."""
    for r in range(Fr.shape[0]):
        st = Ir[r, I_STATE]
        if st != ACTIVE and st != DRAINING:
            continue
        while Fr[r, F_TB] < t:
            tb = Fr[r, F_TB]
            _finish_step(Fr, Ir, sF, sI, hp, par, acc, hist, cap, r)
            _start_step(Fr, Ir, tab, par, r, tb)


@kernel
def _route(Fr: np.ndarray, Ir: np.ndarray, par: np.ndarray, t: float, need: int) -> int:
    """Ready replica with the fewest sequences (routing 0) or least reserved KV (1) that can
    admit a request reserving `need` = ISL + OSL tokens; -1 if none can."""
    best, best_load = -1, _BIG
    for r in range(Fr.shape[0]):
        if Ir[r, I_STATE] != ACTIVE or Fr[r, F_READY] > t:
            continue
        cnt = Ir[r, I_N] + Ir[r, I_JN]
        if cnt >= par[P_MAXSEQS] or (cnt > 0 and Ir[r, I_KV] + need > par[P_MAXKV]):
            continue
        load = cnt if par[P_ROUTING] == 0 else Ir[r, I_KV]
        if load < best_load:
            best, best_load = r, load
    return best


@kernel
def _join(
    Fr: np.ndarray,
    Ir: np.ndarray,
    sF: np.ndarray,
    sI: np.ndarray,
    hp: np.ndarray,
    acc: np.ndarray,
    r: int,
    t: float,
    t1: float,
    ttft: float,
    isl: int,
    osl: int,
    rid: int,
) -> None:
    """Give the request a sequence slot on replica r; it enters at r's next boundary."""
    top = Ir[r, I_FTOP] - 1
    s = hp[r, H_FREE, top]
    Ir[r, I_FTOP] = top
    sF[r, s, S_TFIRST] = t1
    sF[r, s, S_TTFT] = ttft
    sI[r, s, S_OSL] = osl
    sI[r, s, S_CTXEND] = isl + osl
    sI[r, s, S_ID] = rid
    # Its last token closes step number (first step index) + OSL - 1; the first step index is
    # the step after the one in progress, or the step about to start if none is.
    _heap_push(hp, r, Ir[r, I_HSIZE], Ir[r, I_DONE] + Ir[r, I_INPROG] + osl - 1, s)
    Ir[r, I_HSIZE] += 1
    Ir[r, I_JN] += 1
    Ir[r, I_JCTX] += isl + 1
    Ir[r, I_KV] += isl + osl
    if Ir[r, I_INPROG] == 0 and Fr[r, F_TB] == np.inf:
        Fr[r, F_TB] = t  # idle replica: a step starts now
    if t > t1:  # waited in the decode queue (KV or sequence cap full everywhere)
        acc[A_DWAIT] += 1.0
        acc[A_DWAIT_S] += t - t1


@kernel
def _next_event(Fr: np.ndarray, Ir: np.ndarray, t: float) -> tuple:
    """Earliest moment room can appear for a blocked head: a ready replica's next boundary
    (returns its row) or a starting replica becoming ready (row -1)."""
    rb, te = -1, np.inf
    for r in range(Fr.shape[0]):
        if Ir[r, I_STATE] != ACTIVE:
            continue
        if Fr[r, F_READY] > t:
            if Fr[r, F_READY] < te:
                rb, te = -1, Fr[r, F_READY]
        elif Fr[r, F_TB] < te:
            rb, te = r, Fr[r, F_TB]
    return rb, te


@kernel
def decode_window(
    pa_t: np.ndarray,
    pa_ttft: np.ndarray,
    pa_isl: np.ndarray,
    pa_osl: np.ndarray,
    pa_id: np.ndarray,
    until: float,
    clock: np.ndarray,
    Fr: np.ndarray,
    Ir: np.ndarray,
    sF: np.ndarray,
    sI: np.ndarray,
    hp: np.ndarray,
    tab: np.ndarray,
    par: np.ndarray,
    acc: np.ndarray,
    hist: np.ndarray,
    cap: np.ndarray,
) -> int:
    """Process decode arrivals (sorted by time, all OSL >= 2) before `until` and every step
    boundary before `until`. Returns how many arrivals were admitted; the rest wait.

    clock[0] = time the last blocked head was admitted (later arrivals queue behind it).
    Ordering rules: a request routed at t sees every boundary < t already processed; a boundary
    at exactly t is still ahead, so the request joins it. Longer than 60 lines: the event loop
    keeps all ordering rules in one place.
    """
    n = pa_t.size
    i = 0
    while i < n:
        t = max(pa_t[i], clock[0])
        if t >= until:
            break
        _advance_all(Fr, Ir, sF, sI, hp, tab, par, acc, hist, cap, t)
        r = _route(Fr, Ir, par, t, pa_isl[i] + pa_osl[i])
        if r >= 0:
            _join(
                Fr, Ir, sF, sI, hp, acc, r, t, pa_t[i], pa_ttft[i], pa_isl[i], pa_osl[i], pa_id[i]
            )
            i += 1
            continue
        # Blocked: nothing can admit the head now. Jump to the earliest boundary (or readiness)
        # and admit at that boundary, between closing one step and opening the next.
        rb, te = _next_event(Fr, Ir, t)
        if te >= until:
            break
        clock[0] = te
        if rb < 0:
            continue
        _advance_all(Fr, Ir, sF, sI, hp, tab, par, acc, hist, cap, te)
        _finish_step(Fr, Ir, sF, sI, hp, par, acc, hist, cap, rb)
        while i < n and pa_t[i] <= te:
            r2 = _route(Fr, Ir, par, te, pa_isl[i] + pa_osl[i])
            if r2 < 0:
                break
            _join(
                Fr, Ir, sF, sI, hp, acc, r2, te, pa_t[i], pa_ttft[i], pa_isl[i], pa_osl[i], pa_id[i]
            )
            i += 1
        _start_step(Fr, Ir, tab, par, rb, te)
    _advance_all(Fr, Ir, sF, sI, hp, tab, par, acc, hist, cap, until)
    return i


@kernel
def record_instant(
    ts: np.ndarray,
    ttft: np.ndarray,
    ids: np.ndarray,
    until: float,
    par: np.ndarray,
    acc: np.ndarray,
    hist: np.ndarray,
    cap: np.ndarray,
) -> int:
    """Complete OSL <= 1 requests (sorted by prefill end) finishing before `until`: their only
    token is the prefill's, so ITL is 0."""
    i = 0
    while i < ts.size and ts[i] < until:
        record(acc, hist, cap, par[P_SLA_TTFT], par[P_SLA_ITL], ttft[i], 0.0, ids[i], ts[i])
        i += 1
    return i
