"""Measured attainment into the live planner, and the SLO on /metrics.

The controller reads demand through a MetricsSource each tick (DemandFeed). `AttainmentFeed`
wraps that source: whenever demand is fetched for a range of intervals, the measured
attainment of the same intervals is read too (sla_planner.sources.prometheus_attainment) and
handed to the planner's error-budget controller (`observe_attainment`) before the decision
that follows. So the controller itself is unchanged, and a decision never reads a window that
ends after it (the feed only fetches completed intervals).

A failed attainment read is logged and counted (`sla_planner_errors_total{kind="attainment"}`)
but never fails the demand read: without measurements the planner keeps its last margin.

`SloMetrics` publishes the SLO beside the planner's own metrics, on the same registry:
target, measured attainment (the last interval and cumulative), budget burn rates (interval,
short, long, cumulative), the planned miss share and margin, and reactive scale-ups.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from sla_planner.model.reasons import ErrorKind
from sla_planner.model.size.error_budget import AttainmentSample, BudgetStatus
from sla_planner.model.types import DemandSample
from sla_planner.sources.base import MetricsSourceError

log = logging.getLogger("sla_planner.slo")


class AttainmentReader(Protocol):
    def fetch(
        self, start: float, end: float, step_s: float, ttft_ms: float, itl_ms: float
    ) -> list[AttainmentSample]: ...


class SloMetrics:
    """The SLO gauges of one planner, every series labelled with its deployment."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.target = Gauge(
            "sla_planner_slo_target",
            "SLO attainment target (share of requests).",
            ["deployment"],
            registry=registry,
        )
        self.attainment = Gauge(
            "sla_planner_slo_attainment",
            "Measured share of requests meeting both targets (window: interval, cumulative).",
            ["deployment", "window"],
            registry=registry,
        )
        self.burn = Gauge(
            "sla_planner_slo_burn_rate",
            "Error-budget burn rate: misses / (requests x (1 - target)); 1 = spending exactly "
            "the budget (window: interval, short, long, cumulative).",
            ["deployment", "window"],
            registry=registry,
        )
        self.planned_miss = Gauge(
            "sla_planner_slo_planned_miss",
            "Share of requests the plan is sized to miss in the latency model.",
            ["deployment"],
            registry=registry,
        )
        self.margin = Gauge(
            "sla_planner_slo_margin",
            "Error budget / planned miss share (the one margin the error budget moves).",
            ["deployment"],
            registry=registry,
        )
        self.reactive = Counter(
            "sla_planner_reactive_scale_ups",
            "Reactive scale-ups between predictive decisions, by pool.",
            ["deployment", "pool"],
            registry=registry,
        )

    def start(self, deployment: str) -> None:
        """Expose the deployment's reactive series from the start, not only after a reaction."""
        for pool in ("prefill", "decode"):
            self.reactive.labels(deployment=deployment, pool=pool)

    def update(self, st: BudgetStatus, deployment: str) -> None:
        d = deployment
        self.target.labels(deployment=d).set(st.target)
        self.attainment.labels(deployment=d, window="interval").set(_nan(st.window_attainment))
        self.attainment.labels(deployment=d, window="cumulative").set(
            _nan(st.cumulative_attainment)
        )
        for window, value in (
            ("interval", st.burn_window),
            ("short", st.burn_short),
            ("long", st.burn_long),
            ("cumulative", st.burn_cumulative),
        ):
            self.burn.labels(deployment=d, window=window).set(_nan(value))
        self.planned_miss.labels(deployment=d).set(st.planned_miss)
        self.margin.labels(deployment=d).set(st.margin)


def _nan(x: float) -> float:
    return x if isinstance(x, float | int) and not math.isnan(x) else math.nan


class AttainmentFeed:
    """A MetricsSource that also feeds one deployment's measured attainment to its planner
    (see module doc)."""

    def __init__(
        self,
        source: Any,
        reader: AttainmentReader,
        planner: Any,
        targets: tuple[float, float],
        metrics: SloMetrics | None = None,
        count_error: Any = None,
        deployment: str | None = None,
    ) -> None:
        self.source = source
        self.reader = reader
        self.planner = planner  # the Planner (observe_attainment(window, deployment))
        self.targets = targets  # (TTFT ms, ITL ms)
        self.metrics = metrics
        self.count_error = count_error
        self.deployment = deployment
        self._last_error: str | None = None

    def time_range(self) -> tuple[float, float] | None:
        return self.source.time_range()

    def __getattr__(self, name: str) -> Any:  # close(), available_history(), ...
        return getattr(self.source, name)

    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        samples = self.source.fetch(start, end, step_s)  # demand first: its errors hold the tick
        try:
            windows = self.reader.fetch(start, end, step_s, *self.targets)
        except MetricsSourceError as exc:
            self._failed(str(exc))
            return samples
        self._last_error = None
        d = self.planner.deployment(self.deployment)
        for w in windows:
            d.observe_attainment(w)
        status = d.budget_status
        if self.metrics is not None and status is not None:
            self.metrics.update(status, d.name)
        return samples

    def _failed(self, text: str) -> None:
        if self.count_error is not None:
            self.count_error(ErrorKind.ATTAINMENT)
        if text != self._last_error:  # one line per distinct problem, not one per tick
            log.warning("attainment_unavailable error=%r: keeping the last margin", text)
        self._last_error = text
