"""Incremental replay of both pools: `Judge.advance(until_s, prefill_target, decode_target)`.

Each call applies the targets at the current time (replicas asked for now are ready
`startup_s` later; the first call is a warm start, ready at once), then replays everything
that happens before `until_s`: arrivals, prefill batches that start before it, decode steps
whose boundaries fall before it. It returns a `Window` with what completed in [now, until_s).
Results do not depend on how time is split into calls (only on the targets and when they
change), so `replay()` (one call per decision) and a finer-grained closed loop agree exactly.

Requests come from a `Requests` object or an iterator of chunks in arrival order; a chunk is
pulled only when the replay reaches its time, so memory stays bounded by one chunk plus the
requests in the system.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sla_planner.evaluation.des.decode import decode_window, record_instant
from sla_planner.evaluation.des.oversize import Refused
from sla_planner.evaluation.des.pools import Pool, ReplicaRecord
from sla_planner.evaluation.des.prefill import prefill_round_robin, prefill_shared
from sla_planner.evaluation.des.profile import EngineTables, load_profile
from sla_planner.evaluation.des.queues import DecodePending, PrefillQueue
from sla_planner.evaluation.des.requests import Requests
from sla_planner.evaluation.des.state import I_QLEN, PoolArrays
from sla_planner.evaluation.des.stats import (
    A_ITL_MET,
    A_MET,
    A_N,
    A_TLAST,
    A_TTFT_MET,
    merge_acc,
    new_acc,
    new_hist,
)
from sla_planner.evaluation.des.window import Window, make_window

PREFILL_ROUTING = {"shared": 0, "round_robin": 1}
DECODE_ROUTING = {"fewest_seqs": 0, "least_kv": 1}


@dataclass
class _Totals:
    acc: np.ndarray = field(default_factory=new_acc)
    hist: np.ndarray = field(default_factory=new_hist)
    gpu_s: float = 0.0
    peak_gpus: int = 0
    actions: int = 0
    replicas_changed: int = 0
    windows: list[tuple[float, float, int, int, int, int, int, int]] = field(default_factory=list)


class Judge:
    """Per-request discrete-event replay of a prefill and a decode pool (see package doc)."""

    def __init__(
        self,
        requests: Requests | Iterable[Requests],
        profile: Any,  # dict, EngineProfile-like object or EngineTables
        *,
        decode_profile: Any | None = None,  # the decode pool's engine config (default: profile)
        ttft_ms: float = 200.0,
        itl_ms: float = 25.0,
        startup_s: float = 120.0,
        start_s: float = 0.0,
        prefill_routing: str = "shared",
        decode_routing: str = "fewest_seqs",
        max_num_seqs: int = 1024,
        max_batched_tokens: int | None = None,
        max_kv_tokens: int | None = None,
        capture: bool = False,
        keep_window_hist: bool = False,
    ) -> None:
        self.tab: EngineTables = load_profile(profile)
        self.dtab: EngineTables = (
            self.tab if decode_profile is None else load_profile(decode_profile)
        )
        self.sla = (float(ttft_ms), float(itl_ms))
        self.cap_tokens = int(max_batched_tokens or self.tab.max_batched_tokens)
        self.max_kv = int(max_kv_tokens or self.dtab.max_kv_tokens)
        self._pf_mode = PREFILL_ROUTING[prefill_routing]
        self._itl_tab = self.dtab.itl_tab
        self._members = np.empty(max(self.cap_tokens, 1), dtype=np.int64)  # prefill scratch
        # decode.P_* layout: max KV, max sequences, routing, TTFT target, ITL target
        self._par = np.array(
            [self.max_kv, max_num_seqs, DECODE_ROUTING[decode_routing], self.sla[0], self.sla[1]],
            dtype=np.float64,
        )
        self._refused = Refused(self.max_kv)
        chunks = iter([requests]) if hasattr(requests, "isl") else iter(requests)
        self._src: Iterator = self._refused.admit(chunks)
        self._q = PrefillQueue(capture)
        self._pend = DecodePending()
        self._clock = np.zeros(1)
        self._rr = np.full(1, -1, dtype=np.int64)
        self.prefill = Pool("prefill", PoolArrays(0), startup_s, self._requeue)
        self.decode = Pool("decode", PoolArrays(int(max_num_seqs)), startup_s)
        self.now = float(start_s)
        self.targets: tuple[int, int] | None = None
        self._acc, self._hist = new_acc(), new_hist()
        self.tot = _Totals()
        self.keep_window_hist = keep_window_hist
        self.tail: Window | None = None

    # -- public API -------------------------------------------------------------------------
    def advance(self, until_s: float, prefill_target: int, decode_target: int) -> Window:
        """Apply targets now, replay up to until_s, return what completed in the window."""
        until = float(until_s)
        if until < self.now:
            raise ValueError(f"until_s {until} is before the current time {self.now}")
        if self.tail is not None:
            raise RuntimeError("finish() was called; create a new Judge")
        self._scale(int(prefill_target), int(decode_target))
        self._q.load(self._src, until)
        t0 = self.now
        self._run(until)
        self._acc[A_N] += self._refused.take_before(until)
        gpus = self.gpus(*self.targets)
        self.tot.gpu_s += gpus * (until - t0)
        self.tot.peak_gpus = max(self.tot.peak_gpus, gpus)
        self.now = until
        return self._close_window(t0, until)

    def finish(self) -> Window:
        """Stop arrivals at the current time and run until every arrived request completes
        (with the last targets). Requests arriving later are not replayed."""
        if self.targets is None:
            raise RuntimeError("call advance() at least once before finish()")
        if self.tail is None:
            self._q.drop_from(self.now)
            self._refused.drop_from(self.now)
            self._run(math.inf)
            end = max(self.now, float(self._acc[A_TLAST]))
            self.tail = self._close_window(self.now, end, record=False)
        return self.tail

    def gpus(self, prefill: int, decode: int) -> int:
        return prefill * self.tab.gpus_per_replica + decode * self.dtab.gpus_per_replica

    @property
    def records(self) -> list[ReplicaRecord]:
        return self.prefill.records + self.decode.records

    @property
    def captured(self) -> np.ndarray:
        """(3, n) per request id: TTFT ms, ITL ms, completion time s (NaN: not completed)."""
        return self._q.cap

    def in_flight(self) -> int:
        """Requests that arrived before `now` and have not completed."""
        arrived = self._q.arrived_before(self.now) + self._refused.counted
        return arrived - int(self.tot.acc[A_N] + self._acc[A_N])

    @property
    def refused(self) -> int:
        """Requests counted as misses because prompt + output exceed the decode KV cache."""
        return self._refused.counted

    # -- internals ---------------------------------------------------------------------------
    def _scale(self, p: int, d: int) -> None:
        warm = self.targets is None
        if not warm:
            for old, new in zip(self.targets, (p, d), strict=True):
                self.tot.actions += old != new
                self.tot.replicas_changed += abs(new - old)
        self.prefill.scale_to(p, self.now, warm)
        self.decode.scale_to(d, self.now, warm)
        self.targets = (p, d)

    def _requeue(self, r: int) -> None:
        """A cancelled round-robin replica's queue goes back to be reassigned."""
        self._q.unassign(r)
        self.prefill.arr.I[r, I_QLEN] = 0

    def _run(self, until: float) -> None:
        q, pf, tab = self._q, self.prefill.arr, self.tab
        if self._pf_mode == 0:
            head = prefill_shared(
                q.t,
                q.isl,
                q.rep,
                q.end,
                0,
                until,
                self.cap_tokens,
                tab.pf_isl,
                tab.pf_ttft_ms,
                pf.F,
                pf.I,
                self._members,
            )
            self._pend.add(*q.pop_started(head))
        else:
            prefill_round_robin(
                q.t,
                q.isl,
                q.rep,
                q.end,
                until,
                self.cap_tokens,
                tab.pf_isl,
                tab.pf_ttft_ms,
                pf.F,
                pf.I,
                self._rr,
                self._members,
            )
            self._pend.add(*q.pop_started())
        p, acc, hist, cap = self._pend, self._acc, self._hist, self._q.cap
        p.drop_instant(record_instant(p.it, p.ittft, p.iid, until, self._par, acc, hist, cap))
        dc = self.decode.arr
        k = decode_window(
            p.t,
            p.ttft,
            p.isl,
            p.osl,
            p.id,
            until,
            self._clock,
            dc.F,
            dc.I,
            dc.sF,
            dc.sI,
            dc.hp,
            self._itl_tab,
            self._par,
            acc,
            hist,
            cap,
        )
        p.drop(k)
        self.prefill.collect()
        self.decode.collect()

    def _close_window(self, t0: float, t1: float, record: bool = True) -> Window:
        w = make_window(t0, t1, self.targets, self._acc, self._hist, self.keep_window_hist)
        w.prefill_queue = self._q.waiting_before(t1)
        w.decode_queue = self._pend.waiting_before(t1)
        w.prefill_ready = self.prefill.ready_count(t1)
        w.decode_ready = self.decode.ready_count(t1)
        merge_acc(self.tot.acc, self._acc)
        self.tot.hist += self._hist
        if record:
            a = self._acc
            self.tot.windows.append(
                (
                    t0,
                    t1,
                    *self.targets,
                    int(a[A_N]),
                    int(a[A_MET]),
                    int(a[A_TTFT_MET]),
                    int(a[A_ITL_MET]),
                )
            )
        self._acc[:] = 0.0
        self._hist[:] = 0
        w.in_flight = self.in_flight()
        return w
