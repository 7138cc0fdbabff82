"""Typed engine profile: measured prefill/decode curves for one engine configuration.

One replica = one engine = one tensor-parallel group of `gpus_per_replica` GPUs.
The raw measured points live here; `profiles.interpolation.ProfileCurves` answers questions.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PrefillData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    isl: list[float]  # prompt length, tokens (strictly increasing)
    ttft_ms: list[float]  # one prompt alone on an idle engine
    throughput_per_gpu: list[float]  # tokens/s/GPU = isl / ttft / gpus * 1000


class DecodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kv_usage: list[float]  # 0..1 fraction of KV cache in use
    context_length: list[float]  # tokens (ISL + OSL/2); points lie on a few rows
    itl_ms: list[float]
    throughput_per_gpu: list[float]  # output tokens/s/GPU
    max_kv_tokens: int = Field(gt=0)


class EngineProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    gpu: str  # e.g. "H200"
    model: str  # e.g. "meta-llama/Llama-3.1-8B-Instruct-FP8"
    backend: str  # e.g. "vllm"
    gpus_per_replica: int = Field(1, ge=1)  # TP group size
    max_batched_tokens: int = Field(8192, ge=1)  # engine's prefill batch cap
    prefill: PrefillData
    decode: DecodeData
    source: str = ""  # provenance
    license: str = ""
