"""Checks on measured profile data, shared by every loader and by ProfileCurves.

Each check raises ProfileError with one message: where the data came from (a file or a profile
name), the offending key in that source's own spelling (Dynamo's `prefill_ttft` or our
`prefill.ttft_ms`), what is wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.model import EngineProfile


@dataclass(frozen=True)
class KeyNames:
    """How the measured arrays are spelled in one source format."""

    isl: str
    ttft: str
    prefill_thpt: str
    kv_usage: str
    context: str
    itl: str
    decode_thpt: str
    max_kv_tokens: str


NATIVE_KEYS = KeyNames(
    isl="prefill.isl",
    ttft="prefill.ttft_ms",
    prefill_thpt="prefill.throughput_per_gpu",
    kv_usage="decode.kv_usage",
    context="decode.context_length",
    itl="decode.itl_ms",
    decode_thpt="decode.throughput_per_gpu",
    max_kv_tokens="decode.max_kv_tokens",
)

DYNAMO_KEYS = KeyNames(
    isl="prefill_isl",
    ttft="prefill_ttft",
    prefill_thpt="prefill_thpt_per_gpu",
    kv_usage="x_kv_usage",
    context="y_context_length",
    itl="z_itl",
    decode_thpt="z_thpt_per_gpu",
    max_kv_tokens="max_kv_tokens",
)

# A measured throughput may disagree with the one implied by the latencies by noise and by
# engine saturation, but not by a whole factor: that means wrong units or a wrong TP size.
_CONSISTENCY_BOUNDS = (2.0 / 3.0, 1.5)
# A billion tokens of KV cache is ~1 TB even at 1 KB per token (an 8B FP8 model stores ~64 KB),
# past the memory of any GPU group one engine runs on: such a value is a unit or typing error,
# and would let sizing pack millions of sequences into one replica.
MAX_KV_TOKENS = 1_000_000_000


def fail(where: str, key: str, problem: str, fix: str) -> ProfileError:
    return ProfileError(f"{where}: key '{key}' {problem}. Fix: {fix}.")


def as_series(values: object, *, where: str, key: str) -> np.ndarray:
    """A non-empty 1-D array of finite floats, or ProfileError."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise fail(
            where, key, "is not a list of numbers", "write it as a list of numbers"
        ) from None
    if arr.ndim != 1:
        raise fail(where, key, f"has shape {arr.shape}, not a flat list", "write it as a flat list")
    if arr.size == 0:
        raise fail(where, key, "is empty", "the profile needs at least one measured point")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise fail(
            where,
            key,
            f"holds a non-finite value ({arr[i]}) at index {i}",
            "re-measure that point or remove it from every array of that section",
        )
    return arr


def _positive(arr: np.ndarray, *, where: str, key: str, what: str) -> None:
    bad = np.flatnonzero(arr <= 0)
    if bad.size:
        i = int(bad[0])
        raise fail(
            where,
            key,
            f"holds {arr[i]:g} at index {i}; {what} must be > 0",
            "re-measure that point or remove it from every array of that section",
        )


