"""Live demand for tests that run the real `sla-planner run`: a Dynamo-frontend-shaped exporter
(prometheus_client) on 127.0.0.1 whose counters a background thread advances at `rps`
requests per second (ISL 1500, OSL 250), scraped by a real Prometheus every second.

    with LiveDemand(tmp_path, rps=20) as demand:
        demand.prometheus_url   # for the planner's run config
        demand.rps = 40         # change the load

Several models (a fleet, one selector `model="NAME"` per deployment): `rates={"chat": 40,
"code": 5}`, changed with `demand.rates["chat"] = 10`.
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
    def __init__(
        self,
        workdir: Path,
        rps: float = 20.0,
        tick_s: float = 0.1,
        rates: dict[str, float] | None = None,
    ) -> None:
        self.rps = float(rps)
        self.rates = dict(rates) if rates is not None else None
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
            for model in self._models():
                m.labels(model=model)  # series exist from the first scrape
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

    def _models(self) -> list[str]:
        return list(self.rates) if self.rates is not None else [LABELS["model"]]

    def _rate(self, model: str) -> float:
        return self.rates.get(model, 0.0) if self.rates is not None else self.rps

    def _run(self) -> None:
        owed = {m: 0.0 for m in self._models()}
        last = time.monotonic()
        while not self._stop.wait(self.tick_s):
            now = time.monotonic()
            for model in owed:
                owed[model] += self._rate(model) * (now - last)
                n = int(owed[model])
                owed[model] -= n
                if n:
                    self._req.labels(model=model).inc(n)
                    for _ in range(n):
                        self._isl.labels(model=model).observe(1500)
                        self._osl.labels(model=model).observe(250)
            last = now
