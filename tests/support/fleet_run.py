"""A fleet run config for the controller tests: three deployments in three priority classes on
two GPU types (H200 measured, H100 estimated), each variant's pools scaling their own Grove
PodCliqueScalingGroups in the fake API server."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from support.controller_harness import NS
from support.paths import BUNDLED_PROFILE

H100_PROFILE = "aic-h100-llama3.1-8b-fp8-tp1"


def targets(deployment: str, variant: str) -> dict[str, Any]:
    return {
        pool: {"kind": "PodCliqueScalingGroup", "namespace": NS,
               "name": f"{deployment}-{variant}-{pool}"}
        for pool in ("prefill", "decode")
    }  # fmt: skip


def variant(deployment: str, name: str, profile: str) -> dict[str, Any]:
    return {"name": name, "profile": profile, "targets": targets(deployment, name)}


def fleet_dict(
    prometheus_url: str = "http://127.0.0.1:9", h200: int = 6, h100: int = 4
) -> dict[str, Any]:
    def dep(name, priority, variants, **extra):
        return {
            "name": name,
            "priority": priority,
            "slo": {"ttft_ms": 200, "itl_ms": 25, "attainment": 0.99},
            "demand": {"prometheus": {"selector": f'model="{name}"'}},
            "variants": variants,
            **extra,
        }

    return {
        "cluster": {"gpus": {"H200": {"count": h200, "price_per_gpu_hour": 3.5},
                             "H100": {"count": h100, "price_per_gpu_hour": 2.5}}},
        "priority_classes": ["critical", "standard", "batch"],
        "interval_s": 60,
        "startup_s": 120,
        "scale_down_window_s": 180,
        "forecaster": "last",
        "hysteresis": {"min_saving": 0.15, "hold_s": 300, "rescue_hold_s": 120},
        "scale_to_zero": {"idle_window_s": 300},
        "prometheus": {"url": prometheus_url, "preset": "dynamo"},
        "deployments": [
            dep("chat", "critical", [variant("chat", "h200", BUNDLED_PROFILE)]),
            dep("code", "standard", [variant("code", "h200", BUNDLED_PROFILE),
                                     variant("code", "h100", H100_PROFILE)]),
            dep("batch", "batch", [variant("batch", "h200", BUNDLED_PROFILE)],
                prefill={"min_replicas": 0}, decode={"min_replicas": 0}),
        ],
        "loop": {"retry_interval_s": 10, "backfill_intervals": 30},
    }  # fmt: skip


def write_fleet(path: Path, data: dict[str, Any] | None = None, **changes: Any) -> Path:
    d = copy.deepcopy(data if data is not None else fleet_dict())
    d.update(changes)
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def pool_objects(data: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(deployment, variant, pool, object name) of every scaled target in the config."""
    out = []
    for d in data["deployments"]:
        for v in d["variants"]:
            for pool, t in v["targets"].items():
                out.append((d["name"], v["name"], pool, t["name"]))
    return out
