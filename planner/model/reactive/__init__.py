"""The fast reactive path: the rule (`.rule`: what the load asks for) and the guard shared by
every path that reacts (`.guard`: what bounds a reaction). Pure: no I/O, no clock."""

from sla_planner.model.config import ReactiveSettings
from sla_planner.model.reactive.guard import Ceilings, ReactiveGuard, Situation, plan_cap
from sla_planner.model.reactive.rule import (
    LoadSnapshot,
    PoolCapacity,
    ReactiveAction,
    Trigger,
    capacity,
    decode_need,
    decode_trigger,
    prefill_need,
    prefill_trigger,
    react,
)

__all__ = [
    "Ceilings",
    "LoadSnapshot",
    "PoolCapacity",
    "ReactiveAction",
    "ReactiveGuard",
    "ReactiveSettings",
    "Situation",
    "Trigger",
    "capacity",
    "decode_need",
    "decode_trigger",
    "plan_cap",
    "prefill_need",
    "prefill_trigger",
    "react",
]
