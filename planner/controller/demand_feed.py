"""Demand in, decision out: feed the planner every completed interval from the metrics source,
then ask it to decide. A failure is returned as (hold code, why), never raised, so the
controller holds the pools at their last good state."""

from __future__ import annotations

import logging
import math
from typing import Protocol

from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.model.types import Decision, DemandSample
from sla_planner.sources.base import MetricsSource, MetricsSourceError

Failure = tuple[str, str]  # (reason code, text)


class PlanningCore(Protocol):
    """What the controller needs of sla_planner.model.planner.Planner (the optional `seed` is
    looked up)."""

    def observe(self, sample: DemandSample) -> None: ...

    def decide(self, now: float) -> Decision: ...


class DemandFeed:
    def __init__(
        self,
        planner: PlanningCore,
        source: MetricsSource,
        metrics: PlannerMetrics,
        log: logging.Logger,
        step_s: float,
        keep_intervals: int,
    ) -> None:
        self.planner = planner
        self.source = source
        self.metrics = metrics
        self.log = log
        self.step_s = step_s
        self.keep = keep_intervals  # history fetched on start, and after a longer gap
        self.observed_until: float | None = None
        self.last_ok_at: float | None = None
        self.decision: Decision | None = None
        self.notes: tuple[str, ...] = ()

    def observe(self, now: float) -> Failure | None:
        """Feed the planner every completed interval it has not seen yet. None when fine."""
        end = math.floor(now / self.step_s) * self.step_s
        start = self.observed_until
        if start is None or end - start > self.keep * self.step_s:
            start = end - self.keep * self.step_s  # first fetch, or a gap longer than we keep
        if end <= start:
            return None
        try:
            samples = self.source.fetch(start, end, self.step_s)
        except MetricsSourceError as exc:
            self.metrics.count_error("metrics")
            return "hold_metrics", f"metrics unavailable: {exc}"
        except Exception as exc:  # a source bug must not kill the loop; say so and hold
            self.metrics.count_error("metrics")
            self.log.exception("metrics source failed unexpectedly")
            return "hold_metrics", f"metrics unavailable: {type(exc).__name__}: {exc}"
        for sample in samples:
            self.planner.observe(sample)
        self.observed_until = end
        self.last_ok_at = now
        return None

    def decide(self, now: float) -> Failure | None:
        try:
            self.decision = self.planner.decide(now)
        except Exception as exc:  # keep the last good decision; the error is logged in full
            self.metrics.count_error("planner")
            self.log.exception("planner failed to decide")
            return "hold_planner", f"planner error: {type(exc).__name__}: {exc}"
        self.notes = tuple(self.decision.notes)
        return None