def _same_length(arrays: Mapping[str, np.ndarray], *, where: str) -> None:
    lengths = {key: arr.size for key, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        odd = next(k for k, n in lengths.items() if n != lengths[first])
        listing = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise fail(
            where,
            odd,
            f"has {lengths[odd]} points but '{first}' has {lengths[first]} ({listing})",
            "give every array of a section one value per measured point",
        )


def validate_prefill(
    isl: object, ttft: object, thpt: object, *, where: str, keys: KeyNames = NATIVE_KEYS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a_isl = as_series(isl, where=where, key=keys.isl)
    a_ttft = as_series(ttft, where=where, key=keys.ttft)
    a_thpt = as_series(thpt, where=where, key=keys.prefill_thpt)
    _same_length({keys.isl: a_isl, keys.ttft: a_ttft, keys.prefill_thpt: a_thpt}, where=where)
    _positive(a_isl, where=where, key=keys.isl, what="prompt lengths (tokens)")
    _positive(a_ttft, where=where, key=keys.ttft, what="latencies (ms)")
    _positive(a_thpt, where=where, key=keys.prefill_thpt, what="throughputs (tokens/s/GPU)")
    if a_isl.size < 2:  # one point says nothing of how TTFT grows with the prompt
        raise fail(
            where,
            keys.isl,
            f"has {a_isl.size} measured point ({a_isl[0]:g} tokens); TTFT must be measured "
            "against prompt length",
            "measure prefill at at least two prompt lengths (e.g. 128 up to the longest prompt "
            "served)",
        )
    steps = np.flatnonzero(np.diff(a_isl) <= 0)
    if steps.size:
        i = int(steps[0])
        raise fail(
            where,
            keys.isl,
            f"is not strictly increasing ({a_isl[i]:g} at index {i}, then {a_isl[i + 1]:g})",
            "sort the prefill points by prompt length and drop duplicate lengths",
        )
    # Noise may make TTFT dip between neighbours (the curves smooth it), but the longest prompt
    # must take longer than the shortest: otherwise prefill capacity grows without bound with
    # prompt length and sizing trusts it.
    if a_ttft.size > 1 and not a_ttft[-1] > a_ttft[0]:
        raise fail(
            where,
            keys.ttft,
            f"does not grow with prompt length ({a_ttft[0]:g} ms at {a_isl[0]:g} tokens, "
            f"{a_ttft[-1]:g} ms at {a_isl[-1]:g})",
            f"check that {keys.ttft} and {keys.isl} are paired point by point and re-measure",
        )
    return a_isl, a_ttft, a_thpt


def validate_decode(
    kv_usage: object,
    context: object,
    itl: object,
    thpt: object,
    max_kv_tokens: object,
    *,
    where: str,
    keys: KeyNames = NATIVE_KEYS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    a_kv = as_series(kv_usage, where=where, key=keys.kv_usage)
    a_ctx = as_series(context, where=where, key=keys.context)
    a_itl = as_series(itl, where=where, key=keys.itl)
    a_thpt = as_series(thpt, where=where, key=keys.decode_thpt)
    _same_length(
        {keys.kv_usage: a_kv, keys.context: a_ctx, keys.itl: a_itl, keys.decode_thpt: a_thpt},
        where=where,
    )
    out = np.flatnonzero((a_kv < 0) | (a_kv > 1))
    if out.size:
        i = int(out[0])
        raise fail(
            where,
            keys.kv_usage,
            f"holds {a_kv[i]:g} at index {i}, outside 0..1",
            "give KV usage as a fraction of the KV cache (0.25, not 25)",
        )
    _positive(a_ctx, where=where, key=keys.context, what="context lengths (tokens)")
    _positive(a_itl, where=where, key=keys.itl, what="latencies (ms)")
    _positive(a_thpt, where=where, key=keys.decode_thpt, what="throughputs (tokens/s/GPU)")
    max_kv = check_max_kv_tokens(max_kv_tokens, where=where, key=keys.max_kv_tokens)
    longest = float(a_ctx.max())
    if max_kv < longest:
        raise fail(
            where,
            keys.max_kv_tokens,
            f"is below the longest measured context ({max_kv} < {longest:g} tokens): a replica "
            "could not hold one such sequence",
            _MAX_KV_FIX,
        )
    check_decode_load(a_kv, a_ctx, a_itl, max_kv, where=where, keys=keys)
    return a_kv, a_ctx, a_itl, a_thpt, max_kv


def check_decode_load(
    kv: np.ndarray, ctx: np.ndarray, itl: np.ndarray, max_kv: int, *, where: str, keys: KeyNames
) -> None:
    """Each context row must measure real load: some KV usage, at least one whole sequence in
    flight at its highest load, and an ITL that rises with load. A row without load gives a
    decode capacity of zero sequences (every pool sized to the search cap); a flat ITL says
    batching is free up to the KV limit."""
    for c in np.unique(ctx):
        row = ctx == c
        top = float(kv[row].max())
        if top <= 0:
            raise fail(
                where,
                keys.kv_usage,
                f"holds no load at context {c:g} (every point of that row is 0)",
                "measure each context at increasing load (kv_usage > 0, up to the KV cache)",
            )
        if top * max_kv / c < 1.0:
            raise fail(
                where,
                keys.kv_usage,
                f"at context {c:g} peaks at {top:g}, which with max_kv_tokens {max_kv} never "
                "held one whole sequence",
                "check max_kv_tokens, and that kv_usage is a fraction of the KV cache (0.25, not 25)",
            )
        low, high = itl[row][np.argmin(kv[row])], itl[row][np.argmax(kv[row])]
        if np.unique(kv[row]).size > 1 and not high > low:
            raise fail(
                where,
                keys.itl,
                f"does not rise with load at context {c:g} ({low:g} ms at the lowest KV usage, "
                f"{high:g} ms at the highest)",
                f"check that {keys.itl} and {keys.kv_usage} are paired point by point and "
                "re-measure that row",
            )

    if all(np.unique(kv[ctx == c]).size < 2 for c in np.unique(ctx)):
        # One load per context: no row shows how ITL grows with the batch (it reads as free).
        raise fail(
            where,
            keys.kv_usage,
            "measures one load point at every context, so ITL never rises with load",
            "measure each context at at least two loads (kv_usage from low to near full)",
        )


_MAX_KV_FIX = "set it to the engine's KV cache size in tokens (a positive integer)"


def check_max_kv_tokens(value: object, *, where: str, key: str) -> int:
    arr = np.asarray(value, dtype=object).ravel()
    fix = _MAX_KV_FIX
    if arr.size != 1:
        raise fail(where, key, f"must be one number, got {arr.size} values", fix)
    try:
        number = float(arr[0])
    except (TypeError, ValueError):
        raise fail(where, key, f"is not a number ({arr[0]!r})", fix) from None
    if not np.isfinite(number) or number <= 0 or number != int(number):
        raise fail(where, key, f"is {number:g}", fix)
    if number > MAX_KV_TOKENS:
        raise fail(where, key, f"is {number:g}, beyond any engine's ({MAX_KV_TOKENS:g})", fix)
    return int(number)


def check_throughput_consistency(
    profile_arrays: Sequence[np.ndarray],
    gpus_per_replica: int,
    *,
    prefill_where: str,
    decode_where: str,
    keys: KeyNames,
) -> None:
    """Throughputs must agree with the latencies they were measured with (units, TP size)."""
    isl, ttft, p_thpt, kv, ctx, itl, d_thpt, max_kv = profile_arrays
    implied = isl / ttft * 1000.0 / gpus_per_replica
    ratio = float(np.median(p_thpt / implied))
    lo, hi = _CONSISTENCY_BOUNDS
    if not lo <= ratio <= hi:
        raise fail(
            prefill_where,
            keys.prefill_thpt,
            f"is {ratio:.2f}x the isl / ttft / gpus_per_replica x 1000 it should equal "
            f"(gpus_per_replica={gpus_per_replica})",
            "check gpus_per_replica (the TP size of one engine) and that throughput is tokens/s per GPU",
        )
    loaded = kv > 0
    if not loaded.any():
        return
    # Sequences in flight from KV usage vs from Little's law (tokens/s x s/token).
    nominal = kv[loaded] * max_kv / ctx[loaded]
    little = d_thpt[loaded] * gpus_per_replica * itl[loaded] / 1000.0
    ratio = float(np.median(little / nominal))
    if not lo <= ratio <= hi:
        raise fail(
            decode_where,
            keys.decode_thpt,
            f"implies {ratio:.2f}x the sequences in flight that kv_usage x max_kv_tokens / context gives",
            "check gpus_per_replica, max_kv_tokens and that throughput is output tokens/s per GPU",
        )


def validate_profile(profile: EngineProfile, where: str | None = None) -> None:
    """Reject a profile whose measured points cannot drive the curves."""
    where = where or f"profile '{profile.name}'"
    p, d = profile.prefill, profile.decode
    isl, ttft, p_thpt = validate_prefill(p.isl, p.ttft_ms, p.throughput_per_gpu, where=where)
    kv, ctx, itl, d_thpt, max_kv = validate_decode(
        d.kv_usage, d.context_length, d.itl_ms, d.throughput_per_gpu, d.max_kv_tokens, where=where
    )
    check_throughput_consistency(
        (isl, ttft, p_thpt, kv, ctx, itl, d_thpt, max_kv),
        profile.gpus_per_replica,
        prefill_where=where,
        decode_where=where,
        keys=NATIVE_KEYS,
    )
