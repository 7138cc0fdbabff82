"""Metric history of one Dynamo frontend serving a piecewise-constant request rate, with faults
in what Prometheus scraped, as OpenMetrics text to backfill a REAL Prometheus (see
`support.prometheus_server`). The controller then reads it through the real PrometheusSource
in simulated time, so a fault lands at an exact tick.

Faults (each over [start, end) of scrape time):

* ``hole``: nothing was scraped (Prometheus was down): every family misses those scrapes;
* ``nan``: the request counter was exported as NaN;
* ``glitch``: the request counter read `value` higher for those scrapes (e.g. +1e18);
* ``reset``: the frontend restarted at `start`: every counter counts again from 0.

Every request has ISL 1500 and OSL 250 tokens, like chat traffic.

With `engines`, one prefill and one decode engine also export vLLM's gauges (labels
component="prefill" / "decode"), as a pair serving up to ENGINE_CAPACITY req/s would show them:
requests running by Little's law (0.2 s in prefill, 4 s in decode), the excess arriving beyond
the capacity waiting (never drained: a test lasts minutes), and the decode KV cache's use from
what runs. Faults touch the frontend's counter only: the engines see the traffic as it was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from support.openmetrics import DYNAMO, TOKEN_BUCKETS, OpenMetricsWriter, request_history

ISL, OSL = 1500.0, 250.0
LABELS = {"model": "llama", "dynamo_namespace": "llm"}
ENGINE_CAPACITY = 120.0  # req/s the engines serve before requests wait
PREFILL_S, DECODE_S = 0.2, 4.0  # time a request runs in each (Little's law)
KV_AT_CAPACITY = 0.9  # the decode KV cache's use at capacity


@dataclass(frozen=True)
class Fault:
    kind: Literal["hole", "nan", "glitch", "reset"]
    start: float
    end: float = math.inf
    value: float = 0.0


def arrivals(t0: float, levels: Sequence[tuple[float, float]]) -> np.ndarray:
    """Evenly spaced arrivals: `levels` is a list of (seconds, requests per second)."""
    out, t = [], t0
    for seconds, rps in levels:
        n = int(round(seconds * rps))
        if n:
            out.append(t + (np.arange(n) + 0.5) / rps)
        t += seconds
    return np.concatenate(out) if out else np.array([])


def frontend_history(
    t0: float,
    levels: Sequence[tuple[float, float]],
    *,
    scrape_s: float = 15.0,
    faults: Sequence[Fault] = (),
    engines: bool = False,
) -> str:
    """OpenMetrics text of the frontend's counters and token histograms, scraped every
    `scrape_s` from `t0` (a first scrape at t0 sees every counter at 0); with `engines`, the
    engines' gauges too (module doc)."""
    a = arrivals(t0, levels)
    end = t0 + sum(s for s, _ in levels)
    times = t0 + scrape_s * np.arange(int(math.floor((end - t0) / scrape_s)) + 1)
    hist = request_history(a, np.full(a.size, ISL), np.full(a.size, OSL), times)
    requests = hist.requests.copy()
    isl = (hist.isl[0].copy(), hist.isl[1].copy())
    osl = (hist.osl[0].copy(), hist.osl[1].copy())
    keep = np.ones(times.size, bool)
    for f in faults:
        at = (times >= f.start) & (times < f.end)
        if f.kind == "hole":
            keep &= ~at
        elif f.kind == "nan":
            requests[at] = math.nan
        elif f.kind == "glitch":
            requests[at] += f.value
        elif f.kind == "reset":
            first = int(np.argmax(times >= f.start))
            after = times >= f.start
            # Counted from zero at the restart: the state just before it is subtracted.
            base = first - 1 if first > 0 else 0
            requests[after] -= hist.requests[base]
            for fam in (isl, osl):
                fam[0][after] -= fam[0][base]
                fam[1][after] -= fam[1][base]
    w = OpenMetricsWriter()
    t = times[keep]
    w.counter(DYNAMO.requests, LABELS, t, requests[keep], help="requests")
    for name, fam in ((DYNAMO.isl, isl), (DYNAMO.osl, osl)):
        w.histogram(name, LABELS, t, TOKEN_BUCKETS, fam[0][keep], fam[1][keep], help="tokens")
    if engines:
        engine_gauges(w, t, t0, levels)
    return w.render()


def rate_at(t: np.ndarray, t0: float, levels: Sequence[tuple[float, float]]) -> np.ndarray:
    """The arrival rate (req/s) of `levels` at each time."""
    edges = t0 + np.cumsum([0.0] + [s for s, _ in levels])
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(levels) - 1)
    return np.array([r for _, r in levels])[idx]


def engine_gauges(
    w: OpenMetricsWriter, t: np.ndarray, t0: float, levels: Sequence[tuple[float, float]]
) -> None:
    rate = rate_at(t, t0, levels)
    served = np.minimum(rate, ENGINE_CAPACITY)
    # The excess arrived so far (trapezoids between scrapes), waiting in prefill.
    excess = rate - served
    waiting = np.concatenate([[0.0], np.cumsum(np.diff(t) * (excess[1:] + excess[:-1]) / 2)])
    running = {"prefill": served * PREFILL_S, "decode": served * DECODE_S}
    for role, pod in (("prefill", "p0"), ("decode", "d0")):
        lab = {**LABELS, "component": role, "pod": pod}
        w.gauge("vllm:num_requests_running", lab, t, running[role])
        w.gauge("vllm:num_requests_waiting", lab, t, waiting if role == "prefill" else 0 * t)
    kv = KV_AT_CAPACITY * served / ENGINE_CAPACITY
    w.gauge("vllm:kv_cache_usage_perc", {**LABELS, "component": "decode", "pod": "d0"}, t, kv)
