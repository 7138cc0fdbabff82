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
    SUSPECT_DEMAND = "suspect_demand"  # a count jump nothing confirms: held at the level
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
    IN_FLIGHT = "in_flight"  # the engines' in-flight gauges could not be read (a drain waits)
    DRAIN_TIMEOUT = "drain_timeout"  # a drain ran out of time: replicas lowered with work on them


class ReasonCode(_Code):
    """The outcome of one pool's tick: the `reason` label of sla_planner_decisions_total and
    the API's `reasonCode`."""

    PENDING = "pending"  # no tick has decided for the pool yet
    STEADY = "steady"
    SCALE_UP = "scale_up"
    SCALE_DOWN = "scale_down"
    STANDBY = "standby"  # not the leader: decides, never writes
    PARTIAL = "partial"  # one pool moved and the other could not follow
    DRAINING = "draining"  # a scale-down waits for the replicas it removes to finish their work
    HOLD_STARTING = "hold_starting"  # waiting for the previous scale-up to become ready
    HOLD_INCOMPLETE = "hold_incomplete"  # scale-down refused: the demand data is incomplete
    HOLD_SUSPECT_DEMAND = "hold_suspect_demand"  # scale-down refused: a count jump held as suspect
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


class Binding(_Code):
    """What set the size sizing asked for."""

    IDLE = "idle"  # no demand: the minimum
    MINIMUM = "minimum"  # the demand fits the pool's minimum replicas
    LATENCY = "latency"  # the latency target (TTFT or ITL) at the planning quantile
    UTILISATION = "utilisation"  # prefill's utilisation cap
    KV = "kv"  # decode's KV-cache capacity
    UNATTAINABLE = "unattainable"  # the target cannot be met at any size: the most useful size
    NO_HISTORY = "no_history"  # no usable demand yet: what the cluster runs, or the minimums
    SLO = "slo"  # the SLO planner: the cheapest pair whose expected attainment reaches the goal
    OTHER = "other"  # a sizing policy this version does not know

    @classmethod
    def _missing_(cls, value: object) -> Binding:
        return cls.OTHER


class Limit(_Code):
    """What overrode sizing, most important first; NONE when sizing stood."""

    NONE = "none"
    BUDGET = "budget"  # the global GPU budget
    MAX_REPLICAS = "max_replicas"  # the pool's max_replicas
    RATIO_BOUNDS = "ratio_bounds"  # lowered to keep the prefill:decode ratio
    STABILISATION = "stabilisation"  # a scale-down held by the stabilisation window
    RATIO_RAISED = "ratio_raised"  # raised to keep the prefill:decode ratio


class FleetReason(_Code):
    """Why a pool (or a deployment) got what it got, like HPA's condition reasons."""

    SIZED = "sized"  # what SLA sizing asked for
    MINIMUM = "minimum"  # held at min_replicas
    MAXIMUM = "maximum"  # capped at max_replicas
    STABILIZED = "stabilized"  # a scale-down held within scale_down_window_s
    BUDGET_LIMITED = "budget_limited"  # the GPU type's budget binds within its priority class
    PRIORITY_LIMITED = "priority_limited"  # higher priority classes hold the rest of the type
    PREEMPTED = "preempted"  # scaled below what it ran to give GPUs to a higher class
    SCALED_TO_ZERO = "scaled_to_zero"  # idle for the idle window: GPUs released
    WOKEN = "woken"  # scale from zero on its first requests
    IDLE_HOLD = "idle_hold"  # no demand forecast, but requests within the idle window
    COLD = "cold"  # no demand history yet
    VARIANT_SWITCH = "variant_switch"  # moving to another variant; old replicas held
    VARIANT_PENDING = "variant_pending"  # a better variant waits out the hysteresis
    UNATTAINABLE = "unattainable"  # no variant meets the SLO at any size
