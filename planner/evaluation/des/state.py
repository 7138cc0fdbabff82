"""Replica state arrays shared by the numba kernels and the Python pool bookkeeping.

Each pool keeps one row per replica slot in a float array F and an int array I. Slots are
reused after a replica is gone; arrays grow by doubling when a pool needs more slots.
"""

from __future__ import annotations

import numpy as np

# Replica states (I[r, I_STATE]).
FREE, ACTIVE, DRAINING, GONE = 0, 1, 2, 3
# ACTIVE covers "starting" too: a replica takes work only once t >= F[r, F_READY].

# Float columns, both pools.
F_READY, F_DRAIN, F_REMOVED = 0, 1, 2
F_FREE = 3  # prefill: end of the batch in progress (or last one)
F_TB = 3  # decode: next step boundary (inf: idle with nothing to start)
N_F = 4

# Int columns. I_STATE for both pools; the rest are decode only.
I_STATE = 0
I_N = 1  # sequences in the step in progress
I_JN = 2  # sequences joined since, entering at the next boundary
I_JCTX = 3  # their summed context (ISL + 1 each)
I_SUMCTX = 4  # summed current context of the I_N running sequences
I_KV = 5  # KV reserved: sum of ISL + OSL of running and joined sequences
I_DONE = 6  # completed steps
I_INPROG = 7  # 1 while a step is in progress
I_HSIZE = 8  # entries in the finish heap
I_FTOP = 9  # free slot stack height
I_QLEN = 10  # prefill round-robin: requests assigned and not yet started
N_I = 11

# Per-sequence slot columns (decode).
S_TFIRST, S_TTFT = 0, 1  # float: first token time (prefill end), TTFT ms
S_OSL, S_CTXEND, S_ID = 0, 1, 2  # int: OSL, ISL + OSL, request id
# hp[r, H_*, :] (decode): finish heap keys, heap values (slots), free slot stack.
H_KEY, H_VAL, H_FREE = 0, 1, 2


class PoolArrays:
    """Replica rows of one pool. `seqs` > 0 adds the decode per-sequence tables."""

    def __init__(self, seqs: int = 0, slots: int = 4) -> None:
        self.seqs = seqs
        self.F = np.zeros((0, N_F))
        self.I = np.zeros((0, N_I), dtype=np.int64)
        self.sF = np.zeros((0, max(seqs, 1), 2))
        self.sI = np.zeros((0, max(seqs, 1), 3), dtype=np.int64)
        self.hp = np.zeros((0, 3, max(seqs, 1)), dtype=np.int64)
        self._grow(slots)

    def _grow(self, n: int) -> None:
        """Append n empty slots (all arrays together, so kernels see one consistent shape)."""
        old = self.F.shape[0]

        def pad(a: np.ndarray) -> np.ndarray:
            out = np.zeros((old + n,) + a.shape[1:], dtype=a.dtype)
            out[:old] = a
            return out

        self.F, self.I = pad(self.F), pad(self.I)
        self.sF, self.sI, self.hp = pad(self.sF), pad(self.sI), pad(self.hp)
        self.F[old:, F_REMOVED] = np.nan

    def allocate(self, t_ready: float) -> int:
        """Take a free slot for a new replica ready at t_ready; returns the slot."""
        free = np.flatnonzero(self.I[:, I_STATE] == FREE)
        if free.size == 0:
            self._grow(max(4, self.F.shape[0]))
            free = np.flatnonzero(self.I[:, I_STATE] == FREE)
        r = int(free[0])
        self.F[r] = (t_ready, np.inf, np.nan, t_ready)
        self.I[r] = 0
        self.I[r, I_STATE] = ACTIVE
        if self.seqs:
            self.F[r, F_TB] = np.inf
            self.I[r, I_FTOP] = self.seqs
            self.hp[r, H_FREE] = np.arange(self.seqs)[::-1]  # pop order 0, 1, 2...
        return r

    def rows(self, state: int) -> np.ndarray:
        return np.flatnonzero(self.I[:, I_STATE] == state)
