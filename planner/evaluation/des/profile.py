"""Engine profile -> plain numpy tables for the replay kernels.

This is the only module that knows the profile's shape. It accepts a dict with the native
profile's keys, or any object with the attributes of the project's ``EngineProfile`` (``prefill.isl``, ``prefill.ttft_ms``,
``decode.kv_usage``, ``decode.context_length``, ``decode.itl_ms``, ``decode.max_kv_tokens``,
``max_batched_tokens``, ``gpus_per_replica``). It does not import the project's interpolation.

Table semantics (the interpolation itself lives in ``timing.py``):
- Prefill: measured (ISL, TTFT) points, TTFT made non-decreasing by a cumulative max.
- Decode: the points lie on rows of equal context length. Each row keeps its (kv_usage, ITL)
  points sorted by kv_usage with ITL made non-decreasing along kv_usage (cumulative max: the
  measurements are noisy), plus a slope for extrapolating beyond the row's last point.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EngineTables:
    """Numeric view of one engine profile (per replica)."""

    name: str
    gpus_per_replica: int
    max_batched_tokens: int
    max_kv_tokens: int
    pf_isl: np.ndarray  # (m,) float64, strictly increasing prompt lengths
    pf_ttft_ms: np.ndarray  # (m,) float64, non-decreasing
    row_ctx: np.ndarray  # (r,) float64, ascending context of each decode row
    row_kv: np.ndarray  # (r, k) float64 kv_usage points (row padded with its last value)
    row_itl: np.ndarray  # (r, k) float64 ITL ms, non-decreasing along the row
    row_n: np.ndarray  # (r,) int64 number of real points per row
    row_slope: np.ndarray  # (r,) float64 ms per unit kv_usage beyond the last point

    @property
    def itl_tab(self) -> np.ndarray:
        """Decode rows packed into one flat float64 array for timing.itl_ms (layout there).

        Why flat: numba reference-counts arrays taken out of tuples on every call; one array
        argument made the decode step ~5x faster."""
        r, k = self.row_kv.shape
        return np.concatenate(
            (
                [r, k],
                self.row_ctx,
                self.row_n.astype(np.float64),
                self.row_slope,
                self.row_kv.ravel(),
                self.row_itl.ravel(),
            )
        )


def _namespace(obj: Any) -> Any:
    """Dicts (from YAML) become attribute objects so both inputs read the same way."""
    if isinstance(obj, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in obj.items()})
    return obj


def _prefill_points(prefill: Any) -> tuple[np.ndarray, np.ndarray]:
    isl = np.asarray(prefill.isl, dtype=np.float64)
    ttft = np.asarray(prefill.ttft_ms, dtype=np.float64)
    order = np.argsort(isl, kind="stable")
    isl, ttft = isl[order], ttft[order]
    if isl.size < 2 or np.any(np.diff(isl) <= 0):
        raise ValueError("profile prefill.isl needs >= 2 distinct points")
    return isl, np.maximum.accumulate(ttft)  # why: batch time must not fall as tokens grow


def _decode_rows(decode: Any) -> tuple[np.ndarray, ...]:
    kv = np.asarray(decode.kv_usage, dtype=np.float64)
    ctx = np.asarray(decode.context_length, dtype=np.float64)
    itl = np.asarray(decode.itl_ms, dtype=np.float64)
    rows = np.unique(ctx)
    width = max(int(np.sum(ctx == c)) for c in rows)
    row_kv = np.zeros((rows.size, width))
    row_itl = np.zeros((rows.size, width))
    row_n = np.zeros(rows.size, dtype=np.int64)
    row_slope = np.zeros(rows.size)
    for i, c in enumerate(rows):
        sel = ctx == c
        order = np.argsort(kv[sel], kind="stable")
        x, y = kv[sel][order], np.maximum.accumulate(itl[sel][order])
        n = x.size
        row_n[i] = n
        row_kv[i, :n], row_kv[i, n:] = x, x[-1]
        row_itl[i, :n], row_itl[i, n:] = y, y[-1]
        if n >= 2 and x[-1] > x[0]:
            # why: the cumulative max can flatten the last segment; never extrapolate flatter
            # than the row's overall trend (first to last point).
            edge = (y[-1] - y[-2]) / max(x[-1] - x[-2], 1e-12)
            chord = (y[-1] - y[0]) / (x[-1] - x[0])
            row_slope[i] = max(edge, chord, 0.0)
    return rows, row_kv, row_itl, row_n, row_slope


def load_profile(source: dict | Any) -> EngineTables:
    """Build tables from a dict or an EngineProfile-like object (the project loads files)."""
    if isinstance(source, EngineTables):
        return source
    prof = _namespace(source)
    pf_isl, pf_ttft = _prefill_points(prof.prefill)
    rows, row_kv, row_itl, row_n, row_slope = _decode_rows(prof.decode)
    return EngineTables(
        name=str(getattr(prof, "name", "profile")),
        gpus_per_replica=int(getattr(prof, "gpus_per_replica", 1)),
        max_batched_tokens=int(getattr(prof, "max_batched_tokens", 8192)),
        max_kv_tokens=int(prof.decode.max_kv_tokens),
        pf_isl=pf_isl,
        pf_ttft_ms=pf_ttft,
        row_ctx=rows,
        row_kv=row_kv,
        row_itl=row_itl,
        row_n=row_n,
        row_slope=row_slope,
    )
