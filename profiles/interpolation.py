"""Questions answered from a profile's measured points (interface; owned by the profiles work).

Semantics every caller relies on (sizing, simulator, baselines):
- Everything is PER REPLICA (one engine = one TP group of `gpus_per_replica` GPUs) unless the
  name says per_gpu.
- prefill_ttft_ms(tokens): time to prefill `tokens` prompt tokens on an idle engine, whether one
  prompt or a batch of prompts totalling `tokens` (a batch of T tokens takes about as long as one
  prompt of T tokens). Monotone non-decreasing. Beyond the measured ISL range it extrapolates at
  the edge throughput (TTFT grows linearly), warning once.
- prefill_capacity_tps(isl): tokens/s a saturated replica sustains when prompts average `isl`
  tokens: it runs batches of max(isl, max_batched_tokens) tokens, so capacity =
  batch / prefill_ttft_ms(batch) * 1000.
- decode_itl_ms(concurrency, context): ITL with `concurrency` sequences in flight of mean context
  `context` tokens; kv_usage = concurrency * context / max_kv_tokens. Monotone non-decreasing in
  both arguments (noise in the measurements is smoothed by isotonic fitting).
- decode_max_concurrency(context, itl_ms): the largest per-replica concurrency whose ITL meets
  `itl_ms` without exceeding the measured KV-usage range (never extrapolates load). 0.0 if even a
  single sequence misses the target.
- decode_throughput_tps(concurrency, context) = concurrency / decode_itl_ms * 1000 (output tok/s).
- Array inputs are accepted where noted and broadcast elementwise.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

from sla_planner.profiles.errors import ProfileRangeWarning
from sla_planner.profiles.model import EngineProfile
from sla_planner.profiles.validation import validate_profile

# How the measured points become these curves (why, briefly):
# - Prefill: TTFT is isotonic-smoothed against ISL, then linear between points.
# - Decode: each context row's points are placed on a concurrency axis (sequences running),
#   taken as min(kv_usage x max_kv_tokens / context, throughput x ITL) -- Little's law. The
#   two agree within ~3% on the real H200 data except where the engine hit its sequence cap
#   (vLLM's max_num_seqs): there it ran fewer sequences than the KV usage offered, and only the
#   measured throughput says how many. ITL is isotonic-smoothed along each row, tabulated on
#   the union of every row's concurrencies, and made non-decreasing across rows (cumulative max
#   by context) so ITL never falls as context grows at equal concurrency. Between rows it is
#   linear in context at equal concurrency (interpolating at equal KV usage would mix very
#   different batch sizes: at 10% KV a 350-token row runs ~260 sequences, a 3k row ~30).

Number = float | np.ndarray

# Tolerance so that asking at exactly a measured edge never counts as an excursion.
_EDGE = 1e-9


def _default_warn(message: str) -> None:
    import warnings

    warnings.warn(message, ProfileRangeWarning, stacklevel=4)


def _isotonic(values: np.ndarray) -> np.ndarray:
    return np.asarray(isotonic_regression(values, increasing=True).x, dtype=float)


def _out(values: np.ndarray, scalar: bool) -> Number:
    return float(values.reshape(-1)[0]) if scalar else values


@dataclass(frozen=True)
class _PrefillTable:
    isl: np.ndarray  # strictly increasing
    ttft_ms: np.ndarray  # isotonic fit, non-decreasing
    edge_tps: float  # tokens/s at the longest measured prompt

    @classmethod
    def fit(cls, profile: EngineProfile) -> _PrefillTable:
        isl = np.asarray(profile.prefill.isl, dtype=float)
        ttft = _isotonic(np.asarray(profile.prefill.ttft_ms, dtype=float))
        return cls(isl=isl, ttft_ms=ttft, edge_tps=float(isl[-1] / ttft[-1] * 1000.0))


@dataclass(frozen=True)
class _DecodeTable:
    contexts: list[float]  # one per measured row, increasing
    grid: np.ndarray  # concurrency axis shared by all rows, increasing
    itl: np.ndarray  # (rows, grid): non-decreasing along both axes
    kv_limit: np.ndarray  # per row: highest measured KV usage (fraction)
    max_kv_tokens: int

    @classmethod
    def fit(cls, profile: EngineProfile) -> _DecodeTable:
        d = profile.decode
        kv = np.asarray(d.kv_usage, dtype=float)
        ctx = np.asarray(d.context_length, dtype=float)
        itl = np.asarray(d.itl_ms, dtype=float)
        thpt = np.asarray(d.throughput_per_gpu, dtype=float) * profile.gpus_per_replica
        nominal = kv * d.max_kv_tokens / ctx
        little = thpt * itl / 1000.0
        running = np.minimum(nominal, little)

        contexts = np.unique(ctx)
        rows: list[tuple[np.ndarray, np.ndarray]] = []
        kv_limit = np.empty(contexts.size)
        for r, c in enumerate(contexts):
            on_row = ctx == c
            order = np.argsort(running[on_row], kind="stable")
            n = running[on_row][order]
            rows.append((n, _isotonic(itl[on_row][order])))
            kv_limit[r] = n[-1] * c / d.max_kv_tokens
        grid = np.unique(np.concatenate([n for n, _ in rows]))
        # Beyond a row's measured load np.interp holds its edge value; the cumulative max then
        # lifts it to what shorter contexts measured at that load (a lower bound on the truth).
        table = np.vstack([np.interp(grid, n, fit) for n, fit in rows])
        table = np.maximum.accumulate(table, axis=0)
        return cls(
            contexts=[float(c) for c in contexts],
            grid=grid,
            itl=table,
            kv_limit=kv_limit,
            max_kv_tokens=int(d.max_kv_tokens),
        )

    def row(self, context: float) -> np.ndarray:
        """ITL on the grid at one context (clamped to the measured rows)."""
        c = self.contexts
        if context <= c[0]:
            return self.itl[0]
        if context >= c[-1]:
            return self.itl[-1]
        b = bisect_right(c, context)
        w = (context - c[b - 1]) / (c[b] - c[b - 1])
        return self.itl[b - 1] + w * (self.itl[b] - self.itl[b - 1])

    def load_limit(self, context: np.ndarray) -> np.ndarray:
        """Highest measured concurrency: the rows' KV-usage limit, linear in context."""
        kv = np.interp(context, self.contexts, self.kv_limit)
        return kv * self.max_kv_tokens / np.maximum(context, self.contexts[0])


