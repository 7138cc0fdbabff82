"""Live demand for tests that run the real `sla-planner run`: a Dynamo-frontend-shaped exporter
(prometheus_client) on 127.0.0.1 whose counters a background thread advances at `rps`
requests per second (ISL 1500, OSL 250), scraped by a real Prometheus every second.

    with LiveDemand(tmp_path, rps=20) as demand:
        demand.prometheus_url   # for the planner's run config
        demand.rps = 40         # change the load
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from support.prometheus_server import PrometheusServer, free_port

BUCKETS = (100, 500, 1000, 2000, 4000)
LABELS = {"model": "llama"}


class LiveDemand:
    def __init__(self, workdir: Path, rps: float = 20.0, tick_s: float = 0.1) -> None:
        self.rps = float(rps)
        self.tick_s = tick_s
        reg = CollectorRegistry()
        self._req = Counter("dynamo_frontend_requests", "requests", ["model"], registry=reg)
        self._isl = Histogram(
            "dynamo_frontend_input_sequence_tokens", "isl", ["model"], buckets=BUCKETS, registry=reg
        )
        self._osl = Histogram(
            "dynamo_frontend_output_sequence_tokens",
            "osl",
            ["model"],
            buckets=BUCKETS,
            registry=reg,
        )
        for m in (self._req, self._isl, self._osl):
            m.labels(**LABELS)  # series exist from the first scrape
        self._reg = reg
        self._workdir = workdir
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = None
        self.prometheus: PrometheusServer | None = None

    @property
    def prometheus_url(self) -> str:
        assert self.prometheus is not None
        return self.prometheus.url

    def __enter__(self) -> LiveDemand:
        port = free_port()
        self._http = start_http_server(port, addr="127.0.0.1", registry=self._reg)
        self._thread = threading.Thread(target=self._run, name="live-demand", daemon=True)
        self._thread.start()
        self.prometheus = PrometheusServer(
            self._workdir, scrape_targets=[f"127.0.0.1:{port}"], scrape_interval_s=1.0
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.prometheus is not None:
            self.prometheus.stop()
        if self._http is not None:
            server, thread = self._http
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    def _run(self) -> None:
        owed = 0.0
        last = time.monotonic()
        while not self._stop.wait(self.tick_s):
            now = time.monotonic()
            owed += self.rps * (now - last)
            last = now
            n = int(owed)
            owed -= n
            if n:
                self._req.labels(**LABELS).inc(n)
                for _ in range(n):
                    self._isl.labels(**LABELS).observe(1500)
                    self._osl.labels(**LABELS).observe(250)
