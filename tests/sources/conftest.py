"""Fixtures for the Prometheus source tests: a REAL Prometheus server backfilled with metric
history generated from a real trace (the Azure 2023 conversation trace, one hour).

The history is what two Dynamo frontends would have exported, scraped every 15 s: requests
alternate between the two; frontend-1 restarts once (its counters reset to 0, two scrapes
missed) while frontend-0 takes all traffic. Counter values count requests that arrived
strictly before each scrape, so differences over [T1, T2) equal the trace's own binning.
"""

from __future__ import annotations

import json
import math
import shutil
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.openmetrics import (
    DYNAMO,
    OpenMetricsWriter,
    RequestHistory,
    add_request_history,
    request_history,
    scrape_times,
    synthetic_latencies,
)
from support.prometheus_server import INSTALL_HINT, PrometheusServer, prometheus_available

from sla_planner.sources.trace_files import RequestTrace

SCRAPE_S = 15.0
LABELS = {"model": "llama-3.1-8b", "dynamo_namespace": "llm"}
SELECTOR = 'model="llama-3.1-8b"'


def _concat(a: RequestHistory, b: RequestHistory) -> RequestHistory:
    def cat(x, y):
        return None if x is None else (np.concatenate([x[0], y[0]]), np.concatenate([x[1], y[1]]))

    return RequestHistory(
        np.concatenate([a.times, b.times]),
        np.concatenate([a.requests, b.requests]),
        cat(a.isl, b.isl),
        cat(a.osl, b.osl),
        cat(a.ttft, b.ttft),
        cat(a.itl, b.itl),
    )


@dataclass(frozen=True)
class Backfilled:
    url: str
    trace: RequestTrace
    first_boundary: float  # first whole minute after the first arrival
    restart_at: float  # frontend-1 restart (counters reset)
    server: PrometheusServer


def dynamo_history(tr: RequestTrace, every_s: float = SCRAPE_S) -> tuple[str, float]:
    """OpenMetrics text for two frontends serving `tr`, with one restart; and its time."""
    times = scrape_times(tr.arrival_s[0], tr.arrival_s[-1], every_s)
    ttft, itl = synthetic_latencies(tr.isl, tr.osl)
    k = len(times) // 2
    down_from, back_at = times[k], times[k + 2]  # frontend-1 misses two scrapes
    restart = down_from + 0.6 * (back_at - down_from)
    a = tr.arrival_s
    to_one = (np.arange(a.size) % 2 == 1) & ~((a >= down_from) & (a < restart))
    w = OpenMetricsWriter()
    zero = ~to_one
    h0 = request_history(a[zero], tr.isl[zero], tr.osl[zero], times, ttft[zero], itl[zero])
    add_request_history(w, h0, DYNAMO, {**LABELS, "instance": "frontend-0"})
    pre = to_one & (a < restart)
    post = to_one & (a >= restart)
    before, after = times[times <= down_from], times[times >= back_at]
    h1 = _concat(
        request_history(a[pre], tr.isl[pre], tr.osl[pre], before, ttft[pre], itl[pre]),
        request_history(a[post], tr.isl[post], tr.osl[post], after, ttft[post], itl[post]),
    )
    assert h1.requests[len(before)] < h1.requests[len(before) - 1]  # a real counter reset
    add_request_history(w, h1, DYNAMO, {**LABELS, "instance": "frontend-1"})
    # Another model on the same Prometheus: the selector must keep it out.
    other = request_history(a[::50], tr.isl[::50] * 3, tr.osl[::50], times)
    add_request_history(w, other, DYNAMO, {"model": "other", "dynamo_namespace": "llm"})
    return w.render(), float(restart)


@pytest.fixture(scope="session")
def backfilled(
    conv_trace: RequestTrace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backfilled]:
    """One Prometheus for the whole session, backfilled with the conv trace's hour."""
    if not prometheus_available():
        pytest.skip(f"needs prometheus + promtool: {INSTALL_HINT}")
    work = tmp_path_factory.mktemp("prom-conv")
    text, restart = dynamo_history(conv_trace)
    server = PrometheusServer(work, openmetrics=text)
    server.start()
    try:
        first = math.ceil(conv_trace.arrival_s[0] / 60.0) * 60.0
        yield Backfilled(server.url, conv_trace, first, restart, server)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- fake HTTP server

Handler = Callable[[str, dict[str, list[str]], dict[str, str]], tuple[int, object, float]]


class _FakeHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        u = urllib.parse.urlsplit(self.path)
        params = urllib.parse.parse_qs(u.query)
        status, body, delay = self.server.respond(u.path, params, dict(self.headers))  # type: ignore[attr-defined]
        if delay:
            time.sleep(min(delay, 5.0))  # bounded: the test's timeout is far shorter
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout): nothing to do

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def fake_server(respond: Handler, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """A 127.0.0.1 HTTP server answering every GET with respond(path, params, headers) ->
    (status, JSON-able body or bytes, delay_s); HTTPS with `tls` = (cert, key). Stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHandler)
    server.daemon_threads = True
    server.respond = respond  # type: ignore[attr-defined]
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls else "http"
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def counter_matrix(params: dict[str, list[str]], per_step: float = 1.0) -> dict:
    """A Prometheus range-query answer: one counter growing by `per_step` each step, scraped
    every 15 s (so `timestamp(...)` answers the evaluation time, as for a fresh sample, and
    an instant range-vector query `x[300s]` answers the raw samples 15 s apart)."""
    if "start" not in params:  # an instant query of a range vector: raw samples
        at = float(params["time"][0])
        values = [[at - 15.0 * i, str(per_step * (20 - i))] for i in range(20, -1, -1)]
        return {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [{"metric": {"job": "x"}, "values": values}],
            },
        }
    start, end, step = (float(params[k][0]) for k in ("start", "end", "step"))
    n = int(round((end - start) / step)) + 1
    query = params.get("query", [""])[0]
    if query.startswith("timestamp("):
        values = [[start + i * step, str(start + i * step)] for i in range(n)]
    else:
        values = [[start + i * step, str(per_step * i)] for i in range(n)]
    return {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {"job": "x"}, "values": values}]},
    }


@pytest.fixture
def fake_prometheus() -> Callable[[Handler], Any]:
    """`with fake_prometheus(respond) as url:` - see `fake_server`."""
    return fake_server


@pytest.fixture
def matrix() -> Callable[..., dict]:
    return counter_matrix


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from sla_planner.cli.main import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], tuple[int, str, str]]:
    """Run `sla-planner ARGS` in-process: (exit code, stdout, stderr)."""
    return lambda argv: run_cli(argv, capsys)
