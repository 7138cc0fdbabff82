"""NVIDIA's aiconfigurator as an engine model: TTFT, ITL and KV capacity with no GPU.

The only module that imports `aiconfigurator_core` (the optional extra), and only inside
functions: importing it is free, and without the package every entry point raises
AiconfiguratorNotInstalled, one line naming `pip install 'sla-planner[aiconfigurator]'`.
`sla_planner.profiles.generate` turns an AicEstimator into a profile. The calls (0.12):

- names: `sdk.perf_database.get_supported_databases()` / `get_version_slots()` (slots current,
  previous, next); models are the HuggingFace ids whose config.json ships in the package.
- engine: `sdk.engine.EngineHandle.compile(model, system, backend, backend_version, tp_size,
  gemm/kvcache/fmha/moe quant modes)` binds the model's ops to the per-GPU timing tables.
- TTFT(isl): `predict_prefill_latency(1, end, prefix=start)` summed over the chunks of
  max_batched_tokens that chunked prefill splits a prompt into (one prompt, idle engine).
- ITL(n, context): `predict_decode_latency(n, isl, osl) / (osl - 1)`, the mean step of n
  sequences over osl tokens from prompt isl (mean context isl + osl/2): Dynamo's `static_gen` tpot.
- KV capacity: `sdk.memory.estimate_kv_cache(...)`: (fraction x GPU memory - weights -
  activations - runtime reserve - NCCL) / KV bytes per token per GPU.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from typing import Any

from sla_planner.profiles.errors import AiconfiguratorNotInstalled, ProfileError
from sla_planner.profiles.sweep import positive_int

INSTALL_HINT = "pip install 'sla-planner[aiconfigurator]'"
# aiconfigurator <= 0.4 named models by short keys; 0.12 takes HuggingFace ids.
LEGACY_ALIASES = {
    "LLAMA3.1_8B": "meta-llama/Meta-Llama-3.1-8B",
    "LLAMA3.1_70B": "meta-llama/Meta-Llama-3.1-70B",
    "LLAMA3.1_405B": "meta-llama/Meta-Llama-3.1-405B",
    "DEEPSEEK_V3": "deepseek-ai/DeepSeek-V3",
    "QWEN3_0.6B": "Qwen/Qwen3-0.6B",
    "QWEN3_1.7B": "Qwen/Qwen3-1.7B",
    "QWEN3_8B": "Qwen/Qwen3-8B",
    "QWEN3_32B": "Qwen/Qwen3-32B",
    "QWEN3_30B_A3B": "Qwen/Qwen3-30B-A3B",
    "QWEN3_235B": "Qwen/Qwen3-235B-A22B",
    "QWEN3_480B": "Qwen/Qwen3-Coder-480B-A35B-Instruct",
    "GPT_OSS_120B": "openai/gpt-oss-120b",
    "GPT_OSS_20B": "openai/gpt-oss-20b",
    "NEMOTRON_SUPER_V1.1": "nvidia/Llama-3_3-Nemotron-Super-49B-v1",
}
# --quant presets -> aiconfigurator mode names; a mode left out comes from the checkpoint.
QUANT_PRESETS: dict[str, dict[str, str]] = {
    "auto": {},
    "bf16": {"gemm": "bfloat16", "kvcache": "bfloat16", "fmha": "bfloat16", "moe": "bfloat16"},
    # vLLM --quantization fp8 or an FP8 checkpoint with --kv-cache-dtype auto (16-bit KV cache)
    "fp8": {"gemm": "fp8", "moe": "fp8"},
    "fp8-kv": {"gemm": "fp8", "moe": "fp8", "kvcache": "fp8"},  # twice the KV tokens
    "nvfp4": {"gemm": "nvfp4", "moe": "nvfp4"},  # Blackwell
}
_QUANT_KINDS = ("gemm", "kvcache", "fmha", "moe")
_FRACTION_KIND = {"vllm": "of_total", "sglang": "of_total", "trtllm": "of_free"}


def _one_line(text: object) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[0] if lines else type(text).__name__


def _require() -> None:
    try:
        import aiconfigurator_core.sdk.engine  # noqa: F401
        import aiconfigurator_core.sdk.memory  # noqa: F401
        import aiconfigurator_core.sdk.perf_database  # noqa: F401
    except ImportError as exc:
        missing = getattr(exc, "name", None) or _one_line(exc)
        what = (
            "aiconfigurator-core is not installed"
            if str(missing).startswith("aiconfigurator_core")
            else f"aiconfigurator-core cannot be imported (missing {missing})"
        )
        raise AiconfiguratorNotInstalled(
            f"{what}; profiles without hardware need the optional extra: {INSTALL_HINT}"
        ) from None


def aiconfigurator_version() -> str:
    _require()
    return metadata.version("aiconfigurator-core")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """aiconfigurator logs every fallback table it loads at WARNING; keep output to our lines."""
    logger = logging.getLogger("aiconfigurator_core")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


@cache
def shipped_models() -> tuple[str, ...]:
    """Models whose config.json ships with aiconfigurator (no database scan: cheap)."""
    _require()
    from aiconfigurator_core.sdk import common

    folder = resources.files("aiconfigurator_core") / "model_configs"
    shipped = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    found = (m for m in common.DefaultHFModels if f"{m.replace('/', '--')}_config.json" in shipped)
    return tuple(sorted(found, key=str.lower))


def model_aliases() -> dict[str, str]:
    return {a: m for a, m in LEGACY_ALIASES.items() if m in shipped_models()}


def _slots_of(perf_database: Any, system: str, backend: str) -> dict[str, str] | None:
    try:
        with _quiet():
            slots = perf_database.get_version_slots(system, backend)
    except Exception:  # aiconfigurator raises bare errors for unknown or malformed entries
        return None
    return {k: str(v) for k, v in slots.items() if v} if slots else None


Databases = dict[str, dict[str, dict[str, str]]]  # system -> backend -> slot -> version


def databases() -> Databases:
    """Every system, backend and version slot (scans all databases: ~1.5 s, then cached)."""
    _require()  # before the cache: a package removed since still gives the one-line error
    return _databases()


@cache
def _databases() -> Databases:
    from aiconfigurator_core.sdk import perf_database

    with _quiet():
        supported = perf_database.get_supported_databases()
    found: Databases = {}
    for system, backends in supported.items():
        for backend, versions in backends.items():
            if versions:
                slots = _slots_of(perf_database, system, backend)
                latest = {"current": str(sorted(versions)[-1])}
                found.setdefault(system, {})[backend] = slots or latest
    return found


@cache
def quant_mode_names() -> dict[str, list[str]]:
    _require()
    from aiconfigurator_core.sdk import common

    enums = (common.GEMMQuantMode, common.KVCacheQuantMode, common.FMHAQuantMode)
    modes = (*enums, common.MoEQuantMode)
    return {k: list(e.__members__) for k, e in zip(_QUANT_KINDS, modes, strict=True)}


def _close(name: str, choices: Sequence[str]) -> str:
    lowered = {c.lower(): c for c in choices}
    near = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[near[0]]}?)" if near else ""


def _unknown_system(name: str) -> ProfileError:
    from aiconfigurator_core.sdk import perf_database

    systems = sorted(databases())
    known = {
        f.removesuffix(".yaml")
        for root in perf_database.get_systems_paths()
        if os.path.isdir(root)
        for f in os.listdir(root)
    }
    problem = "has no performance data" if name.lower() in known else "is unknown"
    return ProfileError(
        f"system '{name}' {problem}{_close(name, systems)}; valid: {', '.join(systems)}"
    )


def resolve_database(system: str, backend: str, requested: str | None) -> tuple[str, str, str]:
    """(system, backend, literal version); the full catalogue is built only to explain errors."""
    _require()
    from aiconfigurator_core.sdk import perf_database

    system, backend, req = system.lower(), backend.lower(), requested or "current"
    slots = _slots_of(perf_database, system, backend)
    if slots is None:
        known = databases()
        if system not in known:
            raise _unknown_system(system)
        if backend not in known[system]:
            valid = ", ".join(sorted(known[system]))
            raise ProfileError(f"unknown backend '{backend}' for system {system}; valid: {valid}")
        slots = known[system][backend]
    if req in slots:
        return system, backend, slots[req]
    if req in slots.values():
        return system, backend, req
    valid = ", ".join(f"{slot} ({ver})" for slot, ver in slots.items())
    raise ProfileError(f"unknown {backend} version '{req}' for system {system}; valid: {valid}")


def resolve_model(name: str) -> str:
    """A HuggingFace id (any case), legacy alias, repository basename or local config folder.
    Unknown ids are refused here: aiconfigurator would try to download them."""
    if os.path.isdir(name):
        if os.path.isfile(os.path.join(name, "config.json")):
            return name
        raise ProfileError(f"model folder {name} holds no config.json; give a HuggingFace folder")
    models, aliases = shipped_models(), model_aliases()
    by_lower = {m.lower(): m for m in models} | {a.lower(): m for a, m in aliases.items()}
    by_lower |= {m.split("/")[-1].lower(): m for m in models if "/" in m}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    choices = [*aliases, *models]
    raise ProfileError(
        f"unknown model '{name}'{_close(name, choices)}; valid: {', '.join(choices)}, "
        "or a local folder holding a HuggingFace config.json"
    )


def resolve_quant(
    preset: str | None, overrides: dict[str, str | None], is_moe: bool
) -> dict[str, str | None]:
    """aiconfigurator quant-mode names: the preset, then explicit overrides (None: checkpoint)."""
    key = (preset or "auto").lower()
    if key not in QUANT_PRESETS:
        raise ProfileError(f"unknown quant preset '{preset}'; valid: {', '.join(QUANT_PRESETS)}")
    modes: dict[str, str | None] = dict.fromkeys(_QUANT_KINDS)
    modes.update(QUANT_PRESETS[key])
    modes["moe"] = modes["moe"] if is_moe else None
    names = quant_mode_names()
    for kind, value in overrides.items():
        if value is not None and value not in names[kind]:
            raise ProfileError(
                f"unknown {kind} quant mode '{value}'; valid: {', '.join(names[kind])}"
            )
        modes[kind] = value if value is not None else modes[kind]
    return modes


def default_gpu_label(system: str) -> str:
    """h200_sxm -> H200, gb200 -> GB200, rtx_pro_6000_server -> RTX_PRO_6000."""
    return re.sub(r"_(sxm|pcie|server)$", "", system).upper()


@dataclass(frozen=True)
class KvCapacity:
    """An estimated KV cache: the tokens it holds and the memory arithmetic behind them."""

    max_kv_tokens: int
    bytes_per_token: int  # per GPU: each TP rank holds its heads of every token
    gpu_memory_bytes: int
    fraction: float  # of the GPU memory the engine may use
    fraction_kind: str  # "of_total" (vLLM, SGLang) | "of_free" (TRT-LLM: after weights etc.)
    breakdown_bytes: dict[str, int]  # weights, activations, runtime and NCCL reserves


class AicEstimator:
    """One engine configuration compiled by aiconfigurator: TTFT, ITL and KV capacity."""

    def __init__(
        self,
        system: str,
        model: str,
        backend: str = "vllm",
        tp: int = 1,
        *,
        quant: str | None = None,
        gemm_quant: str | None = None,
        kvcache_quant: str | None = None,
        fmha_quant: str | None = None,
        moe_quant: str | None = None,
        moe_ep: int = 1,
        backend_version: str | None = None,
    ) -> None:
        _require()
        if positive_int(tp, "tp") % positive_int(moe_ep, "moe_ep"):
            raise ProfileError(f"moe_ep must be a positive divisor of tp {tp}, got {moe_ep!r}")
        self.system, self.backend, self.version = resolve_database(system, backend, backend_version)
        self.model, self.tp = resolve_model(model), tp
        from aiconfigurator_core.sdk.models import check_is_moe

        try:
            with _quiet():
                self.is_moe = bool(check_is_moe(self.model))
        except Exception as exc:
            raise ProfileError(f"model {self.model} cannot be read: {_one_line(exc)}") from None
        asked = (gemm_quant, kvcache_quant, fmha_quant, moe_quant)
        overrides = dict(zip(_QUANT_KINDS, asked, strict=True))
        quant_modes = resolve_quant(quant, overrides, self.is_moe)
        self._config = {
            "tp_size": tp,
            "moe_tp_size": tp // moe_ep if self.is_moe else None,
            "moe_ep_size": moe_ep if self.is_moe else None,
        } | {f"{k}_quant_mode": v for k, v in quant_modes.items()}
        asked = ", ".join(f"{k} {v}" for k, v in quant_modes.items() if v) or "checkpoint's"
        where = f"system {self.system}, backend {self.backend} {self.version}, model {self.model}"
        try:
            with _quiet():
                self._compile()
        except Exception as exc:
            raise ProfileError(
                f"unsupported combination ({where}, tp {tp}, quant {asked}): {_one_line(exc)}"
            ) from None
        self.support_warning = self._support_warning()

    def _compile(self) -> None:
        from aiconfigurator_core.sdk.config_builders import build_model_config
        from aiconfigurator_core.sdk.engine import EngineHandle
        from aiconfigurator_core.sdk.models import get_model
        from aiconfigurator_core.sdk.utils import get_model_config_from_model_path

        c = self._config
        built = build_model_config(
            tp_size=self.tp,
            pp_size=1,
            attention_dp_size=1,
            moe_tp_size=c["moe_tp_size"] or 1,
            moe_ep_size=c["moe_ep_size"] or 1,
            **{f"{k}_quant_mode": c[f"{k}_quant_mode"] for k in _QUANT_KINDS},
        )
        cfg = get_model(self.model, built, self.backend).config  # quant modes as resolved
        kinds = _QUANT_KINDS if self.is_moe else _QUANT_KINDS[:3]
        self.resolved_quant = {k: getattr(cfg, f"{k}_quant_mode").name for k in kinds}
        context = get_model_config_from_model_path(self.model).get("context")
        self.max_context = int(context) if context else None
        self._handle = EngineHandle.compile(
            self.model, self.system, self.backend, backend_version=self.version, **c
        )
        # Probe once, so a missing table fails here with the combination named.
        self._handle.predict_prefill_latency(1, 128)
        self._handle.predict_decode_latency(1, 128, 2)

    def _support_warning(self) -> str | None:
        """aiconfigurator's own support matrix: is this combination tested for disagg?"""
        from aiconfigurator_core.sdk import common

        try:
            with _quiet():
                result = common.check_support(self.model, self.system, self.backend, self.version)
        except Exception:  # the matrix is advisory; no verdict is no warning
            return None
        if result.disagg_supported:
            return None
        return (
            f"aiconfigurator's support matrix does not list {self.model} on {self.system} / "
            f"{self.backend} {self.version} as passing (disagg); treat the estimate with care"
        )

    def prefill_ms(self, isl: int, chunk_tokens: int | None = None) -> float:
        """TTFT of one `isl`-token prompt on an idle engine, chunked by `chunk_tokens` if given."""
        step = chunk_tokens or isl
        with _quiet():
            return sum(
                float(self._handle.predict_prefill_latency(1, min(isl, s + step), s))
                for s in range(0, isl, step)
            )

    def decode_itl_ms(self, batch: int, isl: int, osl: int) -> float:
        """Mean ITL of `batch` sequences decoding `osl` tokens after `isl`-token prompts."""
        with _quiet():
            return float(self._handle.predict_decode_latency(batch, isl, osl)) / (osl - 1)

    def kv_capacity(
        self, max_batched_tokens: int, max_num_seqs: int, gpu_memory_utilization: float | None
    ) -> KvCapacity:
        from aiconfigurator_core.sdk.backends.factory import get_backend
        from aiconfigurator_core.sdk.memory import estimate_kv_cache

        kind = _FRACTION_KIND.get(self.backend, "of_total")
        fraction = gpu_memory_utilization
        if fraction is None:
            fraction = get_backend(self.backend).get_default_free_gpu_memory_fraction(self.version)
        if fraction is None or not 0.0 < float(fraction) <= 1.0:
            raise ProfileError(f"gpu_memory_utilization must be in (0, 1], got {fraction!r}")
        try:
            with _quiet():
                est = estimate_kv_cache(
                    self.model, self.system, self.backend, self.version,
                    max_num_tokens=max_batched_tokens, max_batch_size=max_num_seqs,
                    memory_fraction_kind=kind, memory_fraction_value=float(fraction),
                    **self._config,
                )  # fmt: skip
        except Exception as exc:
            fit = (
                "; the model does not fit: use a larger --tp" if "no KV budget" in str(exc) else ""
            )
            raise ProfileError(
                f"no KV cache estimate for {self.model} on {self.system} / {self.backend} tp "
                f"{self.tp}: {_one_line(exc)}{fit}"
            ) from None
        return KvCapacity(
            int(est["total_kv_size_tokens"]),
            int(est["kv_size_per_token_bytes"]),
            int(est["total_gpu_capacity_bytes"]),
            float(fraction),
            kind,
            dict(est.get("memory_breakdown") or {}),
        )
