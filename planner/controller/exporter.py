"""Prometheus metrics of the in-cluster planner (prometheus-client, own registry, no globals).

One label schema whatever the planner plans (a single deployment is a fleet of one): pool
series carry `deployment`, `variant` and `pool` (each variant's pool scales its own object; a
single deployment's are `deployment="default", variant="default"`), deployment series
`deployment`, GPU series `gpu_type`. Reason labels are short codes (scale_up, hold_metrics,
...) so label cardinality stays bounded; the free-text reason lives in the JSON decision
endpoint and the logs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sla_planner.model.reasons import Binding, Limit

if TYPE_CHECKING:
    from sla_planner.controller.snapshot import FleetSnapshot
    from sla_planner.model.types import FleetDecision

__all__ = ["CONTENT_TYPE_LATEST", "PlannerMetrics", "ScopedMetrics"]

_POOL = ("deployment", "variant", "pool")
_DEP = ("deployment",)

# key -> (metric name, help, labels): /metrics, documented in one place.
_GAUGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "desired": ("sla_planner_desired_replicas", "Replicas the planner wants the pool to run (what it applied or publishes): 0 for a variant not in use.", _POOL),
    "current": ("sla_planner_current_replicas", "spec.replicas of the pool's target as last read from the cluster.", _POOL),
    "ready": ("sla_planner_ready_replicas", "Ready replicas of the pool's target as last read from the cluster.", _POOL),
    "wanted": ("sla_planner_wanted_replicas", "Replicas SLA sizing alone asked for, before budget and stabilisation.", _POOL),
    "expected_latency": ("sla_planner_expected_latency_ms", "Expected latency at the desired replicas: TTFT for prefill, ITL for decode (+Inf = overloaded).", _POOL),
    "target_latency": ("sla_planner_target_latency_ms", "SLA target: TTFT for prefill, ITL for decode.", _POOL),
    "binding": ("sla_planner_sizing_binding", "1 for what set the pool's sizing (model.reasons.Binding: idle, minimum, latency, utilisation, kv, slo, unattainable, no_history), 0 for the others.", (*_POOL, "reason")),
    "limit": ("sla_planner_limit", "1 for what overrode the pool's sizing (model.reasons.Limit: none, budget, max_replicas, ratio_bounds, stabilisation, ratio_raised), 0 for the others.", (*_POOL, "reason")),
    "forecast_requests": ("sla_planner_forecast_requests", "Forecast request count for the next decision interval (mean).", _DEP),
    "forecast_isl": ("sla_planner_forecast_isl", "Forecast mean input sequence length, tokens.", _DEP),
    "forecast_osl": ("sla_planner_forecast_osl", "Forecast mean output sequence length, tokens.", _DEP),
    "active_variant": ("sla_planner_active_variant", "1 for the variant a deployment runs, 0 for its others.", ("deployment", "variant")),
    "expected_attainment": ("sla_planner_expected_attainment", "The model's expected share of requests meeting both targets at the decided replicas and the planned demand.", _DEP),
    "deployment_gpus": ("sla_planner_deployment_gpus", "GPUs a deployment's desired replicas use (every variant), by GPU type.", ("deployment", "gpu_type")),
    "deployment_budget": ("sla_planner_deployment_gpu_budget", "A deployment's own GPU cap across its pools, max_gpus (NaN when none).", _DEP),
    "gpus_used": ("sla_planner_gpus_used", "GPUs the desired replicas of every pool use, by GPU type.", ("gpu_type",)),
    "gpu_budget": ("sla_planner_gpu_budget", "GPUs of each type the planner may use (NaN when unlimited).", ("gpu_type",)),
    "draining": ("sla_planner_draining_replicas", "Replicas a drain-aware scale-down waits for before lowering the pool (pools with metrics.drain only).", _POOL),
    "partial": ("sla_planner_partial_actuation", "1 while one pool of a deployment's variant was scaled and the other could not be (retried every tick).", _DEP),
    "is_leader": ("sla_planner_is_leader", "1 when this instance holds the leader Lease.", ()),
    "last_decision": ("sla_planner_last_decision_timestamp_seconds", "Unix time of the last decision.", ()),
}  # fmt: skip
_COUNTERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "decisions": ("sla_planner_decisions", "Pool decisions by outcome (model.reasons.ReasonCode: scale_up, scale_down, steady, standby, partial, draining, hold_*).", (*_POOL, "reason")),
    "errors": ("sla_planner_errors", "Errors by kind (model.reasons.ErrorKind: metrics, metrics_incomplete, forecast, planner, deadline, absurd_decision, not_leader, not_found, forbidden, conflict, invalid, api, partial_actuation, leader_election, startup_timeout, attainment, reactive, suspect_demand, in_flight, drain_timeout); deployment is empty for the planner's own (deadline, planner, leader_election).", ("deployment", "kind")),
    "drains": ("sla_planner_drains", "Drain-aware scale-downs by outcome: drained (every removed replica idle), timed_out (lowered after drain_timeout_s with work left), cancelled (the pool was not lowered after all).", (*_POOL, "outcome")),
    "preemptions": ("sla_planner_preemptions", "GPUs a deployment was planned to give up to higher priority classes, by GPU type.", ("deployment", "gpu_type")),
}  # fmt: skip
# Registered on first use, so a planner without drains exports exactly what it did before.
_ON_USE = frozenset({"draining", "drains"})


def _label(code: Any) -> str:
    return str(getattr(code, "value", code))


class ScopedMetrics:
    """The calls the per-deployment pieces make (DemandFeed, report_partial, the SLO feed),
    labelled with one deployment (and variant)."""

    def __init__(self, metrics: PlannerMetrics, deployment: str, variant: str = "") -> None:
        self._m, self.deployment, self.variant = metrics, deployment, variant

    @property
    def registry(self) -> CollectorRegistry:
        return self._m.registry

    def count_error(self, kind: Any) -> None:
        self._m.count_error(kind, self.deployment)

    def count_decision(self, pool: str, reason_code: Any) -> None:
        self._m.count_decision(pool, reason_code, self.deployment, self.variant)


class PlannerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.g: dict[str, Gauge] = {
            k: Gauge(n, h, list(lb), registry=self.registry)
            for k, (n, h, lb) in _GAUGES.items()
            if k not in _ON_USE
        }
        self.c: dict[str, Counter] = {
            k: Counter(n, h, list(lb), registry=self.registry)
            for k, (n, h, lb) in _COUNTERS.items()
            if k not in _ON_USE
        }

    def _drain_gauge(self) -> Gauge:
        if "draining" not in self.g:
            n, h, lb = _GAUGES["draining"]
            self.g["draining"] = Gauge(n, h, list(lb), registry=self.registry)
        return self.g["draining"]

    def scoped(self, deployment: str, variant: str = "") -> ScopedMetrics:
        return ScopedMetrics(self, deployment, variant)

    def count_decision(
        self, pool: str, reason_code: Any, deployment: str = "", variant: str = ""
    ) -> None:
        self.c["decisions"].labels(deployment, variant, pool, _label(reason_code)).inc()

    def count_error(self, kind: Any, deployment: str = "") -> None:
        self.c["errors"].labels(deployment, _label(kind)).inc()

    def count_drain(self, outcome: str, deployment: str, variant: str, pool: str) -> None:
        if "drains" not in self.c:
            n, h, lb = _COUNTERS["drains"]
            self.c["drains"] = Counter(n, h, list(lb), registry=self.registry)
        self.c["drains"].labels(deployment, variant, pool, outcome).inc()

    def count_preemptions(self, decision: FleetDecision) -> None:
        for p in decision.preemptions:
            self.c["preemptions"].labels(p.victim, p.gpu_type).inc(p.gpus)

    def set_leader(self, leader: bool) -> None:
        self.g["is_leader"].set(1 if leader else 0)

    def update(self, snap: FleetSnapshot) -> None:
        g = self.g
        for name, d in snap.deployments.items():
            for variant, pools in d.pools.items():
                g["active_variant"].labels(name, variant).set(1 if variant == d.variant else 0)
                for pool, fp in pools.items():
                    self._pool(name, variant, pool, fp.pool)
            if d.forecast is not None:
                g["forecast_requests"].labels(name).set(d.forecast.requests)
                g["forecast_isl"].labels(name).set(d.forecast.isl)
                g["forecast_osl"].labels(name).set(d.forecast.osl)
            if d.expected_attainment is not None:
                g["expected_attainment"].labels(name).set(d.expected_attainment)
            for t in snap.gpu_budget:
                g["deployment_gpus"].labels(name, t).set(d.gpus().get(t, 0))
            cap = d.budget_gpus
            g["deployment_budget"].labels(name).set(math.nan if cap is None else cap)
            g["partial"].labels(name).set(1 if d.partial else 0)
        for t, n in snap.gpu_budget.items():
            g["gpu_budget"].labels(t).set(math.nan if n is None else n)
            g["gpus_used"].labels(t).set(snap.gpus_used.get(t, 0))
        g["is_leader"].set(1 if snap.is_leader else 0)
        if snap.timestamp is not None:
            g["last_decision"].set(snap.timestamp)

    def _pool(self, name: str, variant: str, pool: str, ps: Any) -> None:
        g = self.g
        for key, value in (
            ("desired", ps.desired),
            ("current", ps.current),
            ("ready", ps.ready),
            ("wanted", ps.wanted),
            ("expected_latency", ps.expected_latency_ms),
            ("target_latency", ps.target_ms),
        ):
            if value is not None:
                g[key].labels(name, variant, pool).set(value)
        if ps.drain is not None:
            self._drain_gauge().labels(name, variant, pool).set(len(ps.drain.replicas))
        for key, enum, value in (("binding", Binding, ps.binding), ("limit", Limit, ps.limit)):
            if value is not None:  # one series per code: 1 for the current one
                for code in enum:
                    g[key].labels(name, variant, pool, code.value).set(1 if code == value else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float | None:
        """A sample's value (tests, --once); None when absent or NaN."""
        v = self.registry.get_sample_value(name, labels)
        return None if v is None or math.isnan(v) else v
