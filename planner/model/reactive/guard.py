"""The reactive path's guard: what bounds a reaction, shared by every path that reacts -- the
controller's reactive loop and the dry run's closed loop (pure; no I/O, no clock).

The rule (`.rule`) says what the load asks for. One outlier request (a mean OSL of 2e15 read
as one replica's ITL-feasible concurrency of 0) or a stuck gauge (KV use pinned at 100%) made
it double a pool at every check up to its ceiling. Like the predictive planner, a reaction is
bounded:

- robust signals: the mean ISL / OSL the rule reads are bounded by the demand guard's bounds
  (8x the median of recent intervals, at most 10M tokens: `model.forecast.robust_demand`), and
  a KV use above 100% is not a reading;
- held on implausible readings: a need beyond the absurd-growth limit of the plan (100x, 8
  replicas at least: the controller's `max_step_factor`) is bad input, not demand;
- held on a stuck signal: the same reading, by the same signal, as at a reaction whose new
  replicas have since become ready -- capacity changed and the reading did not;
- bounded per reaction (`max_step`), cumulatively relative to the plan (`max_over_plan` x the
  predictive plan's replicas, one over it at least), by max_replicas and by the budgets beside
  what the other pools hold now (both pools of a reaction counted together).

Each bound or hold says why in the action's notes and codes (`ReactiveReason`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from sla_planner.model.config import DEFAULT_MAX_STEP_FACTOR, ReactiveSettings, absurd_limit
from sla_planner.model.reactive.rule import (
    LoadSnapshot,
    PoolCapacity,
    ReactiveAction,
    Trigger,
    decode_trigger,
    prefill_trigger,
)
from sla_planner.model.reasons import ReactiveReason as R

POOLS = ("prefill", "decode")


@dataclass(frozen=True)
class Ceilings:
    """Most replicas each pool may have now: its max_replicas, and what the budgets leave it
    beside every other pool (`room`, None: no budget binds); `gpus`: the GPUs both pools may
    hold together (None: no joint budget), `budget_gpus` that budget for the words."""

    max_replicas: tuple[int, int]
    room: tuple[int | None, int | None] = (None, None)
    gpus: int | None = None
    gpus_per_replica: tuple[int, int] = (1, 1)
    budget_gpus: int | None = None


@dataclass(frozen=True)
class Situation:
    """One deployment at a reactive check: replicas asked for (`target`, starting ones
    included) and ready, the predictive plan's replicas (sizing's want), the mean ISL / OSL
    to read capacity at, the demand guard's bounds on them, and the ceilings."""

    target: tuple[int, int]
    ready: tuple[int, int]
    plan: tuple[int, int]
    lengths: tuple[float, float]
    bounds: tuple[float, float]
    ceilings: Ceilings


@dataclass(frozen=True)
class _Seen:
    code: R
    reading: float
    ready: int  # ready replicas when it first raised the pool on this reading
    stuck: bool = False  # held as stuck: so while the reading stays pinned, whatever runs


class ReactiveGuard:
    """One deployment's reactive checks, in time order (it remembers what each pool was
    raised on, to tell a stuck signal from a burst)."""

    def __init__(self, settings: ReactiveSettings, ttft_ms: float) -> None:
        self.settings = settings
        self.ttft_ms = ttft_ms
        self._seen: dict[str, _Seen] = {}

    def check(
        self,
        snap: LoadSnapshot,
        sit: Situation,
        capacity: Callable[[float, float], PoolCapacity],
    ) -> ReactiveAction:
        """The replicas per pool after this check (never below `sit.target`)."""
        s = self.settings
        if not s.enabled:
            return ReactiveAction(*sit.target)
        notes: list[str] = []
        codes: list[R] = []
        snap, isl, osl = _robust(snap, sit, notes, codes)
        cap = capacity(isl, osl)
        triggers = (
            prefill_trigger(snap, sit.target[0], sit.ready[0], cap, s, self.ttft_ms),
            decode_trigger(snap, sit.target[1], sit.ready[1], cap, s),
        )
        got = [self._pool(i, t, sit, notes, codes) for i, t in enumerate(triggers)]
        got[1] = _joint(got[0][0], got[1], sit, notes, codes)
        reasons = []
        for i, t in enumerate(triggers):
            n, suffix = got[i]
            if n > sit.target[i] and t is not None:
                reasons.append(f"{t.why}: {sit.target[i]} -> {n}{suffix}")
                codes.insert(len(reasons) - 1, t.code)
        return ReactiveAction(got[0][0], got[1][0], tuple(reasons), tuple(notes), tuple(codes))

    def _pool(
        self, i: int, t: Trigger | None, sit: Situation, notes: list[str], codes: list[R]
    ) -> tuple[int, str]:
        """(replicas, words for what capped them) for one pool before the joint budget; a
        hold keeps the target and says why in `notes`."""
        pool, target, ready = POOLS[i], sit.target[i], sit.ready[i]
        if t is None:
            self._seen.pop(pool, None)
            return target, ""
        if t.replicas is None:  # the rule's own hold (no replicas serve it faster)
            notes.append(t.why)
            codes.append(t.code)
            return target, ""
        seen = self._seen.get(pool)
        pinned = seen is not None and seen.code is t.code and _same(seen.reading, t.reading)
        if seen is not None and pinned and (seen.stuck or ready > seen.ready):
            notes.append(
                f"{t.why}: holding at {target}, a stuck signal: the same reading as when "
                f"{seen.ready} were ready, before the replicas it asked for came up"
            )
            codes.append(R.HOLD_STUCK)
            self._seen[pool] = dataclasses.replace(seen, stuck=True)
            return target, ""
        if t.replicas > absurd_limit(max(sit.plan[i], target), DEFAULT_MAX_STEP_FACTOR):
            notes.append(
                f"{t.why}: holding at {target}, the reading asks for {t.replicas} replicas, "
                f"beyond {DEFAULT_MAX_STEP_FACTOR:g}x the plan's {sit.plan[i]} (implausible "
                "input, not demand)"
            )
            codes.append(R.HOLD_IMPLAUSIBLE)
            return target, ""
        if not pinned:
            self._seen[pool] = _Seen(t.code, t.reading, ready)
        top, code, words = min(_bounds(i, sit, self.settings), key=lambda b: b[0])
        if top >= t.replicas:
            return t.replicas, ""
        codes.append(code)
        if top <= target:
            notes.append(f"{t.why}: holding at {target}, at {words}")
            return target, ""
        return top, "" if code is R.STEP else f", capped at {words}"


