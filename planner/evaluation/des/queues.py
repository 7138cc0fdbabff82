"""Request buffers between the stages, as flat numpy arrays (no per-request Python objects).

PrefillQueue: loaded requests whose prefill has not started (arrived or still in the future).
DecodePending: requests whose prefill has ended (first token out), sorted by that time, waiting
to enter decode; OSL <= 1 requests sit in a separate "instant" list (they never enter decode).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def _cat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return b if a.size == 0 else np.concatenate((a, b))


class PrefillQueue:
    def __init__(self, capture: bool) -> None:
        self.t = np.zeros(0)
        self.isl = np.zeros(0, dtype=np.int64)
        self.osl = np.zeros(0, dtype=np.int64)
        self.id = np.zeros(0, dtype=np.int64)
        self.rep = np.zeros(0, dtype=np.int64)  # round robin: assigned replica (-1: none)
        self.end = np.zeros(0)  # prefill end (NaN: not started)
        self.capture = capture
        self.cap = np.zeros((3, 0))
        self.n_loaded = 0
        self.t_loaded = -np.inf  # latest arrival loaded
        self.exhausted = False

    def load(self, src: Iterator, until: float) -> None:
        """Pull chunks until every arrival before `until` is loaded."""
        while not self.exhausted and self.t_loaded < until:
            chunk = next(src, None)
            if chunk is None:
                self.exhausted = True
                break
            if len(chunk) == 0:
                continue
            if chunk.t[0] < self.t_loaded:
                raise ValueError("request chunks must come in arrival order")
            n = len(chunk)
            self.t, self.isl = _cat(self.t, chunk.t), _cat(self.isl, chunk.isl)
            self.osl = _cat(self.osl, chunk.osl)
            self.id = _cat(self.id, np.arange(self.n_loaded, self.n_loaded + n, dtype=np.int64))
            self.rep = _cat(self.rep, np.full(n, -1, dtype=np.int64))
            self.end = _cat(self.end, np.full(n, np.nan))
            self.n_loaded += n
            self.t_loaded = float(chunk.t[-1])
            if self.capture:
                grown = np.full((3, self.n_loaded), np.nan)
                grown[:, : self.cap.shape[1]] = self.cap
                self.cap = grown

    def _take(self, keep: slice | np.ndarray) -> None:
        for name in ("t", "isl", "osl", "id", "rep", "end"):
            setattr(self, name, getattr(self, name)[keep])

    def pop_started(self, head: int | None = None) -> tuple[np.ndarray, ...]:
        """Remove the started requests (the first `head` ones, or all with an end time) and
        return (end, arrival, isl, osl, id) for them."""
        if head is not None:
            out = (self.end[:head], self.t[:head], self.isl[:head], self.osl[:head], self.id[:head])
            self._take(slice(head, None))
            return out
        done = ~np.isnan(self.end)
        out = (self.end[done], self.t[done], self.isl[done], self.osl[done], self.id[done])
        self._take(~done)
        return out

    def unassign(self, r: int) -> None:
        self.rep[self.rep == r] = -1

    def drop_from(self, t: float) -> None:
        """Forget requests arriving at or after t (and stop loading)."""
        self.exhausted = True
        self._take(self.t < t)

    def waiting_before(self, t: float) -> int:
        return int(np.searchsorted(self.t, t, side="left"))

    def arrived_before(self, t: float) -> int:
        return self.n_loaded - (self.t.size - self.waiting_before(t))


class DecodePending:
    def __init__(self) -> None:
        z = np.zeros(0)
        zi = np.zeros(0, dtype=np.int64)
        self.t, self.ttft, self.isl, self.osl, self.id = z, z, zi, zi, zi
        self.it, self.ittft, self.iid = z, z, zi

    def add(
        self,
        end: np.ndarray,
        arrival: np.ndarray,
        isl: np.ndarray,
        osl: np.ndarray,
        ids: np.ndarray,
    ) -> None:
        """Queue requests whose prefill ends at `end` (stable merge by end time)."""
        if end.size == 0:
            return
        ttft = (end - arrival) * 1000.0
        inst = osl <= 1
        if inst.any():
            t = _cat(self.it, end[inst])
            o = np.argsort(t, kind="stable")
            self.it, self.ittft = t[o], _cat(self.ittft, ttft[inst])[o]
            self.iid = _cat(self.iid, ids[inst])[o]
            keep = ~inst
            end, ttft, isl, osl, ids = end[keep], ttft[keep], isl[keep], osl[keep], ids[keep]
        t = _cat(self.t, end)
        o = np.argsort(t, kind="stable")
        self.t, self.ttft = t[o], _cat(self.ttft, ttft)[o]
        self.isl, self.osl = _cat(self.isl, isl)[o], _cat(self.osl, osl)[o]
        self.id = _cat(self.id, ids)[o]

    def drop(self, k: int) -> None:
        self.t, self.ttft, self.isl = self.t[k:], self.ttft[k:], self.isl[k:]
        self.osl, self.id = self.osl[k:], self.id[k:]

    def drop_instant(self, k: int) -> None:
        self.it, self.ittft, self.iid = self.it[k:], self.ittft[k:], self.iid[k:]

    def waiting_before(self, t: float) -> int:
        """First token out before t but not yet admitted to a decode replica."""
        return int(np.searchsorted(self.t, t, side="left"))
