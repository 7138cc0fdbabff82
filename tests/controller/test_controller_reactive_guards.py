"""The live reactive path's guards (issue 18 item 4): `sla-planner run`'s runtime (build_runtime
from a run config with `metrics.queues`), the fake Kubernetes API over HTTP and a REAL Prometheus
backfilled with a steady 20 req/s (vLLM's frontend counters, which the planner plans from) and
vLLM engine gauges that misbehave; the loop runs in simulated time (replicas ready 90 s after a
write, as the kube fixture's pods are).

- decode's KV use stuck at 100% and 40 sequences running, whatever runs: a stuck gauge, not a
  burst. Decode gets one reaction at most (one replica over the plan), then the reading that
  stayed pinned while the new replica came up is held as stuck; never past max_replicas.
- KV use that keeps rising (not pinned) while the cap relative to the plan is opened wide:
  the reactions stop at decode's max_replicas.
- one enormous prompt waiting at prefill (an operator's `isl` query over the waiting prompts):
  no number of replicas serves it faster, so prefill is not raised above the plan at all.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from support.controller_harness import DECODE_NAME, NS, PREFILL_NAME, TRACE_T0, start_runtime
from support.fake_kube import PCSG, FakeKube
from support.openmetrics import (
    VLLM,
    OpenMetricsWriter,
    add_request_history,
    request_history,
    scrape_times,
)
from support.prometheus_server import PrometheusServer, prometheus_available

from sla_planner.config.load import parse_run_config
from sla_planner.controller.clock import SimulatedClock

pytestmark = [
    pytest.mark.slow,  # a real Prometheus server
    pytest.mark.skipif(not prometheus_available(), reason="needs prometheus + promtool"),
]

RPS = 20.0
SPAN_S = 60 * 60.0  # an hour of history: 20 min before the loop starts, 40 min of loop
SCRAPE_S = 5.0
START = TRACE_T0 + 20 * 60  # where the loop starts
HUGE_PROMPT = 1e12  # tokens: no engine prefills it in less than hours


def _history(kv: np.ndarray | float, running: float, prefill_waiting: float) -> str:
    """20 req/s of 1,500-token prompts and 250-token outputs (vLLM's frontend counters), and
    the engines' gauges: decode KV use and running sequences, prefill's waiting requests and
    the prompt tokens they hold (one enormous prompt when one waits)."""
    times = scrape_times(TRACE_T0, TRACE_T0 + SPAN_S, SCRAPE_S)
    arrivals = np.arange(TRACE_T0, TRACE_T0 + SPAN_S, 1.0 / RPS)
    isl, osl = np.full(arrivals.size, 1500.0), np.full(arrivals.size, 250.0)
    w = OpenMetricsWriter()
    add_request_history(
        w, request_history(arrivals, isl, osl, times), VLLM, {"model_name": "llama"}
    )
    kv_values = np.broadcast_to(np.asarray(kv, dtype=float), times.shape)
    decode, prefill = {"component": "decode", "pod": "d0"}, {"component": "prefill", "pod": "p0"}
    w.gauge("vllm:num_requests_waiting", prefill, times, np.full(times.size, prefill_waiting))
    w.gauge("vllm:num_requests_waiting", {**decode}, times, np.zeros(times.size))
    w.gauge("vllm:num_requests_running", decode, times, np.full(times.size, running))
    w.gauge("vllm:kv_cache_usage_perc", decode, times, kv_values)
    held = np.full(times.size, HUGE_PROMPT * prefill_waiting)
    w.gauge("engine_waiting_prompt_tokens", prefill, times, held)
    return w.render()  # fmt: skip


def _config(url: str, reactive: dict | None = None, **pools) -> object:
    return parse_run_config(
        {
            "planner": {
                "slo": {"ttft_ms": 200, "itl_ms": 25},
                "interval_s": 60,
                "startup_s": 120,
                "forecaster": "last",
                "prefill": {"min_replicas": 1, **pools.get("prefill", {})},
                "decode": {"min_replicas": 1, **pools.get("decode", {})},
                "reactive": reactive or {},
            },
            "metrics": {
                "prometheus": {"url": url, "preset": "vllm", "selector": 'model_name="llama"'},
                "queues": {
                    "prefill_selector": 'component="prefill"',
                    "decode_selector": 'component="decode"',
                    # the mean prompt of the requests waiting at prefill (an operator's query)
                    "queries": {
                        "isl": "sum(engine_waiting_prompt_tokens{{prefill_selector}}) / "
                        "sum(vllm:num_requests_waiting{{prefill_selector}})"
                    },
                },
            },
            "targets": {
                "prefill": {"kind": "PodCliqueScalingGroup", "namespace": NS, "name": PREFILL_NAME},
                "decode": {"kind": "PodCliqueScalingGroup", "namespace": NS, "name": DECODE_NAME},
            },
            "server": {"enabled": False},
            "loop": {"retry_interval_s": 10, "backfill_intervals": 20, "latency_correction": False},
        }
    )


def _run(kube: FakeKube, clock: SimulatedClock, tmp_path, history: str, cfg_of, minutes: float):
    """Run `sla-planner run`'s loop for `minutes` of simulated time; per pool, the replicas the
    cluster runs at each step and the most the predictive plan's sizing asked for (its
    `wanted_replicas`), and the reasons the pools gave."""
    kube.add_pcsg(NS, PREFILL_NAME, replicas=1, ready=1)
    kube.add_pcsg(NS, DECODE_NAME, replicas=1, ready=1)
    seen: dict[str, list[int]] = {"prefill": [], "decode": []}
    plan = {"prefill": 0, "decode": 0}
    with PrometheusServer(tmp_path, openmetrics=history) as prom:
        clock.set(START)
        client = kube.api_client()
        try:
            rt = start_runtime(cfg_of(prom.url), clock, api_client=client)
            assert rt.reactive is not None, "the reactive path is off"
            end = START + minutes * 60
            reasons: list[str] = []
            while clock.now() < end:
                rt.reactive.run(_Once(), max_ticks=2)  # tick, check, sleep to the next wake-up
                seen["prefill"].append(kube.spec_replicas(PCSG, NS, PREFILL_NAME))
                seen["decode"].append(kube.spec_replicas(PCSG, NS, DECODE_NAME))
                d = rt.controller.decision
                plan["prefill"] = max(plan["prefill"], d.prefill.wanted_replicas)
                plan["decode"] = max(plan["decode"], d.decode.wanted_replicas)
                snap = rt.controller.snapshot()
                for pool in (snap.prefill, snap.decode):
                    if pool.reason not in reasons:
                        reasons.append(pool.reason)
        finally:
            client.close()
    return seen, plan, reasons


class _Once:
    """A stop event that is never set (the loop runs a few ticks per call)."""

    def is_set(self) -> bool:
        return False


def test_a_stuck_kv_gauge_is_held_after_one_reaction_and_max_replicas_binds(
    kube: FakeKube, clock: SimulatedClock, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="sla_planner.reactive")
    history = _history(kv=1.0, running=40.0, prefill_waiting=0.0)
    seen, plan, reasons = _run(
        kube, clock, tmp_path, history, lambda url: _config(url, decode={"max_replicas": 6}), 15
    )
    assert max(seen["decode"]) <= 6, (seen["decode"], reasons)  # max_replicas on every path
    # one reaction on "KV 100%" at most: once the replica it added is ready and the gauge has
    # not moved, it is a stuck reading, not a burst
    assert max(seen["decode"]) <= plan["decode"] + 1, (seen["decode"], plan, reasons)
    held = [r.getMessage() for r in caplog.records if "reactive_hold" in r.getMessage()]
    assert any("codes=hold_stuck" in m and "a stuck signal" in m for m in held), held
    assert max(seen["prefill"]) <= plan["prefill"]


def test_rising_kv_use_stops_at_max_replicas(kube: FakeKube, clock: SimulatedClock, tmp_path):
    times = scrape_times(TRACE_T0, TRACE_T0 + SPAN_S, SCRAPE_S)
    rising = np.clip(0.96 + (times - START) / (400 * 60.0), 0.0, 1.0)  # never pinned
    history = _history(kv=rising, running=40.0, prefill_waiting=0.0)

    def cfg(url: str) -> object:  # the cap relative to the plan wide open: max_replicas binds
        return _config(url, {"max_over_plan": 50}, decode={"max_replicas": 6})

    seen, _, reasons = _run(kube, clock, tmp_path, history, cfg, 20)
    assert max(seen["decode"]) == 6, (seen["decode"], reasons)


def test_one_enormous_waiting_prompt_adds_no_prefill_replica(
    kube: FakeKube, clock: SimulatedClock, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="sla_planner.reactive")
    history = _history(kv=0.3, running=10.0, prefill_waiting=1.0)
    seen, plan, reasons = _run(
        kube, clock, tmp_path, history, lambda url: _config(url, prefill={"max_replicas": 6}), 10
    )
    assert max(seen["prefill"]) <= plan["prefill"], (seen["prefill"], plan, reasons)
    assert max(seen["decode"]) <= plan["decode"]
    # the enormous prompt is read at the demand guard's bound, so no backlog is seen at all
    assert "reactive_scale_up" not in caplog.text
