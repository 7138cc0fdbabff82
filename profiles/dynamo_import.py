"""Import a Dynamo profiler output directory, unchanged, as an EngineProfile.

The profiler writes `selected_prefill_interpolation/raw_data.npz` and
`selected_decode_interpolation/raw_data.npz`; the same keys in `raw_data.json` are accepted too.
Its output carries no GPU, model or backend name, so those come from the caller.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.model import DecodeData, EngineProfile, PrefillData
from sla_planner.profiles.validation import (
    DYNAMO_KEYS,
    check_throughput_consistency,
    fail,
    validate_decode,
    validate_prefill,
)

PREFILL_DIR = "selected_prefill_interpolation"
DECODE_DIR = "selected_decode_interpolation"
PREFILL_KEYS = (DYNAMO_KEYS.isl, DYNAMO_KEYS.ttft, DYNAMO_KEYS.prefill_thpt)
DECODE_KEYS = (
    DYNAMO_KEYS.kv_usage,
    DYNAMO_KEYS.context,
    DYNAMO_KEYS.itl,
    DYNAMO_KEYS.decode_thpt,
    DYNAMO_KEYS.max_kv_tokens,
)


def is_dynamo_dir(path: Path) -> bool:
    return path.is_dir() and (path / PREFILL_DIR).is_dir() and (path / DECODE_DIR).is_dir()


def _find_data_file(root: Path, sub: str) -> Path:
    for name in ("raw_data.npz", "raw_data.json"):
        candidate = root / sub / name
        if candidate.is_file():
            return candidate
    raise ProfileError(
        f"Dynamo profile {root}: no {sub}/raw_data.npz or {sub}/raw_data.json. Fix: point at "
        "the profiler's output directory (the one holding selected_prefill_interpolation/ and "
        "selected_decode_interpolation/)."
    )


def _read_arrays(path: Path, keys: tuple[str, ...]) -> dict[str, object]:
    where = f"Dynamo profile file {path}"
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                found = {k: np.asarray(data[k]) for k in data.files}
        else:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ProfileError(f"{where}: not a JSON object. Fix: write one object of arrays.")
            found = loaded
    except ProfileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ProfileError(
            f"{where}: cannot be read ({exc}). Fix: re-copy the profiler output."
        ) from None
    missing = [k for k in keys if k not in found]
    if missing:
        raise fail(
            where,
            missing[0],
            f"is missing (keys present: {', '.join(sorted(found)) or 'none'})",
            f"the file needs the keys {', '.join(keys)}",
        )
    return {k: found[k] for k in keys}


def infer_gpus_per_replica(isl: np.ndarray, ttft_ms: np.ndarray, thpt_per_gpu: np.ndarray) -> int:
    """Dynamo writes thpt = isl / ttft / gpus x 1000, so the GPU count can be read back."""
    gpus = float(np.median(isl / ttft_ms * 1000.0 / thpt_per_gpu))
    return max(1, round(gpus))


def import_dynamo_dir(
    path: str | Path,
    *,
    name: str | None = None,
    gpu: str = "unknown",
    model: str = "unknown",
    backend: str = "unknown",
    gpus_per_replica: int | None = None,
    max_batched_tokens: int = 8192,
    source: str | None = None,
    license: str = "",
) -> EngineProfile:
    """Read a Dynamo profiler output directory. `gpus_per_replica=None` infers it from prefill."""
    root = Path(path)
    if not is_dynamo_dir(root):
        raise ProfileError(
            f"Dynamo profile {root}: not a profiler output directory (needs {PREFILL_DIR}/ and "
            f"{DECODE_DIR}/). Fix: pass the directory the Dynamo profiler wrote."
        )
    p_file = _find_data_file(root, PREFILL_DIR)
    d_file = _find_data_file(root, DECODE_DIR)
    p_where, d_where = f"Dynamo profile file {p_file}", f"Dynamo profile file {d_file}"
    p = _read_arrays(p_file, PREFILL_KEYS)
    d = _read_arrays(d_file, DECODE_KEYS)
    isl, ttft, p_thpt = validate_prefill(
        *(p[k] for k in PREFILL_KEYS), where=p_where, keys=DYNAMO_KEYS
    )
    kv, ctx, itl, d_thpt, max_kv = validate_decode(
        *(d[k] for k in DECODE_KEYS), where=d_where, keys=DYNAMO_KEYS
    )
    if gpus_per_replica is None:
        gpus_per_replica = infer_gpus_per_replica(isl, ttft, p_thpt)
    arrays = (isl, ttft, p_thpt, kv, ctx, itl, d_thpt, max_kv)
    check_throughput_consistency(
        arrays, gpus_per_replica, prefill_where=p_where, decode_where=d_where, keys=DYNAMO_KEYS
    )
    return EngineProfile(
        name=name or root.resolve().name,
        gpu=gpu,
        model=model,
        backend=backend,
        gpus_per_replica=gpus_per_replica,
        max_batched_tokens=max_batched_tokens,
        prefill=PrefillData(
            isl=isl.tolist(), ttft_ms=ttft.tolist(), throughput_per_gpu=p_thpt.tolist()
        ),
        decode=DecodeData(
            kv_usage=kv.tolist(),
            context_length=ctx.tolist(),
            itl_ms=itl.tolist(),
            throughput_per_gpu=d_thpt.tolist(),
            max_kv_tokens=max_kv,
        ),
        source=source if source is not None else f"Dynamo profiler output {root.resolve()}",
        license=license,
    )
