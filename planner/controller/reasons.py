"""Why a pool is where it is, and what went wrong: closed sets of codes, like HPA's condition
reasons. Tests, the `reason`/`kind` labels of /metrics and the API's `reasonCode` use these;
the free-text reason next to them is for people (logs, the decision endpoint).

Both are `str` enums, so a code compares equal to its text (`ReasonCode.STEADY == "steady"`)
and label values stay the short strings dashboards already use.
"""

from __future__ import annotations

from enum import Enum


class _Code(str, Enum):
    def __str__(self) -> str:  # the code itself, in f-strings and log lines
        return self.value


class ErrorKind(_Code):
    """The `kind` label of sla_planner_errors_total."""

    METRICS = "metrics"  # the metrics source failed (down, slow, garbage)
    METRICS_INCOMPLETE = "metrics_incomplete"  # a scrape gap or NaN samples at the live edge
    FORECAST = "forecast"  # a forecaster raised or returned NaN
    PLANNER = "planner"  # the planner raised
    DEADLINE = "deadline"  # a tick ran past its deadline
    ABSURD_DECISION = "absurd_decision"  # a decision moving a pool by orders of magnitude
    NOT_LEADER = "not_leader"  # a write refused because the Lease is no longer ours
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    INVALID = "invalid"
    API = "api"
    PARTIAL_ACTUATION = "partial_actuation"
    LEADER_ELECTION = "leader_election"
    STARTUP_TIMEOUT = "startup_timeout"
    ATTAINMENT = "attainment"  # measured attainment could not be read (the margin is kept)
    REACTIVE = "reactive"  # the reactive path's load snapshot could not be read


class ReasonCode(_Code):
    """The outcome of one pool's tick: the `reason` label of sla_planner_decisions_total and
    the API's `reasonCode`."""

    PENDING = "pending"  # no tick has decided for the pool yet
    STEADY = "steady"
    SCALE_UP = "scale_up"
    SCALE_DOWN = "scale_down"
    STANDBY = "standby"  # not the leader: decides, never writes
    PARTIAL = "partial"  # one pool moved and the other could not follow
    HOLD_STARTING = "hold_starting"  # waiting for the previous scale-up to become ready
    HOLD_INCOMPLETE = "hold_incomplete"  # scale-down refused: the demand data is incomplete
    HOLD_METRICS = "hold_metrics"
    HOLD_FORECAST = "hold_forecast"
    HOLD_PLANNER = "hold_planner"
    HOLD_DEADLINE = "hold_deadline"
    HOLD_ABSURD = "hold_absurd"  # the decision would move the pool by orders of magnitude
    HOLD_NOT_LEADER = "hold_not_leader"  # leadership lapsed between deciding and writing
    HOLD_NOT_FOUND = "hold_not_found"
    HOLD_FORBIDDEN = "hold_forbidden"
    HOLD_CONFLICT = "hold_conflict"
    HOLD_INVALID = "hold_invalid"
    HOLD_API = "hold_api"

    @classmethod
    def hold(cls, kind: ErrorKind) -> ReasonCode:
        """The hold code of an error kind (hold_<kind>)."""
        return cls(f"hold_{kind.value}")

    @property
    def is_error_hold(self) -> bool:
        """A hold caused by a failure (a warning), not a deliberate wait or a standby."""
        return self.value.startswith("hold_") and self is not ReasonCode.HOLD_STARTING
