"""vLLM's per-pod in-flight gauges (`vllm:num_requests_running`, `vllm:num_requests_waiting`,
labelled `namespace` and `pod` as a PodMonitor's relabelling gives them) served by a
prometheus_client exporter on 127.0.0.1 and scraped every second by a real Prometheus: what a
drain reads in a cluster.

    with InFlightGauges(tmp_path) as g:
        g.set("llm", "dec-0", running=3)
        g.wait_scraped("llm", {"dec-0": 3.0})
        g.prometheus_url
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from support.prometheus_server import PrometheusServer, free_port

QUERY = 'sum by (pod) ({__name__=~"vllm:num_requests_running|vllm:num_requests_waiting",namespace="%s"})'  # fmt: skip


class InFlightGauges:
    def __init__(self, workdir: Path) -> None:
        self._reg = CollectorRegistry()
        labels = ["namespace", "pod"]
        self._running = Gauge("vllm:num_requests_running", "running", labels, registry=self._reg)
        self._waiting = Gauge("vllm:num_requests_waiting", "waiting", labels, registry=self._reg)
        self._workdir = workdir
        self._http = None
        self.prometheus: PrometheusServer | None = None

    @property
    def prometheus_url(self) -> str:
        assert self.prometheus is not None
        return self.prometheus.url

    def __enter__(self) -> InFlightGauges:
        port = free_port()
        self._http = _serve_text(port, self._reg)
        self.prometheus = PrometheusServer(
            self._workdir, scrape_targets=[f"127.0.0.1:{port}"], scrape_interval_s=1.0
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def set(self, namespace: str, pod: str, running: float, waiting: float = 0.0) -> None:
        self._running.labels(namespace, pod).set(running)
        self._waiting.labels(namespace, pod).set(waiting)

    def wait_scraped(self, namespace: str, values: dict[str, float], timeout_s: float = 30) -> None:
        """Until Prometheus answers these in-flight values (running + waiting) per pod."""
        assert self.prometheus is not None

        def seen(result: list) -> bool:
            got = {r["metric"].get("pod"): float(r["value"][1]) for r in result}
            return all(got.get(p) == v for p, v in values.items())

        self.prometheus.wait_for(QUERY % namespace, seen, timeout_s)


def _serve_text(port: int, registry: CollectorRegistry) -> ThreadingHTTPServer:
    """The text exposition format only, as vLLM's server answers: prometheus_client 0.26's
    OpenMetrics output (what Prometheus asks for first) rewrites `vllm:x` samples as `vllm_x`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
