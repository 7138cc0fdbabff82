"""Demand in: feed one deployment's planner every completed interval from its metrics source. A
failure is returned as (hold code, why), never raised, so the controller holds the
deployment's pools at their last good state.

Missing data is never zero demand:
- intervals at the live edge that the source reports incomplete (a scrape gap, NaN samples)
  are not fed yet: they are fetched again on the next tick, when later data may complete
  them, and `incomplete` says why, so the controller refuses scale-downs meanwhile;
- an incomplete interval before complete ones is fed as a gap (unknown), not as its count;
- a count the planner's demand guard held as suspect (a jump nothing confirms: see
  model.forecast.robust_demand) is counted (`errors_total{kind="suspect_demand"}`) and logged,
  and `suspect` says why while the newest interval is one, so the controller refuses
  scale-downs meanwhile and every pool's reason says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from sla_planner.model.reasons import ErrorKind, ReasonCode
from sla_planner.model.types import DemandSample
from sla_planner.sources.base import MetricsSource, MetricsSourceError

Failure = tuple[ReasonCode, str]  # (reason code, text)


class ErrorCounter(Protocol):
    def count_error(self, kind: Any) -> None: ...


def as_gap(sample: DemandSample) -> DemandSample:
    """The interval with its demand unknown (what a planner does with a gap), not a count."""
    nan = math.nan
    return replace(sample, requests=nan, isl_mean=nan, osl_mean=nan, peak_rate=None)


class DemandFeed:
    def __init__(
        self,
        observe: Callable[[DemandSample], str | None],
        source: MetricsSource,
        metrics: ErrorCounter,
        log: logging.Logger,
        step_s: float,
        keep_intervals: int,
    ) -> None:
        self.observe_sample = observe
        self.source = source
        self.metrics = metrics
        self.log = log
        self.step_s = step_s
        self.keep = keep_intervals  # history fetched on start, and after a longer gap
        self.observed_until: float | None = None
        self.last_ok_at: float | None = None
        self.incomplete: str | None = None  # why the newest data is incomplete (None: complete)
        self.suspect: str | None = None  # why the newest interval's count was held (None: not)

    def fetch(self, start: float, end: float) -> list[DemandSample]:
        """The source's samples for [start, end) (the controller may run this under a deadline)."""
        return self.source.fetch(start, end, self.step_s)

    def observe(self, now: float) -> Failure | None:
        """Feed the planner every completed interval it has not seen yet. None when fine."""
        end = math.floor(now / self.step_s) * self.step_s
        start = self.observed_until
        if start is None or end - start > self.keep * self.step_s:
            start = end - self.keep * self.step_s  # first fetch, or a gap longer than we keep
        if end <= start:
            return None
        try:
            samples = self.fetch(start, end)
        except MetricsSourceError as exc:
            self.metrics.count_error(ErrorKind.METRICS)
            return ReasonCode.HOLD_METRICS, f"metrics unavailable: {exc}"
        except Exception as exc:  # a source bug must not kill the loop; say so and hold
            self.metrics.count_error(ErrorKind.METRICS)
            self.log.exception("metrics source failed unexpectedly")
            return ReasonCode.HOLD_METRICS, f"metrics unavailable: {type(exc).__name__}: {exc}"
        self._feed(samples, end, now)
        return None

    def _feed(self, samples: list[DemandSample], end: float, now: float) -> None:
        tail = len(samples)
        while tail > 0 and samples[tail - 1].incomplete is not None:
            tail -= 1
        for sample in samples[:tail]:
            self._observe(sample if sample.incomplete is None else as_gap(sample))
        self.last_ok_at = now
        if tail == len(samples):
            self.observed_until = end
            self.incomplete = None
            return
        # Not fed: fetched again next tick, when later data may complete it.
        self.observed_until = samples[tail].start
        newest = samples[-1]
        self.incomplete = (
            f"demand data incomplete for the {len(samples) - tail} newest interval(s) "
            f"({newest.incomplete})"
        )
        self.metrics.count_error(ErrorKind.METRICS_INCOMPLETE)
        self.log.warning(
            "metrics_incomplete intervals=%d why=%r", len(samples) - tail, newest.incomplete
        )

    def _observe(self, sample: DemandSample) -> None:
        why = self.observe_sample(sample)
        self.suspect = why
        if why is not None:  # one count per interval held
            self.metrics.count_error(ErrorKind.SUSPECT_DEMAND)
            self.log.warning("demand_suspect interval_start=%.0f why=%r", sample.start, why)
