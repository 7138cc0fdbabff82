"""An HTTP proxy on 127.0.0.1 in front of a real server (Prometheus), with faults switched on
and off by the test: the planner talks to the proxy exactly as it would to the server.

Modes: ``pass`` (forward), ``down`` (the port refuses connections, as a killed server does),
``slow`` (forward after `delay_s` of real time), ``garbage`` (200 with a body that is not the
server's JSON), ``error`` (an HTTP `status` reply with a JSON error body).

    with FaultyProxy(prom.url) as proxy:
        source = PrometheusSource(PrometheusConfig(url=proxy.url, ...))
        proxy.mode = "down"
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FaultyProxy:
    def __init__(self, upstream: str, *, delay_s: float = 5.0, status: int = 503) -> None:
        self.upstream = upstream.rstrip("/")
        self.delay_s = delay_s
        self.status = status
        self.requests = 0
        self._mode = "pass"
        self._port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in ("pass", "down", "slow", "garbage", "error"):
            raise ValueError(f"unknown mode {value!r}")
        with self._lock:
            self._mode = value
        if value == "down":
            self._stop()
        else:
            self._start()

    def __enter__(self) -> FaultyProxy:
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _start(self) -> None:
        if self._server is not None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
        server.daemon_threads = True
        self._port = server.server_address[1]  # kept, so "down" then "pass" reuses it
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def forward(self, path: str) -> tuple[int, bytes]:
        with self._lock:
            mode = self._mode
            self.requests += 1
        if mode == "garbage":
            return 200, b"<html><body>502 Bad Gateway (from a load balancer)</body></html>"
        if mode == "error":
            body = {"status": "error", "errorType": "internal", "error": "injected failure"}
            return self.status, json.dumps(body).encode()
        if mode == "slow":
            time.sleep(self.delay_s)
        try:
            with urllib.request.urlopen(self.upstream + path, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def _handler(proxy: FaultyProxy) -> Any:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            status, body = proxy.forward(self.path)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout)

        def log_message(self, *args: object) -> None:
            pass

    return Handler
