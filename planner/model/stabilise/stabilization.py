"""Scale-down stabilisation, like HPA's downscale stabilisation window (pure: time passed in).

Per pool, the replicas used are the highest recommendation seen within the last
`window_s` seconds (the current one included): a scale-up takes effect at once, a scale-down
only once every higher recommendation has aged out of the window. Seeding records the replicas
the cluster runs now as a recommendation, so a restarted planner resumes from cluster state
instead of dropping straight to its first (cold) recommendation.

The core function `stabilize` is a pure function of an immutable history; `Stabilizer` only
keeps one history per pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sla_planner.model.types import Pool


@dataclass(frozen=True)
class Recommendation:
    time: float  # unix seconds
    replicas: int


@dataclass(frozen=True)
class Stabilized:
    replicas: int  # what to use
    recommended: int  # what came in
    held: bool  # replicas > recommended: a scale-down is being held
    hold_until: float | None  # when the holding recommendation ages out
    history: tuple[Recommendation, ...]  # pruned, with this recommendation appended


def stabilize(
    history: tuple[Recommendation, ...], recommended: int, now: float, window_s: float
) -> Stabilized:
    """Apply the window to `recommended` at time `now` given earlier recommendations.

    Entries older than the window are dropped; so are entries stamped after `now` (a clock
    that went back must not hold replicas on the strength of the future).
    """
    kept = tuple(r for r in history if now - window_s < r.time <= now)
    new_history = (*kept, Recommendation(now, int(recommended)))
    peak = max(r.replicas for r in new_history)
    held = peak > recommended
    hold_until = None
    if held:
        # The latest recommendation at the peak is the one that holds longest.
        hold_until = max(r.time for r in kept if r.replicas == peak) + window_s
    return Stabilized(peak, int(recommended), held, hold_until, new_history)


@dataclass
class Stabilizer:
    window_s: float
    _history: dict[Pool, tuple[Recommendation, ...]] = field(default_factory=dict)

    def seed(self, pool: Pool, replicas: int, now: float) -> None:
        """Record the cluster's current replicas as a recommendation made at `now`."""
        kept = tuple(r for r in self._history.get(pool, ()) if now - self.window_s < r.time <= now)
        self._history[pool] = (*kept, Recommendation(now, int(replicas)))

    def apply(self, pool: Pool, recommended: int, now: float) -> Stabilized:
        result = stabilize(self._history.get(pool, ()), recommended, now, self.window_s)
        self._history[pool] = result.history
        return result

    def peek(self, pool: Pool, recommended: int, now: float) -> Stabilized:
        """What apply() would return, without recording anything."""
        return stabilize(self._history.get(pool, ()), recommended, now, self.window_s)
