"""Raw samples of one counter series between two interval boundaries, for the rare intervals
their boundary values cannot count alone: a counter reset (the part before the restart) and a
series first seen mid-interval (a new pod, counted from its first sample).

One instant query of a range vector per such interval, at most MAX_RAW_LOOKUPS per metric and
fetch (a range with more resets counts the rest from 0, as before: bounded work whatever the
data)."""

from __future__ import annotations

import numpy as np

from sla_planner.sources.prometheus_counters import RawSamples
from sla_planner.sources.prometheus_http import Labels, PrometheusHttp
from sla_planner.sources.promql import duration

MAX_RAW_LOOKUPS = 200


def exact_selector(metric: str, labels: Labels) -> str:
    """`{__name__="metric",k="v",...}` matching this series' labels (a series with more labels
    also matches: the caller keeps the exact label set)."""
    pairs = [("__name__", metric), *((k, v) for k, v in labels if k != "__name__")]
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unnamed(labels: Labels) -> Labels:
    return tuple(kv for kv in labels if kv[0] != "__name__")


class RawLookups:
    """Per fetch: raw-sample lookups for the series of one grid of boundaries."""

    def __init__(self, http: PrometheusHttp, start: float, step: float) -> None:
        self.http, self.start, self.step = http, start, step
        self.used = 0

    def for_series(self, metric: str, labels: Labels) -> RawSamples:
        name = dict(labels).get("__name__", metric)

        def raw(i: int, j: int) -> np.ndarray | None:
            if self.used >= MAX_RAW_LOOKUPS:
                return None
            self.used += 1
            t0, t1 = self.start + i * self.step, self.start + j * self.step
            expr = f"{exact_selector(name, labels)}[{duration(t1 - t0)}]"
            for found, times, values in self.http.samples(expr, t1):
                if _unnamed(found) == _unnamed(labels):
                    order = np.argsort(times, kind="stable")
                    keep = times[order] > t0  # strictly after boundary i
                    return values[order][keep]
            return np.zeros(0)

        return raw
