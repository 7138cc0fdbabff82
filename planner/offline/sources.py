"""Each fleet deployment's demand source (a shifted trace, or Prometheus with its selector) and
the one time range the fleet replays.

Traces recorded at different times replay side by side once moved (`time_offset_s` or
`start_at`) and cut (`duration_s`); outside its trace a deployment has no requests, which is
what the replay means (the deployment is idle then), not missing data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sla_planner.config.fleet import DeploymentSpec, Fleet
from sla_planner.config.load import ConfigError
from sla_planner.sources.base import MetricsSource

HISTORY_WINDOW = 1440  # intervals of warm-up history at most (PlannerConfig.history_window)


@dataclass(frozen=True)
class FleetSources:
    sources: dict[str, MetricsSource]
    start: float
    end: float
    warmup: dict[str, int]  # intervals of history before `start`, per deployment
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # for the report


def build_sources(fleet: Fleet, clock: Callable[[], float] = time.time) -> FleetSources:
    sources: dict[str, MetricsSource] = {}
    settings: dict[str, dict[str, Any]] = {}
    for d in fleet.deployments:
        sources[d.name], settings[d.name] = _source(fleet, d)
    start, end = _range(fleet, sources, clock)
    warm = {name: _warmup(src, start, fleet.interval_s) for name, src in sources.items()}
    return FleetSources(sources, start, end, warm, settings)


def _source(fleet: Fleet, d: DeploymentSpec) -> tuple[MetricsSource, dict[str, Any]]:
    if d.prometheus is not None:
        from sla_planner.sources.prometheus_source import PrometheusSource

        return PrometheusSource(d.prometheus), {
            "source": "prometheus",
            "selector": d.prometheus.selector,
        }
    return _trace_source(fleet, d)


def _trace_source(fleet: Fleet, d: DeploymentSpec) -> tuple[MetricsSource, dict[str, Any]]:
    from sla_planner.sources.trace_files import load_trace
    from sla_planner.sources.trace_shift import shift_trace
    from sla_planner.sources.trace_source import TraceMetricsSource

    spec = d.demand.trace
    assert spec is not None
    where = f"deployments.{d.name}.demand.trace"
    path = fleet.resolve(spec.path)
    try:
        trace = load_trace(path)
        tokens = load_trace(fleet.resolve(spec.tokens_from)) if spec.tokens_from else None
        moved = shift_trace(trace, spec.time_offset_s, spec.start_at, spec.duration_s)
        source = TraceMetricsSource(
            moved, tokens_from=tokens, rate_scale=spec.rate_scale, seed=spec.seed
        )
    except OSError as e:
        raise ConfigError(
            f"{where}: {e.filename or path}: {e.strerror or e}; check the path"
        ) from None
    except ValueError as e:  # TraceError is a ValueError too
        raise ConfigError(f"{where}: {' '.join(str(e).split())}") from None
    return source, {
        "source": "trace",
        "trace": str(path.resolve()),
        "tokens_from": str(fleet.resolve(spec.tokens_from).resolve()) if spec.tokens_from else None,
        "rate_scale": spec.rate_scale,
        "shift_s": moved.start - trace.start,
        "duration_s": spec.duration_s,
    }


def _range(
    fleet: Fleet, sources: dict[str, MetricsSource], clock: Callable[[], float]
) -> tuple[float, float]:
    cfg = fleet.source
    step = fleet.interval_s
    if cfg.prometheus_users() and cfg.replay.start is None:
        raise ConfigError("replay.start is required when demand comes from Prometheus")
    spans = [r for r in (s.time_range() for s in sources.values()) if r is not None]
    start = cfg.replay.start
    if start is None:
        start = min(r[0] for r in spans)
    end = cfg.replay.end
    if end is None:
        # Whole intervals only: a trailing partial interval would look like a demand drop.
        hi = max(r[1] for r in spans) if spans else math.floor(clock() / step) * step
        end = start + max(1, math.floor((hi - start) / step + 1e-9)) * step
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise ConfigError(f"replay: empty range {start} .. {end}; check replay.start/end")
    if (end - start) / step > 7 * 86400 / 10:
        raise ConfigError(
            f"replay: {(end - start) / 86400:.1f} days at interval_s {step:g} is over the "
            "limit of the fleet dry run; shorten replay.start/end or raise interval_s"
        )
    return float(start), float(end)


def _warmup(source: MetricsSource, start: float, step: float) -> int:
    rng = source.time_range()
    if rng is None:
        available = getattr(source, "available_history", None)
        return int(available(start, step, HISTORY_WINDOW)) if available else 0
    return max(0, min(HISTORY_WINDOW, math.floor((start - rng[0]) / step + 1e-9)))
