"""Requests no decode engine can hold: prompt + output longer than its KV cache.

A real engine refuses them (past max_model_len); stepping one through decode would take as many
steps as its output has tokens (a 1e18-token output never ends). They are taken out of the
stream as it is read and counted as misses in the window their arrival falls in.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sla_planner.evaluation.des.requests import Requests


class Refused:
    def __init__(self, max_kv_tokens: int) -> None:
        self.max_kv = int(max_kv_tokens)
        self._pending = np.zeros(0)  # arrival times not yet counted, ascending
        self.counted = 0  # refused requests counted so far

    def admit(self, chunks: Iterator[Requests]) -> Iterator[Requests]:
        """The stream without the requests that cannot fit (their arrivals are kept)."""
        for chunk in chunks:
            # float: isl + osl of a 1e18-token request must not overflow int64
            fits = chunk.isl.astype(np.float64) + chunk.osl.astype(np.float64) <= self.max_kv
            if not fits.all():
                self._pending = np.concatenate([self._pending, chunk.t[~fits]])
                chunk = Requests(chunk.t[fits], chunk.isl[fits], chunk.osl[fits])
            yield chunk

    def take_before(self, t: float) -> int:
        """Count (once) the refused requests that arrived before `t`."""
        k = int(np.searchsorted(self._pending, t, side="left"))
        self._pending = self._pending[k:]
        self.counted += k
        return k

    def drop_from(self, t: float) -> None:
        """Forget refused requests arriving at or after `t` (they are not replayed)."""
        self._pending = self._pending[self._pending < t]
