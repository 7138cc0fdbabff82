"""A single deployment's dry run loops for tests: open (decisions from demand alone) and closed
(the discrete-event judge as the plant), through the product's one dry run."""

from __future__ import annotations

from typing import Any

from sla_planner.evaluation.judge import JudgeSettings, plant_for
from sla_planner.model.types import DEFAULT_DEPLOYMENT, DEFAULT_VARIANT
from sla_planner.offline.closed_loop import LoopPlant, reactive_hook
from sla_planner.offline.dryrun import DeploymentRun, run_dry_run

NAME = DEFAULT_DEPLOYMENT


def open_loop(src: Any, policy: Any, start: float, end: float, interval_s: float = 60.0,
              warmup: int = 0, progress: Any = None) -> DeploymentRun:  # fmt: skip
    run = run_dry_run(
        {NAME: src}, policy, start, end, interval_s, warmup={NAME: warmup}, progress=progress
    )
    return run.only


def loop_plant(src, start, end, cfg, profile, curves=None, reactive=False, seed=0) -> LoopPlant:
    """The plant of one deployment (one variant: `profile` for both pools)."""
    settings = JudgeSettings(cfg.slo.ttft_ms, cfg.slo.itl_ms, cfg.startup_s, seed)
    plant = plant_for(src, start, end, {DEFAULT_VARIANT: (profile, profile)}, settings)
    hook = reactive_hook(cfg, lambda _v: (curves, curves)) if reactive else None
    return LoopPlant(plant, cfg, hook)


def closed_loop(src: Any, policy: Any, start: float, end: float, plant: LoopPlant,
                interval_s: float = 60.0, warmup: int = 0) -> DeploymentRun:  # fmt: skip
    run = run_dry_run({NAME: src}, policy, start, end, interval_s, warmup={NAME: warmup},
                      plants={NAME: plant})  # fmt: skip
    return run.only
