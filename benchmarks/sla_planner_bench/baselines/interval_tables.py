"""Per-interval attainment tables from the discrete-event judge, for the optimal clairvoyant.

For every interval j of a run and every prefill count p and decode count d of a range around
where the interval stops gaining from more replicas, how many of the requests arriving in it
meet both targets: met[j, p, d]. Each interval is replayed *alone* by the judge
(sla_planner.evaluation.des.Judge) on the very requests the whole-run judge replays (the same
seeded stream), with
- a lead-in: the requests of the previous `lead_s` seconds arrive first (not counted), so the
  interval starts on a loaded queue and a running decode batch, not on idle engines;
- a tail: the requests of the next `lag_s` seconds keep arriving (not counted), so its last
  requests share the engines as they would;
- warm replicas (ready at the lead-in's start): the clairvoyant requests its replicas one
  startup ahead, so they are ready when their interval begins.

Prefill and decode are swept apart, one pool at its saturation while the other varies: TTFT
does not depend on decode at all (decode sits downstream of prefill), and ITL depends on
prefill only through when prompts reach decode. Per request, met at (p, d) = TTFT met at p
(decode saturated) and ITL met at d (prefill saturated): exact for TTFT, and for ITL up to that
arrival timing. Requests whose prompt + output exceed the decode KV cache are misses at every
size, as in the judge.

Ranges: each pool from its saturation point `top` (the fewest replicas beyond which no more
requests meet the target, found from the previous interval's) down to where the pool alone
misses more than `cut` of the interval's requests (default half), at most `depth` counts
(default 12) from `top`, never below its minimum. A count above the range attains as `top` does (saturated); below it, the
interval is taken to miss everything (no choice should go there; `edge` in the optimal
clairvoyant's result counts intervals whose choice sits on the lower edge).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from sla_planner.evaluation.des import EngineTables, Judge, Requests, load_profile

DEPTH = 12  # counts tabulated below saturation, each pool
CUT = 0.5  # stop going down once the pool alone misses this share of the interval
LEAD_S = 30.0
LAG_S = 30.0


@dataclass(frozen=True)
class IntervalTables:
    """met[j, a, b]: requests of interval j meeting both targets at prefill p_lo[j] + a and
    decode d_lo[j] + b (a < p_n[j], b < d_n[j]; padding repeats the saturated edge)."""

    start: float
    interval_s: float
    requests: np.ndarray  # (J,) requests arriving in each interval (refused included)
    p_lo: np.ndarray  # (J,) int
    p_n: np.ndarray  # (J,) int
    d_lo: np.ndarray
    d_n: np.ndarray
    met: np.ndarray  # (J, K, K) int
    gpus: tuple[int, int]

    @property
    def intervals(self) -> int:
        return int(self.requests.size)

    def save(self, path: str) -> None:
        np.savez_compressed(
            path, start=self.start, interval_s=self.interval_s, requests=self.requests,
            p_lo=self.p_lo, p_n=self.p_n, d_lo=self.d_lo, d_n=self.d_n, met=self.met,
            gpus=np.array(self.gpus),
        )  # fmt: skip

    @classmethod
    def load(cls, path: str) -> IntervalTables:
        z = np.load(path)
        g = tuple(int(x) for x in z["gpus"])
        return cls(
            float(z["start"]), float(z["interval_s"]), z["requests"], z["p_lo"], z["p_n"],
            z["d_lo"], z["d_n"], z["met"], (g[0], g[1]),
        )  # fmt: skip


@dataclass(frozen=True)
class Targets:
    ttft_ms: float
    itl_ms: float
    min_prefill: int = 1
    min_decode: int = 1
    depth: int = DEPTH  # counts tabulated, each pool
    cut: float = CUT  # lowest count: the pool alone misses at most this share


class _Window:
    """Requests of one interval with its lead-in and tail, and who counts."""

    def __init__(self, reqs: Requests, t0: float, t1: float, max_kv: int) -> None:
        fits = reqs.isl.astype(np.float64) + reqs.osl.astype(np.float64) <= max_kv
        self.all = Requests(reqs.t[fits], reqs.isl[fits], reqs.osl[fits])
        inside = (self.all.t >= t0) & (self.all.t < t1)
        self.counted = inside
        ins = (reqs.t >= t0) & (reqs.t < t1)
        self.n = int(ins.sum())  # refused ones too: the judge counts them as misses


class _Sweeper:
    """Judges one interval's window at given replica counts (per-request met flags)."""

    def __init__(self, tab: tuple[EngineTables, EngineTables], tg: Targets, w: _Window, t: float):
        self.tab, self.tg, self.w, self.t = tab, tg, w, t
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def flags(self, p: int, d: int) -> tuple[np.ndarray, np.ndarray]:
        """(TTFT met, ITL met) of the counted requests at (p, d)."""
        key = (p, d)
        if key not in self._cache:
            self._cache[key] = self._run(p, d)
        return self._cache[key]

    def _run(self, p: int, d: int) -> tuple[np.ndarray, np.ndarray]:
        w, tg = self.w, self.tg
        if len(w.all) == 0:
            return np.zeros(0, bool), np.zeros(0, bool)
        j = Judge(
            w.all, self.tab[0], decode_profile=self.tab[1], ttft_ms=tg.ttft_ms,
            itl_ms=tg.itl_ms, start_s=self.t, capture=True,
        )  # fmt: skip
        j.advance(float(w.all.t[-1]) + 1e-6, max(p, 0), max(d, 0))
        j.finish()
        cap = j.captured[:, : len(w.all)][:, w.counted]
        ttft, itl = cap[0], cap[1]
        with np.errstate(invalid="ignore"):
            return ttft <= tg.ttft_ms, itl <= tg.itl_ms

    def misses(self, pool: int, n: int, other: int) -> int:
        p, d = (n, other) if pool == 0 else (other, n)
        return int((~self.flags(p, d)[pool]).sum())


