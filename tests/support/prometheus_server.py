"""A real Prometheus server for tests: started on 127.0.0.1 with a temporary TSDB, stopped after.

Uses Debian's `prometheus` and `promtool` binaries (``apt-get install -y --no-install-recommends
prometheus``; the package does not start a server by itself). Two uses:

* **backfilled history**: give OpenMetrics text (see `support.openmetrics`); it is turned into
  TSDB blocks with ``promtool tsdb create-blocks-from openmetrics`` in the data directory BEFORE
  the server starts (Prometheus only loads blocks at start-up, and backfilled samples must be
  older than its head), with a long retention so old timestamps (e.g. a 2023 trace) are not
  deleted at start-up;
* **live scraping**: give ``scrape_targets`` (``host:port`` on 127.0.0.1) and it scrapes them
  every ``scrape_interval_s`` (1 s by default), e.g. the planner's own ``/metrics``.

Example::

    with PrometheusServer(tmp_path, openmetrics=text) as prom:
        prom.query("sum(dynamo_frontend_requests_total)", at=t)   # -> list of result dicts
    with PrometheusServer(tmp_path, scrape_targets=["127.0.0.1:8080"]) as prom:
        prom.wait_for("sla_planner_gpus_used", lambda r: bool(r))

As a pytest fixture::

    @pytest.fixture
    def prom(tmp_path):
        with PrometheusServer(tmp_path) as server:
            yield server

The server talks only to 127.0.0.1. `stop()` (also on exit of the ``with``) terminates it and
waits; the TSDB lives under the given work directory.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PROMETHEUS_BIN = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL_BIN = shutil.which("promtool") or "/usr/bin/promtool"
INSTALL_HINT = "apt-get update && apt-get install -y --no-install-recommends prometheus"


def prometheus_available() -> bool:
    return Path(PROMETHEUS_BIN).exists() and Path(PROMTOOL_BIN).exists()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backfill(openmetrics: str | Path, data_dir: Path) -> None:
    """Create TSDB blocks in `data_dir` from OpenMetrics text or a file path.

    promtool needs timestamps in seconds, ascending per series, families contiguous and a
    final ``# EOF``; it cuts blocks on 2 h boundaries. Run it before the server starts.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(openmetrics, Path):
        src = openmetrics
    else:
        src = data_dir.parent / "backfill.om"
        src.write_text(openmetrics)
    proc = subprocess.run(
        [
            PROMTOOL_BIN,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--quiet",
            str(src),
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"promtool backfill failed ({proc.returncode}): {proc.stderr[-2000:]}")


class PrometheusServer:
    """One Prometheus process on 127.0.0.1:<free port> with its TSDB under `workdir`."""

    def __init__(
        self,
        workdir: Path,
        *,
        openmetrics: str | Path | None = None,
        scrape_targets: Sequence[str] = (),
        scrape_interval_s: float = 1.0,
        metrics_path: str = "/metrics",
        job: str = "test",
        retention: str = "100y",
        extra_flags: Sequence[str] = (),
        startup_timeout_s: float = 30.0,
    ) -> None:
        if not prometheus_available():
            raise RuntimeError(f"needs prometheus and promtool: {INSTALL_HINT}")
        self.workdir = Path(workdir) / "prometheus"
        self.data_dir = self.workdir / "data"
        self.openmetrics = openmetrics
        self.scrape_targets = list(scrape_targets)
        self.scrape_interval_s = scrape_interval_s
        self.metrics_path = metrics_path
        self.job = job
        self.retention = retention
        self.extra_flags = list(extra_flags)
        self.startup_timeout_s = startup_timeout_s
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text()[-chars:]
        except OSError:
            return ""

    def _config(self) -> str:
        every = f"{self.scrape_interval_s:g}s"
        lines = [f"global: {{scrape_interval: {every}, evaluation_interval: {every}}}"]
        if self.scrape_targets:
            targets = ", ".join(f"'{t}'" for t in self.scrape_targets)
            lines += [
                "scrape_configs:",
                f"  - job_name: {self.job}",
                f"    metrics_path: {self.metrics_path}",
                f"    static_configs: [{{targets: [{targets}]}}]",
            ]
        return "\n".join(lines) + "\n"

    def start(self) -> PrometheusServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.openmetrics is not None:
            backfill(self.openmetrics, self.data_dir)
        cfg = self.workdir / "prometheus.yml"
        cfg.write_text(self._config())
        self.port = free_port()
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [
                PROMETHEUS_BIN,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--storage.tsdb.retention.time={self.retention}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *self.extra_flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"prometheus exited at start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus not ready in {self.startup_timeout_s} s")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ queries (test helpers)

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path> and return the `data` field (raises on an error status)."""
        qs = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{qs}", timeout=30) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus error: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; the list of {metric, value} results."""
        return self.api("query", query=expr, time=at)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout_s: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Poll an instant query until `predicate(result)` holds (e.g. a scrape has landed)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr!r} never satisfied the condition; last: {result}")
            time.sleep(0.2)