class ProfileCurves:
    def __init__(self, profile: EngineProfile, warn: Callable[[str], None] | None = None) -> None:
        self.profile = profile
        self.gpus_per_replica = profile.gpus_per_replica
        validate_profile(profile)
        self._warn = warn if warn is not None else _default_warn
        self._warned: set[str] = set()
        self._prefill = _PrefillTable.fit(profile)
        self._decode = _DecodeTable.fit(profile)

    # -- ranges --------------------------------------------------------------------------
    @property
    def prefill_isl_range(self) -> tuple[float, float]:
        return float(self._prefill.isl[0]), float(self._prefill.isl[-1])

    @property
    def decode_context_range(self) -> tuple[float, float]:
        return self._decode.contexts[0], self._decode.contexts[-1]

    def _warn_once(self, kind: str, message: str) -> None:
        # Once per kind per curves object: sizing loops ask thousands of times.
        if kind not in self._warned:
            self._warned.add(kind)
            self._warn(f"profile '{self.profile.name}': {message}")

    # -- prefill -------------------------------------------------------------------------
    def prefill_ttft_ms(self, tokens: float | np.ndarray) -> float | np.ndarray:
        p = self._prefill
        t = np.asarray(tokens, dtype=float)
        ttft = np.interp(t, p.isl, p.ttft_ms)
        above = t > p.isl[-1] * (1 + _EDGE)
        if above.any():
            ttft = np.where(above, t / p.edge_tps * 1000.0, ttft)
            self._warn_once(
                "prefill_above",
                f"prefill of {float(t.max()):.0f} tokens is beyond the longest measured prompt "
                f"({p.isl[-1]:.0f} tokens); TTFT extrapolated linearly at the edge throughput "
                f"({p.edge_tps:.0f} tokens/s per replica). Profile longer prompts to be exact.",
            )
        # Below the shortest measured prompt TTFT is clamped to that prompt's: conservative (a
        # shorter prompt is no slower), so nothing for a user to act on and no warning.
        return _out(ttft, t.ndim == 0)

    def prefill_capacity_tps(self, isl: float) -> float:
        # A saturated engine fills each step up to max_batched_tokens with queued prompts.
        batch = max(float(isl), float(self.profile.max_batched_tokens))
        return batch / float(self.prefill_ttft_ms(batch)) * 1000.0

    # -- decode --------------------------------------------------------------------------
    def _check_context(self, context: np.ndarray) -> None:
        # Below the shortest measured context ITL is read there: conservative (a shorter
        # context is no slower), so no warning; beyond the longest it is optimistic.
        hi = self.decode_context_range[1]
        if (context > hi * (1 + _EDGE)).any():
            self._warn_once(
                "context_above",
                f"decode context {float(context.max()):.0f} tokens is beyond the longest measured "
                f"({hi:.0f}); ITL read at {hi:.0f} tokens (optimistic). Profile longer contexts.",
            )

    def decode_load_limit(self, context: float | np.ndarray) -> float | np.ndarray:
        """Highest concurrency per replica inside the measured KV-usage range at `context`."""
        c = np.asarray(context, dtype=float)
        return _out(self._decode.load_limit(c), c.ndim == 0)

    def decode_itl_ms(
        self, concurrency: float | np.ndarray, context: float | np.ndarray
    ) -> float | np.ndarray:
        dec = self._decode
        n_in = np.asarray(concurrency, dtype=float)
        c_in = np.asarray(context, dtype=float)
        n, c = np.broadcast_arrays(n_in, c_in)
        self._check_context(c)
        if (n > dec.load_limit(c) * (1 + _EDGE)).any():
            i = int(np.argmax(n / dec.load_limit(c)))
            self._warn_once(
                "load_above",
                f"decode concurrency {float(n.flat[i]):.1f} at context {float(c.flat[i]):.0f} "
                f"exceeds the measured load ({float(dec.load_limit(c.flat[i])):.1f} sequences); "
                "ITL clamped to the highest measured (optimistic). Cap load at "
                "decode_max_concurrency().",
            )
        if c_in.ndim == 0:
            itl = np.interp(n, dec.grid, dec.row(float(c_in)))
        else:
            itl = self._itl_many(n.ravel(), c.ravel()).reshape(n.shape)
        return _out(itl, n.ndim == 0)

    def _itl_many(self, n: np.ndarray, c: np.ndarray) -> np.ndarray:
        dec = self._decode
        ctx = np.asarray(dec.contexts)
        per_row = np.vstack([np.interp(n, dec.grid, row) for row in dec.itl])
        cc = np.clip(c, ctx[0], ctx[-1])
        b = np.clip(np.searchsorted(ctx, cc, side="right"), 1, ctx.size - 1)
        if ctx.size == 1:
            return per_row[0]
        a = b - 1
        w = np.clip((cc - ctx[a]) / (ctx[b] - ctx[a]), 0.0, 1.0)
        cols = np.arange(n.size)
        return per_row[a, cols] + w * (per_row[b, cols] - per_row[a, cols])

    def decode_max_concurrency(self, context: float, itl_ms: float) -> float:
        dec = self._decode
        context = float(context)
        self._check_context(np.asarray(context))
        row = dec.row(context)
        if np.interp(1.0, dec.grid, row) > itl_ms:
            return 0.0
        # Last grid point meeting the target; ITL is piecewise linear, so invert the next segment.
        j = int(np.searchsorted(row, itl_ms, side="right")) - 1
        if j >= row.size - 1:
            best = float(dec.grid[-1])
        else:
            lo, hi = float(row[j]), float(row[j + 1])
            frac = (itl_ms - lo) / (hi - lo) if hi > lo else 0.0
            best = float(dec.grid[j] + frac * (dec.grid[j + 1] - dec.grid[j]))
        return min(best, float(dec.load_limit(np.asarray(context))))

    def decode_throughput_tps(
        self, concurrency: float | np.ndarray, context: float | np.ndarray
    ) -> float | np.ndarray:
        n = np.asarray(concurrency, dtype=float)
        itl = np.asarray(self.decode_itl_ms(concurrency, context), dtype=float)
        tps = n / itl * 1000.0
        return _out(tps, tps.ndim == 0)

    def decode_max_throughput_tps(self, context: float, itl_ms: float) -> float:
        """Output tokens/s of one replica at the most load that still meets `itl_ms`."""
        n = self.decode_max_concurrency(context, itl_ms)
        return float(self.decode_throughput_tps(n, context)) if n > 0 else 0.0