def _saturation(sw: _Sweeper, pool: int, guess: int, other: int, floor: int) -> int:
    """Fewest replicas of `pool` beyond which no more counted requests meet its target."""
    big = max(2 * guess, guess + 4, floor)
    best = sw.misses(pool, big, other)
    n = max(guess, floor)
    if sw.misses(pool, n, other) > best:
        while sw.misses(pool, n, other) > best:
            n += 1
            if n == big:  # the guess was far off: is `big` itself saturated?
                big *= 2
                best = sw.misses(pool, big, other)
        return n
    while n > floor and sw.misses(pool, n - 1, other) <= best:
        n -= 1
    return n


def _range(sw: _Sweeper, pool: int, top: int, other: int, floor: int, total: int) -> int:
    """Lowest count tabulated: down from `top` while the pool alone misses <= the cut."""
    lo, tg = top, sw.tg
    while lo > floor and top - lo < tg.depth - 1:
        if sw.misses(pool, lo - 1, other) > tg.cut * max(total, 1):
            break
        lo -= 1
    return lo


def _interval(sw: _Sweeper, tg: Targets, guess: tuple[int, int]) -> tuple[Any, ...]:
    """One interval's (p_lo, p_n, d_lo, d_n, met table)."""
    n = int(sw.w.counted.sum())
    big_p = max(2 * guess[0], guess[0] + 4)
    d_top = _saturation(sw, 1, guess[1], big_p, max(tg.min_decode, 1))
    p_top = _saturation(sw, 0, guess[0], d_top, max(tg.min_prefill, 1))
    p_lo = _range(sw, 0, p_top, d_top, max(tg.min_prefill, 1), n)
    d_lo = _range(sw, 1, d_top, big_p, max(tg.min_decode, 1), n)
    ttft = np.stack([sw.flags(p, d_top)[0] for p in range(p_lo, p_top + 1)]).astype(float)
    itl = np.stack([sw.flags(big_p, d)[1] for d in range(d_lo, d_top + 1)]).astype(float)
    met = np.rint(ttft @ itl.T).astype(np.int64) if n else np.zeros((ttft.shape[0], itl.shape[0]))
    return p_lo, p_top - p_lo + 1, d_lo, d_top - d_lo + 1, met


def tabulate(
    chunks: Iterator[Requests],
    start: float,
    end: float,
    interval_s: float,
    profiles: tuple[Any, Any],
    targets: Targets,
    progress: Any = None,
) -> IntervalTables:
    """Every interval of [start, end) tabulated (see the module docstring)."""
    tab = (load_profile(profiles[0]), load_profile(profiles[1]))
    max_kv = tab[1].max_kv_tokens
    count = int(math.floor((end - start) / interval_s + 1e-9))
    k = targets.depth + 1
    out = {
        "requests": np.zeros(count, np.int64),
        "p_lo": np.zeros(count, np.int64), "p_n": np.ones(count, np.int64),
        "d_lo": np.zeros(count, np.int64), "d_n": np.ones(count, np.int64),
    }  # fmt: skip
    met = np.zeros((count, k, k), np.int64)
    guess = (max(targets.min_prefill, 1), max(targets.min_decode, 1))
    buf = _Buffer(chunks)
    for j in range(count):
        t0 = start + j * interval_s
        t1 = t0 + interval_s
        reqs = buf.window(t0 - LEAD_S, t1 + LAG_S)
        w = _Window(reqs, t0, t1, max_kv)
        sw = _Sweeper(tab, targets, w, t0 - LEAD_S)
        p_lo, p_n, d_lo, d_n, m = _interval(sw, targets, guess)
        out["requests"][j] = w.n
        out["p_lo"][j], out["p_n"][j], out["d_lo"][j], out["d_n"][j] = p_lo, p_n, d_lo, d_n
        met[j] = _pad(np.asarray(m, np.int64), k)
        guess = (p_lo + p_n - 1, d_lo + d_n - 1)
        if progress is not None:
            progress(j, count)
    return IntervalTables(
        start, interval_s, out["requests"], out["p_lo"], out["p_n"], out["d_lo"],
        out["d_n"], met, (tab[0].gpus_per_replica, tab[1].gpus_per_replica),
    )  # fmt: skip


def _pad(m: np.ndarray, k: int) -> np.ndarray:
    """Into (k, k), the last row and column repeated (more replicas attain as the top)."""
    out = np.empty((k, k), np.int64)
    a, b = m.shape
    out[:a, :b] = m
    out[a:, :b] = m[-1:, :]
    out[:, b:] = out[:, b - 1 : b]
    return out


class _Buffer:
    """The stream's requests kept from a time on, pulled as far as asked."""

    def __init__(self, chunks: Iterator[Requests]) -> None:
        self._src = chunks
        self._reqs = Requests.of([], [], [])
        self._done = False

    def window(self, t0: float, t1: float) -> Requests:
        while not self._done and (len(self._reqs) == 0 or self._reqs.t[-1] < t1):
            chunk = next(self._src, None)
            if chunk is None:
                self._done = True
                break
            r = self._reqs
            self._reqs = Requests(
                np.concatenate([r.t, chunk.t]),
                np.concatenate([r.isl, chunk.isl]),
                np.concatenate([r.osl, chunk.osl]),
            )
        self._reqs = self._reqs.window(t0, math.inf)  # earlier requests are never asked again
        return self._reqs.window(t0, t1)