def _robust(
    snap: LoadSnapshot, sit: Situation, notes: list[str], codes: list[R]
) -> tuple[LoadSnapshot, float, float]:
    """The snapshot and lengths with every reading the rule sizes from bounded."""
    out = []
    for name, x, b in zip(("ISL", "OSL"), sit.lengths, sit.bounds, strict=True):
        if math.isfinite(x) and x > b:
            notes.append(
                f"reactive: mean {name} {x:.3g} read as {b:.4g} (the demand guard's bound): "
                "one outlier request must not size a pool"
            )
            codes.append(R.ROBUST_LENGTH)
            x = b
        out.append(x)
    changes: dict[str, float | None] = {}
    if math.isfinite(snap.isl) and snap.isl > sit.bounds[0]:
        changes["isl"] = sit.bounds[0]
    kv = snap.kv_usage
    if kv is not None and math.isfinite(kv) and kv > 1.0 + 1e-9:
        notes.append(f"reactive: KV use {kv:.3g} is outside 0..1: not a reading, ignored")
        codes.append(R.IGNORED_SIGNAL)
        changes["kv_usage"] = None
    return dataclasses.replace(snap, **changes) if changes else snap, out[0], out[1]


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def plan_cap(plan: int, s: ReactiveSettings) -> int:
    """Most replicas reactions may take a pool planned at `plan` to (one over it at least)."""
    return max(math.ceil(s.max_over_plan * max(plan, 1) - 1e-9), plan + 1)


def _bounds(i: int, sit: Situation, s: ReactiveSettings) -> list[tuple[float, R, str]]:
    """Each bound on pool `i`'s raise: (most replicas, its code, words for it)."""
    c, plan = sit.ceilings, sit.plan[i]
    out: list[tuple[float, R, str]] = [
        (math.ceil(max(sit.target[i], 1) * s.max_step), R.STEP, f"x{s.max_step:g} a step"),
        (plan_cap(plan, s), R.PLAN_CAP, f"{s.max_over_plan:g}x the plan's {plan} (max_over_plan)"),
        (c.max_replicas[i], R.MAX_REPLICAS, f"max_replicas {c.max_replicas[i]}"),
    ]
    room = c.room[i]
    if room is not None:
        out.append((room, R.BUDGET, f"the budget ({c.budget_gpus} GPUs)"))
    return out


def _joint(
    prefill: int, decode: tuple[int, str], sit: Situation, notes: list[str], codes: list[R]
) -> tuple[int, str]:
    """Decode within the GPUs both pools may hold together, prefill's raise counted first."""
    c, n, target = sit.ceilings, decode[0], sit.target[1]
    if c.gpus is None or n <= target:
        return decode
    gp, gd = c.gpus_per_replica
    left = (c.gpus - prefill * gp) // gd
    if left >= n:
        return decode
    codes.append(R.BUDGET)
    words = f"the budget ({c.budget_gpus} GPUs, prefill at {prefill})"
    if left <= target:
        notes.append(f"decode: holding at {target}, at {words}")
        return target, ""
    return left, f", capped at {words}"
