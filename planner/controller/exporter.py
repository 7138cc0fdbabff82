"""Prometheus metrics of the in-cluster planner (prometheus-client, own registry, no globals).

Reason labels are short codes (scale_up, hold_metrics, ...) so label cardinality stays bounded;
the free-text reason lives in the JSON decision endpoint and the logs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sla_planner.model.reasons import Binding, Limit

if TYPE_CHECKING:
    from sla_planner.controller.snapshot import ControllerSnapshot

__all__ = ["CONTENT_TYPE_LATEST", "PlannerMetrics"]

_POOLS = ("prefill", "decode")


# attribute -> (metric name, help, labels). Gauges, then counters; one table so /metrics is
# documented in one place.
_GAUGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "desired": ("sla_planner_desired_replicas", "Replicas the planner wants the pool to run (what it applied or publishes).", ("pool",)),
    "current": ("sla_planner_current_replicas", "spec.replicas of the target as last read from the cluster.", ("pool",)),
    "ready": ("sla_planner_ready_replicas", "Ready replicas of the target as last read from the cluster.", ("pool",)),
    "wanted": ("sla_planner_wanted_replicas", "Replicas SLA sizing alone asked for, before budget and stabilisation.", ("pool",)),
    "forecast_requests": ("sla_planner_forecast_requests", "Forecast request count for the next decision interval (mean).", ()),
    "forecast_isl": ("sla_planner_forecast_isl", "Forecast mean input sequence length, tokens.", ()),
    "forecast_osl": ("sla_planner_forecast_osl", "Forecast mean output sequence length, tokens.", ()),
    "expected_latency": ("sla_planner_expected_latency_ms", "Expected latency at the desired replicas: TTFT for prefill, ITL for decode (+Inf = overloaded).", ("pool",)),
    "target_latency": ("sla_planner_target_latency_ms", "SLA target: TTFT for prefill, ITL for decode.", ("pool",)),
    "gpus_used": ("sla_planner_gpus_used", "GPUs the desired replicas of both pools use.", ()),
    "gpu_budget": ("sla_planner_gpu_budget", "Global GPU budget across both pools (NaN when unlimited).", ()),
    "is_leader": ("sla_planner_is_leader", "1 when this instance holds the leader Lease.", ()),
    "partial": ("sla_planner_partial_actuation", "1 while one pool was scaled and the other could not be (retried every tick).", ()),
    "last_decision": ("sla_planner_last_decision_timestamp_seconds", "Unix time of the last decision.", ()),
    "binding": ("sla_planner_sizing_binding", "1 for what set the pool's sizing (model.reasons.Binding: idle, minimum, latency, utilisation, kv, unattainable, no_history), 0 for the others.", ("pool", "reason")),
    "limit": ("sla_planner_limit", "1 for what overrode the pool's sizing (model.reasons.Limit: none, budget, max_replicas, ratio_bounds, stabilisation, ratio_raised), 0 for the others.", ("pool", "reason")),
}  # fmt: skip
_COUNTERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "decisions": ("sla_planner_decisions", "Pool decisions by outcome (controller.reasons.ReasonCode: scale_up, scale_down, steady, standby, partial, hold_*).", ("pool", "reason")),
    "errors": ("sla_planner_errors", "Errors by kind (controller.reasons.ErrorKind: metrics, metrics_incomplete, forecast, planner, deadline, absurd_decision, not_leader, not_found, forbidden, conflict, invalid, api, partial_actuation, leader_election, startup_timeout).", ("kind",)),
}  # fmt: skip


def _label(code: str) -> str:
    return str(getattr(code, "value", code))


class PlannerMetrics:
    # Declared for readers and type checkers; created from _GAUGES / _COUNTERS.
    desired: Gauge
    current: Gauge
    ready: Gauge
    wanted: Gauge
    forecast_requests: Gauge
    forecast_isl: Gauge
    forecast_osl: Gauge
    expected_latency: Gauge
    target_latency: Gauge
    gpus_used: Gauge
    gpu_budget: Gauge
    is_leader: Gauge
    partial: Gauge
    last_decision: Gauge
    binding: Gauge
    limit: Gauge
    decisions: Counter
    errors: Counter

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        for attr, (name, doc, labels) in _GAUGES.items():
            setattr(self, attr, Gauge(name, doc, list(labels), registry=self.registry))
        for attr, (name, doc, labels) in _COUNTERS.items():
            setattr(self, attr, Counter(name, doc, list(labels), registry=self.registry))
        for pool in _POOLS:  # expose every pool series from the start, not only after a tick
            for g in (self.desired, self.current, self.ready, self.wanted):
                g.labels(pool=pool)
        self.gpu_budget.set(math.nan)

    def count_decision(self, pool: str, reason_code: str) -> None:
        """`reason_code`: a controller.reasons.ReasonCode (a str enum; its value is the label)."""
        self.decisions.labels(pool=pool, reason=_label(reason_code)).inc()

    def count_error(self, kind: str) -> None:
        """`kind`: a controller.reasons.ErrorKind (a str enum; its value is the label)."""
        self.errors.labels(kind=_label(kind)).inc()

    def set_leader(self, leader: bool) -> None:
        self.is_leader.set(1 if leader else 0)

    def update(self, snap: ControllerSnapshot) -> None:
        for ps in (snap.prefill, snap.decode):
            pool = ps.pool
            if ps.desired is not None:
                self.desired.labels(pool=pool).set(ps.desired)
            if ps.current is not None:
                self.current.labels(pool=pool).set(ps.current)
            if ps.ready is not None:
                self.ready.labels(pool=pool).set(ps.ready)
            if ps.wanted is not None:
                self.wanted.labels(pool=pool).set(ps.wanted)
            if ps.expected_latency_ms is not None:
                self.expected_latency.labels(pool=pool).set(ps.expected_latency_ms)
            if ps.target_ms is not None:
                self.target_latency.labels(pool=pool).set(ps.target_ms)
            for gauge, enum, value in (
                (self.binding, Binding, ps.binding),
                (self.limit, Limit, ps.limit),
            ):
                if value is not None:  # one series per code: 1 for the current one
                    for code in enum:
                        gauge.labels(pool=pool, reason=code.value).set(1 if code == value else 0)
        if snap.forecast is not None:
            self.forecast_requests.set(snap.forecast.requests)
            self.forecast_isl.set(snap.forecast.isl)
            self.forecast_osl.set(snap.forecast.osl)
        self.gpus_used.set(snap.gpus_used)
        self.gpu_budget.set(math.nan if snap.gpu_budget is None else snap.gpu_budget)
        self.partial.set(1 if snap.partial else 0)
        self.is_leader.set(1 if snap.is_leader else 0)
        if snap.timestamp is not None:
            self.last_decision.set(snap.timestamp)

    def render(self) -> bytes:
        return generate_latest(self.registry)
