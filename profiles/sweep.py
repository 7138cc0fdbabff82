"""Sample an engine's latencies on Dynamo's profiler grids and assemble a native profile.

Profiles estimated without hardware (`sla_planner.profiles.aiconfigurator`) are built here, but
this module knows nothing of aiconfigurator: any `LatencyEstimator` will do.

The grids are those of Dynamo's profiler, which measured the bundled H200 profile, so an
estimate has its points where a measurement would:

- prefill: ISL = range(100, L - margin, (L - margin - 100) // prefill_granularity). With
  L = max_context_length 16384, granularity 16 and margin 0: 100, 1117, ..., 16372 (17 points).
  Dynamo's newer profiler keeps a 512-token margin for the chat template (prefill_margin=512).
- decode: a request of `isl` prompt tokens generating osl = 500 has mean context isl + osl/2.
  Rows: isl = range(100, L - osl, (L - osl) // decode_granularity), i.e. contexts 350, 2997,
  ..., 13585. On a row, n = range(1, n_max, n_max // decode_granularity) sequences, with
  n_max = max_kv_tokens // (isl + osl) whole requests in the KV cache, and
  kv_usage = n x context / max_kv_tokens (so concurrency = kv_usage x max_kv_tokens / context
  holds exactly, as the planner's curves read it).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.model import EngineProfile
from sla_planner.profiles.native import parse_profile

DEFAULT_MAX_CONTEXT_LENGTH = 16384
DEFAULT_PREFILL_GRANULARITY = 16
DEFAULT_DECODE_GRANULARITY = 6
DEFAULT_DECODE_OSL = 500
DEFAULT_MAX_BATCHED_TOKENS = 8192  # vLLM's default on GPUs with >= 70 GiB (not A100)
DEFAULT_MAX_NUM_SEQS = 1024  # vLLM's default on the same GPUs
_START_ISL = 100


class LatencyEstimator(Protocol):
    """What the sweep asks of an engine model."""

    def prefill_ms(self, isl: int, chunk_tokens: int | None) -> float:
        """TTFT of one `isl`-token prompt on an idle engine, chunked if `chunk_tokens`."""
        ...

    def decode_itl_ms(self, batch: int, isl: int, osl: int) -> float:
        """Mean ITL of `batch` sequences generating `osl` tokens after `isl`-token prompts."""
        ...


def positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProfileError(f"{what} must be a positive integer, got {value!r}")
    return value


def prefill_isl_grid(
    max_context_length: int = DEFAULT_MAX_CONTEXT_LENGTH,
    granularity: int = DEFAULT_PREFILL_GRANULARITY,
    margin: int = 0,
) -> list[int]:
    """Dynamo profiler's prefill ISLs: from 100 up to max_context_length - margin."""
    top = max_context_length - margin
    if top <= _START_ISL:
        raise ProfileError(
            f"max_context_length {max_context_length} (prefill margin {margin}) is too small for "
            f"a prefill sweep; it must exceed {_START_ISL + margin}"
        )
    return list(range(_START_ISL, top, max(1, (top - _START_ISL) // granularity)))


def decode_row_isls(
    max_context_length: int = DEFAULT_MAX_CONTEXT_LENGTH,
    granularity: int = DEFAULT_DECODE_GRANULARITY,
    osl: int = DEFAULT_DECODE_OSL,
) -> list[int]:
    """Dynamo profiler's decode prompt lengths; each row's context is isl + osl / 2."""
    top = max_context_length - osl
    if top <= _START_ISL:
        raise ProfileError(
            f"max_context_length {max_context_length} is too small for a decode sweep with "
            f"decode_osl {osl}; it must exceed {_START_ISL + osl}"
        )
    return list(range(_START_ISL, top, max(1, top // granularity)))


def concurrency_sweep(
    max_concurrency: int, granularity: int = DEFAULT_DECODE_GRANULARITY
) -> list[int]:
    """Dynamo profiler's sequence counts on one decode row: range(1, n_max, n_max // granularity)."""
    if max_concurrency <= 1:
        return [1] if max_concurrency == 1 else []
    return list(range(1, max_concurrency, max(1, max_concurrency // granularity)))


def running_max(points: Sequence[tuple[int, float]]) -> tuple[list[tuple[int, float]], int]:
    """Points sorted by x, y replaced by its running maximum; also how many were raised."""
    out: list[tuple[int, float]] = []
    top, raised = -math.inf, 0
    for x, y in sorted(points):
        raised += int(y < top)
        top = max(top, y)
        out.append((x, top))
    return out, raised


def _increasing_ints(values: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if not out or out[0] < 1 or any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise ProfileError(
            f"isl_grid must be strictly increasing positive token counts, got {list(values)}"
        )
    return out


@dataclass(frozen=True)
class SweepSettings:
    """Where to sample an engine and how it runs; the defaults are Dynamo's profiler's grids
    and vLLM's defaults on a >= 70 GiB GPU. Bad values raise ProfileError (one line)."""

    isl_grid: tuple[int, ...] | None = None  # prefill ISLs; None: Dynamo's grid
    context_rows: tuple[float, ...] | None = None  # decode contexts; None: Dynamo's rows
    kv_usage: tuple[float, ...] | None = None  # KV fractions per row; None: Dynamo's sweep
    max_context_length: int = DEFAULT_MAX_CONTEXT_LENGTH
    prefill_granularity: int = DEFAULT_PREFILL_GRANULARITY
    prefill_margin: int = 0
    decode_granularity: int = DEFAULT_DECODE_GRANULARITY
    decode_osl: int = DEFAULT_DECODE_OSL  # output tokens per decode request
    max_batched_tokens: int = DEFAULT_MAX_BATCHED_TOKENS  # tokens per step: the prefill chunk
    max_num_seqs: int | None = DEFAULT_MAX_NUM_SEQS  # the engine's sequence cap; None: none
    chunked_prefill: bool = True
    monotone: bool = True  # report running maxima: a longer prompt or more load never faster

    def __post_init__(self) -> None:
        for what in ("max_context_length", "prefill_granularity", "decode_granularity"):
            positive_int(getattr(self, what), what)
        positive_int(self.max_batched_tokens, "max_batched_tokens")
        if self.max_num_seqs is not None:
            positive_int(self.max_num_seqs, "max_num_seqs")
        if positive_int(self.decode_osl, "decode_osl") < 2:
            raise ProfileError(f"decode_osl must be >= 2, got {self.decode_osl}")
        if isinstance(self.prefill_margin, bool) or self.prefill_margin < 0:
            raise ProfileError(f"prefill_margin must be >= 0, got {self.prefill_margin!r}")
        if self.isl_grid is not None:
            object.__setattr__(self, "isl_grid", _increasing_ints(self.isl_grid))
        if self.context_rows is not None:
            rows = tuple(float(c) for c in self.context_rows)
            if not rows or not all(math.isfinite(c) for c in rows):
                raise ProfileError(f"context_rows must be finite token counts, got {list(rows)}")
            object.__setattr__(self, "context_rows", rows)
        if self.kv_usage is not None:
            kv = tuple(float(k) for k in self.kv_usage)
            if not kv or any(not 0.0 < k <= 1.0 for k in kv):
                raise ProfileError(f"kv_usage fractions must lie in (0, 1], got {list(kv)}")
            object.__setattr__(self, "kv_usage", kv)
        self.prefill_isls()
        self.decode_rows()  # both raise on grids that cannot be built

    def prefill_isls(self) -> list[int]:
        if self.isl_grid is not None:
            return list(self.isl_grid)
        return prefill_isl_grid(
            self.max_context_length, self.prefill_granularity, self.prefill_margin
        )

    def decode_rows(self) -> list[tuple[int, float]]:
        """(prompt isl, mean context) of each decode row."""
        half = self.decode_osl / 2
        if self.context_rows is None:
            isls = decode_row_isls(
                self.max_context_length, self.decode_granularity, self.decode_osl
            )
            return [(isl, isl + half) for isl in isls]
        rows = []
        for ctx in self.context_rows:
            isl = round(ctx - half)
            if isl < 1:
                raise ProfileError(
                    f"context row {ctx:g} is too short for decode_osl {self.decode_osl}: it must "
                    f"exceed {half + 1:g} tokens"
                )
            rows.append((isl, ctx))
        return rows

    def capped_at(self, context_length: int) -> SweepSettings:
        """The same settings with the default grids stopping at a model's context length."""
        return dataclasses.replace(self, max_context_length=context_length)

    def running(self, sequences: int) -> int:
        """Sequences the engine runs at once: waiting ones hold KV cache but do not decode."""
        return min(sequences, self.max_num_seqs) if self.max_num_seqs else sequences


@dataclass(frozen=True)
class DecodePoint:
    kv_usage: float
    context: float
    itl_ms: float
    running: int  # sequences decoding (capped at max_num_seqs)


@dataclass(frozen=True)
class SweepResult:
    prefill: list[tuple[int, float]]  # (isl, ttft_ms)
    decode: list[DecodePoint]
    raised: int  # points the monotone envelope raised
    skipped_rows: list[float]  # contexts where not one request fits the KV cache


def _decode_row(
    engine: LatencyEstimator, settings: SweepSettings, kv_tokens: int, isl: int, ctx: float
) -> tuple[list[DecodePoint], int]:
    osl = settings.decode_osl
    n_max = kv_tokens // (isl + osl)  # whole requests, at their longest, in the cache
    if settings.kv_usage is None:
        counts = concurrency_sweep(n_max, settings.decode_granularity)
    else:
        wanted = (max(1, round(k * kv_tokens / ctx)) for k in settings.kv_usage)
        counts = sorted({min(n_max, n) for n in wanted}) if n_max >= 1 else []
    row = [(n, engine.decode_itl_ms(settings.running(n), isl, osl)) for n in counts]
    raised = 0
    if settings.monotone:
        row, raised = running_max(row)
    points = [DecodePoint(n * ctx / kv_tokens, ctx, itl, settings.running(n)) for n, itl in row]
    return points, raised


def run_sweep(engine: LatencyEstimator, settings: SweepSettings, max_kv_tokens: int) -> SweepResult:
    """Sample prefill and decode on the settings' grids for a KV cache of max_kv_tokens."""
    chunk = settings.max_batched_tokens if settings.chunked_prefill else None
    prefill = [(isl, engine.prefill_ms(isl, chunk)) for isl in settings.prefill_isls()]
    raised = 0
    if settings.monotone:
        # Estimated tables can dip between nearby prompt lengths; a planner must never read a
        # longer prompt as faster, so keep the running maximum (a conservative envelope).
        prefill, raised = running_max(prefill)
    decode: list[DecodePoint] = []
    skipped: list[float] = []
    for isl, ctx in settings.decode_rows():
        row, lifted = _decode_row(engine, settings, max_kv_tokens, isl, ctx)
        if not row:
            skipped.append(ctx)
        decode += row
        raised += lifted
    if not decode:
        raise ProfileError(
            f"the KV cache ({max_kv_tokens:,} tokens) holds no request at any decode context "
            "row; use shorter context rows or a larger TP"
        )
    if skipped:
        warnings.warn(
            f"decode context rows {skipped} skipped: a request of that context plus "
            f"{settings.decode_osl} output tokens does not fit the KV cache of "
            f"{max_kv_tokens:,} tokens",
            UserWarning,
            stacklevel=2,
        )
    return SweepResult(prefill, decode, raised, skipped)


def _sig(value: float, digits: int = 7) -> float:
    """`value` to `digits` significant figures: a readable file, far below the estimate's error."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) and value else float(value)


def assemble_profile(
    points: SweepResult,
    *,
    name: str,
    gpu: str,
    model: str,
    backend: str,
    gpus_per_replica: int,
    max_batched_tokens: int,
    max_kv_tokens: int,
    source: str,
    license: str,
) -> EngineProfile:
    """A validated EngineProfile from sampled points. Throughputs are derived the way Dynamo's
    profiler derives them: prefill isl / ttft x 1000 / gpus; decode running / itl x 1000 / gpus."""
    ttft = [_sig(t) for _, t in points.prefill]
    itl = [_sig(p.itl_ms) for p in points.decode]
    data = {
        "name": name,
        "gpu": gpu,
        "model": model,
        "backend": backend,
        "gpus_per_replica": gpus_per_replica,
        "max_batched_tokens": max_batched_tokens,
        "prefill": {
            "isl": [float(i) for i, _ in points.prefill],
            "ttft_ms": ttft,
            "throughput_per_gpu": [
                _sig(i / t * 1000.0 / gpus_per_replica)
                for (i, _), t in zip(points.prefill, ttft, strict=True)
            ],
        },
        "decode": {
            "kv_usage": [_sig(p.kv_usage, 10) for p in points.decode],
            "context_length": [float(p.context) for p in points.decode],
            "itl_ms": itl,
            "throughput_per_gpu": [
                _sig(p.running / t * 1000.0 / gpus_per_replica)
                for p, t in zip(points.decode, itl, strict=True)
            ],
            "max_kv_tokens": max_kv_tokens,
        },
        "source": source,
        "license": license,
    }
    return parse_profile(data, f"estimated profile '{name}'")
