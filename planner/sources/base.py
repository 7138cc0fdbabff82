"""The MetricsSource protocol: one interface, many sources (trace files, Prometheus)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sla_planner.errors import SlaPlannerError
from sla_planner.model.types import DemandSample


class MetricsSourceError(SlaPlannerError, RuntimeError):
    """A source could not deliver demand. The message names the problem and the fix."""


@runtime_checkable
class MetricsSource(Protocol):
    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        """Demand per interval of `step_s` seconds covering [start, end), in time order.

        Intervals with no traffic are returned with requests=0 (ISL/OSL NaN), never skipped,
        so callers can rely on len == ceil((end - start) / step_s).
        Raises MetricsSourceError on failure.
        """
        ...

    def time_range(self) -> tuple[float, float] | None:
        """[first, last) time covered by the source, or None when unbounded/live."""
        ...
