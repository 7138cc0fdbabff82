"""Failures reach the dry-run CLI as ONE clear line (no traceback): Prometheus down, slow,
failing, rejecting the query, empty, refusing access; and the source's own error messages."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from support.prometheus_server import free_port

from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_source import PrometheusSource

pytestmark = pytest.mark.slow  # real Prometheus server

T0 = 1_700_158_560  # a whole minute inside the backfilled hour
RANGE = ["--start", str(T0), "--end", str(T0 + 600), "--no-plot"]


def _one_clear_line(err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("sla-planner: error: ")
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_prometheus_down(cli, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code, _out, err = cli(["dry-run", "--prometheus", url, "--out", str(tmp_path), *RANGE])
    assert code == 1
    _one_clear_line(err, f"cannot connect to Prometheus at {url}", "Connection refused", "running")
    assert not (tmp_path / "decisions.csv").exists()


def test_prometheus_slow(cli, tmp_path, fake_prometheus, matrix):
    cfg = tmp_path / "prom.yaml"
    with fake_prometheus(lambda path, params, headers: (200, matrix(params), 3.0)) as url:
        cfg.write_text(f"url: {url}\ntimeout_s: 0.5\n")
        t = time.monotonic()
        code, _out, err = cli(
            ["dry-run", "--prometheus-config", str(cfg), "--out", str(tmp_path / "o"), *RANGE]
        )
        waited = time.monotonic() - t
    assert code == 1
    _one_clear_line(err, "did not answer within 0.5 s", "raise timeout_s")
    assert waited < 3.0  # gave up at the timeout, not after the server's answer (no retries)


def test_prometheus_http_500(cli, tmp_path, fake_prometheus):
    body = {"status": "error", "errorType": "internal", "error": "disk on fire"}
    with fake_prometheus(lambda path, params, headers: (500, body, 0)) as url:
        code, _out, err = cli(["dry-run", "--prometheus", url, "--out", str(tmp_path), *RANGE])
    assert code == 1
    _one_clear_line(err, "HTTP 500", "disk on fire", "logs")


def test_not_prometheus_at_that_url(cli, tmp_path, fake_prometheus):
    with fake_prometheus(lambda path, params, headers: (200, b"<html>Grafana</html>", 0)) as url:
        code, _out, err = cli(["dry-run", "--prometheus", url, "--out", str(tmp_path), *RANGE])
    assert code == 1
    _one_clear_line(err, "not Prometheus' API JSON", "server root")


def test_bad_query_from_a_real_prometheus(cli, tmp_path, backfilled):
    code, _out, err = cli(
        [
            "dry-run",
            "--prometheus",
            backfilled.url,
            "--selector",
            'model=~"("',
            "--out",
            str(tmp_path),
            *RANGE,
        ]
    )
    assert code == 1
    _one_clear_line(err, "rejected the query", "parse error", "fix the selector")


def test_empty_data_names_metric_selector_and_fix(cli, tmp_path, backfilled):
    code, _out, err = cli(
        [
            "dry-run",
            "--prometheus",
            backfilled.url,
            "--selector",
            'model="mistral"',
            "--out",
            str(tmp_path),
            *RANGE,
        ]
    )
    assert code == 1
    _one_clear_line(
        err,
        'no data for dynamo_frontend_requests_total{model="mistral"}',
        "no series matches the selector",
        "model=llama-3.1-8b|other",
        "fix --selector",
    )
    code, _out, err = cli(
        [
            "dry-run",
            "--prometheus",
            backfilled.url,
            "--preset",
            "vllm",
            "--out",
            str(tmp_path),
            *RANGE,
        ]
    )
    assert code == 1
    _one_clear_line(err, "no data for vllm:request_success_total", "use --preset dynamo")
    code, _out, err = cli(
        ["dry-run", "--prometheus", backfilled.url, "--out", str(tmp_path),
         "--start", str(T0 - 86400 * 30), "--end", str(T0 - 86400 * 29), "--no-plot"]
    )  # fmt: skip
    assert code == 1
    _one_clear_line(err, "not in that time range", "--start/--end")


def test_auth_refused_then_accepted_with_a_token_file(tmp_path, fake_prometheus, matrix):
    seen: list[str | None] = []

    def respond(path, params, headers):
        seen.append(headers.get("Authorization"))
        if headers.get("Authorization") != "Bearer s3cret":
            return 401, {"status": "error", "error": "unauthorized"}, 0
        return 200, matrix(params, per_step=2.0), 0

    with fake_prometheus(respond) as url:
        with pytest.raises(MetricsSourceError, match="refused access .*HTTP 401.*bearer_token"):
            PrometheusSource(PrometheusConfig(url=url)).fetch(T0, T0 + 300, 60)
        token = tmp_path / "token"
        token.write_text("s3cret\n")
        src = PrometheusSource(PrometheusConfig(url=url, bearer_token_file=token))
        got = src.fetch(T0, T0 + 300, 60)
    assert [s.requests for s in got] == [2.0] * 5
    assert seen[-1] == "Bearer s3cret" and seen[0] is None


def test_cli_usage_errors(cli, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    code, _o, err = cli(["dry-run", "--prometheus", url, "--out", str(tmp_path), "--no-plot"])
    assert code == 2
    _one_clear_line(err, "--start is required with --prometheus")
    code, _o, err = cli(
        [
            "dry-run",
            "--prometheus",
            url,
            "--selector",
            "model=llama",
            "--out",
            str(tmp_path),
            *RANGE,
        ]
    )
    assert code == 2
    _one_clear_line(err, "not a list of PromQL label matchers", 'model="llama"')
    code, _o, err = cli(
        ["dry-run", "--prometheus", url, "--trace", "x.csv", "--out", str(tmp_path), *RANGE]
    )
    assert code == 2
    _one_clear_line(err, "pick one")
    code, _o, err = cli(
        ["dry-run", "--prometheus", "prometheus:9090", "--out", str(tmp_path), *RANGE]
    )
    assert code == 2
    _one_clear_line(err, "--prometheus", "not an http(s) URL")
    bad = tmp_path / "p.yaml"
    bad.write_text("url: http://x:9090\ntimeout: 3\n")
    code, _o, err = cli(
        ["dry-run", "--prometheus-config", str(bad), "--out", str(tmp_path), *RANGE]
    )
    assert code == 2
    _one_clear_line(err, str(bad), "timeout", "Extra inputs are not permitted")


def test_override_must_return_one_series(tmp_path, fake_prometheus, matrix):
    def respond(path, params, headers):
        body = matrix(params)
        if "isl" in params["query"][0]:
            twin = dict(body["data"]["result"][0], metric={"job": "y"})
            body["data"]["result"].append(twin)
        return 200, body, 0

    with fake_prometheus(respond) as url:
        cfg = PrometheusConfig(
            url=url,
            queries={"requests": "sum(increase(r[{window}]))", "isl": "isl[{window}]", "osl": "o"},
        )
        with pytest.raises(MetricsSourceError, match="returned 2 series .* aggregate it"):
            PrometheusSource(cfg).fetch(T0, T0 + 300, 60)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_tls_needs_the_ca_bundle(tmp_path, fake_prometheus, matrix):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    with fake_prometheus(lambda p, params, h: (200, matrix(params), 0), tls=(cert, key)) as url:
        assert url.startswith("https://")
        with pytest.raises(MetricsSourceError, match="TLS verification .* set ca_file"):
            PrometheusSource(PrometheusConfig(url=url, retries=0)).fetch(T0, T0 + 120, 60)
        for cfg in (
            PrometheusConfig(url=url, ca_file=cert),
            PrometheusConfig(url=url, insecure_skip_verify=True),
        ):
            assert [s.requests for s in PrometheusSource(cfg).fetch(T0, T0 + 120, 60)] == [1, 1]
