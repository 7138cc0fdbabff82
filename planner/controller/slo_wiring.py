"""The SLO parts of the in-cluster runtime, from the run config: the SLO gauges on /metrics,
measured attainment fed to the planner (slo_feed.AttainmentFeed), and the reactive loop
(reactive_loop.ReactiveLoop) when `planner.reactive.enabled` and `metrics.queues` says where
the prefill and decode engines' queues are."""

from __future__ import annotations

import logging
from typing import Any

from sla_planner.controller.exporter import PlannerMetrics
from sla_planner.controller.slo_feed import AttainmentFeed, SloMetrics

log = logging.getLogger("sla_planner.run")


def slo_metrics(cfg: Any, metrics: PlannerMetrics, planner: Any) -> SloMetrics | None:
    """The SLO gauges, when there is an SLO target or a reactive path to report."""
    if cfg.planner.slo.attainment is None and not cfg.planner.reactive.enabled:
        return None
    m = SloMetrics(metrics.registry)
    status = getattr(planner, "budget_status", None)
    if status is not None:
        m.update(status)
    return m


def with_attainment(
    cfg: Any,
    source: Any,
    reader: Any | None,
    planner: Any,
    metrics: PlannerMetrics,
    slo: SloMetrics | None,
) -> Any:
    """`source`, feeding measured attainment to the planner when there is a target and a
    reader (in a cluster: the engines' histograms in Prometheus)."""
    if cfg.planner.slo.attainment is None or reader is None:
        return source
    targets = (cfg.planner.slo.ttft_ms, cfg.planner.slo.itl_ms)
    return AttainmentFeed(source, reader, planner, targets, slo, metrics.count_error)


def reactive_loop(
    cfg: Any,
    controller: Any,
    reader: Any | None,
    curves: tuple[Any, Any],
    slo: SloMetrics | None,
) -> Any | None:
    """The reactive loop around `controller`, or None (off, or no queues to read)."""
    if not cfg.planner.reactive.enabled:
        return None
    if reader is None:
        if cfg.metrics.queues is None:
            log.info(
                "reactive_path=off: set metrics.queues (prefill_selector, decode_selector) to "
                "read the engines' queues every %g s",
                cfg.planner.reactive.interval_s,
            )
            return None
        from sla_planner.sources.prometheus_queues import QueueReader

        reader = QueueReader(cfg.metrics.prometheus, cfg.metrics.queues)
    from sla_planner.controller.reactive_loop import ReactiveLoop
    from sla_planner.model.reactive import capacity

    pc, dc = curves
    itl = cfg.planner.slo.itl_ms

    def cap(isl: float, osl: float) -> Any:
        return capacity(pc, dc, isl, osl, itl)

    return ReactiveLoop(controller, reader, cfg.planner.reactive, cap, cfg.planner.slo.ttft_ms, slo)
