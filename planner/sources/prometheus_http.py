"""HTTP access to Prometheus' query API through prometheus-api-client, with every failure
turned into one MetricsSourceError that names the problem and the fix.

Range queries are split so no request asks for more than `max_points` points per series
(Prometheus rejects more than 11,000), and results are returned as per-series arrays on the
requested time grid (NaN where a series has no point).
"""

from __future__ import annotations

import ast
import json
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import requests
import urllib3
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from sla_planner.sources.base import MetricsSourceError

Labels = tuple[tuple[str, str], ...]


def iso(t: float) -> str:
    """ISO 8601 UTC; a time datetime cannot show as its unix seconds (messages must print)."""
    try:
        return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return f"{t:g} (unix s)"


@dataclass(frozen=True)
class HttpSettings:
    url: str
    timeout_s: float = 30.0
    bearer_token: str | None = None
    bearer_token_file: Path | None = None
    ca_file: Path | None = None
    insecure_skip_verify: bool = False
    retries: int = 2  # connection attempts retried (not timeouts: a slow server stays slow)


@dataclass
class QueryLog:
    """What was asked of Prometheus (tests and debugging)."""

    calls: list[tuple[str, float, float, float]] = field(default_factory=list)


class PrometheusHttp:
    """Thin, typed wrapper over PrometheusConnect for range queries and the series API."""

    def __init__(
        self, settings: HttpSettings, connect: Callable[..., PrometheusConnect] = PrometheusConnect
    ) -> None:
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self.log = QueryLog()
        session = requests.Session()
        if settings.insecure_skip_verify:
            session.verify = False
        elif settings.ca_file is not None:
            session.verify = str(settings.ca_file)
        retry = Retry(
            total=settings.retries,
            connect=settings.retries,
            read=False,  # re-raise read timeouts at once (as requests' ReadTimeout)
            status=settings.retries,
            status_forcelist=(502, 503, 504),
            backoff_factor=0.2,
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,  # the last answer is returned and reported with its body
        )
        self._prom = connect(
            url=self.url,
            headers=None,
            retry=retry,
            session=session,
            timeout=settings.timeout_s,
        )

    def close(self) -> None:
        self._prom.close()

    # ------------------------------------------------------------------ auth

    def _refresh_auth(self) -> None:
        """Bearer token from the config or the file (re-read each time: mounted tokens rotate)."""
        s = self.settings
        token = s.bearer_token
        if s.bearer_token_file is not None:
            try:
                token = s.bearer_token_file.read_text().strip()
            except OSError as e:
                raise MetricsSourceError(
                    f"cannot read bearer_token_file {s.bearer_token_file} ({e.strerror or e}); "
                    "check the path and that the token is mounted"
                ) from None
            if not token:
                raise MetricsSourceError(
                    f"bearer_token_file {s.bearer_token_file} is empty; mount a token into it"
                )
        self._prom.headers = {"Authorization": f"Bearer {token}"} if token else None

    # ------------------------------------------------------------------ queries

    def query_range(
        self, expr: str, start: float, end: float, step_s: float, max_points: int
    ) -> dict[Labels, np.ndarray]:
        """Evaluate `expr` at start, start + step, ..., end (inclusive); per series (its label
        set) an array of values on that grid, NaN where absent (also for NaN/Inf samples).
        Split into requests of at most `max_points` points each."""
        npts = int(round((end - start) / step_s)) + 1
        out: dict[Labels, np.ndarray] = {}
        self._refresh_auth()
        for a in range(0, npts, max_points):
            b = min(a + max_points, npts) - 1
            t0, t1 = start + a * step_s, start + b * step_s
            for labels, times, vals in self._range(expr, t0, t1, step_s):
                arr = out.get(labels)
                if arr is None:
                    arr = out[labels] = np.full(npts, math.nan)
                k = np.rint((times - start) / step_s).astype(np.int64)
                ok = (k >= 0) & (k < npts)
                arr[k[ok]] = vals[ok]
        for arr in out.values():
            arr[~np.isfinite(arr)] = math.nan
        return out

    def _range(
        self, expr: str, start: float, end: float, step_s: float
    ) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
        self.log.calls.append((expr, start, end, step_s))
        # Exact start/end in `params`: the library rounds its own to whole seconds.
        params = {
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "timeout": f"{self.settings.timeout_s:g}s",
        }
        now = datetime.now(tz=timezone.utc)
        what = f"query {expr!r} over {iso(start)} .. {iso(end)}"
        result = self._call(
            lambda: self._prom.custom_query_range(expr, now, now, f"{step_s:g}", params=params),
            what,
            expr,
        )
        return self._matrix(result, what)

    def samples(self, expr: str, at: float) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
        """The raw samples of a range-vector selector (`metric{...}[5m]`) evaluated at `at`:
        per series (labels, sample times, values), as Prometheus stored them."""
        self._refresh_auth()
        self.log.calls.append((expr, at, at, 0.0))
        params = {"time": f"{at:.3f}", "timeout": f"{self.settings.timeout_s:g}s"}
        what = f"query {expr!r} at {iso(at)}"
        result = self._call(lambda: self._prom.custom_query(expr, params=params), what, expr)
        return self._matrix(result, what)

    def _matrix(self, result: Any, what: str) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
        series = []
        for item in result:
            try:
                labels = tuple(sorted((str(k), str(v)) for k, v in item["metric"].items()))
                pts = item["values"]
                times = np.array([float(p[0]) for p in pts])
                vals = np.array([float(p[1]) for p in pts])
            except (KeyError, TypeError, ValueError, IndexError):
                raise MetricsSourceError(
                    f"Prometheus at {self.url} answered {what} with data that is not a range "
                    "vector; check that the URL points at Prometheus' API"
                ) from None
            series.append((labels, times, vals))
        return series

    def series(self, match: str, start: float | None, end: float | None) -> list[dict[str, str]]:
        """Label sets of the series matching `match` between start and end (all time when
        None): the series API reads only the index, so it is cheap."""
        self._refresh_auth()
        lo = datetime.fromtimestamp(0 if start is None else start, tz=timezone.utc)
        hi = (
            datetime.now(tz=timezone.utc)
            if end is None
            else datetime.fromtimestamp(end, tz=timezone.utc)
        )
        return list(
            self._call(
                lambda: self._prom.get_series(lo, hi, params={"match[]": match}),
                f"series {match!r}",
                match,
            )
        )

    # ------------------------------------------------------------------ errors

    def _call(self, fn: Callable[[], Any], what: str, expr: str) -> Any:
        s = self.settings
        try:
            if s.insecure_skip_verify:
                # Opted in explicitly: don't repeat urllib3's warning on every query.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    return fn()
            return fn()
        except requests.exceptions.SSLError as e:
            fix = (
                f"set ca_file to the CA bundle that signed its certificate (now {s.ca_file})"
                if s.ca_file
                else "set ca_file to the CA bundle that signed its certificate, or "
                "insecure_skip_verify: true to skip the check (not for production)"
            )
            raise MetricsSourceError(
                f"TLS verification of Prometheus at {self.url} failed ({_reason(e)}); {fix}"
            ) from None
        except requests.exceptions.Timeout:
            raise MetricsSourceError(
                f"Prometheus at {self.url} did not answer within {s.timeout_s:g} s ({what}); it "
                "may be overloaded or the query too heavy: raise timeout_s, or use a shorter "
                "range or a longer interval"
            ) from None
        except requests.exceptions.ConnectionError as e:
            raise MetricsSourceError(
                f"cannot connect to Prometheus at {self.url} ({_reason(e)}); check the URL and "
                "that Prometheus is running and reachable from here"
            ) from None
        except requests.exceptions.JSONDecodeError:
            raise self._not_api(what) from None
        except requests.exceptions.RequestException as e:
            raise MetricsSourceError(
                f"request to Prometheus at {self.url} failed ({_reason(e)}); check the URL"
            ) from None
        except PrometheusApiClientException as e:
            raise self._http_error(str(e), what, expr) from None
        except (ValueError, KeyError, TypeError):  # 200 but not the Prometheus API's JSON
            raise self._not_api(what) from None

    def _not_api(self, what: str) -> MetricsSourceError:
        return MetricsSourceError(
            f"the server at {self.url} answered {what} with something that is not "
            "Prometheus' API JSON; the URL should be the Prometheus server root (e.g. "
            "http://prometheus:9090, plus any path prefix it is served under)"
        )

    def _http_error(self, text: str, what: str, expr: str) -> MetricsSourceError:
        code, body = _parse_client_error(text)
        detail = body.get("error") or body.get("_raw", "")[:300]
        kind = body.get("errorType", "")
        where = f"Prometheus at {self.url}"
        if code in (401, 403):
            return MetricsSourceError(
                f"{where} refused access (HTTP {code}{': ' + detail if detail else ''}); set "
                "bearer_token or bearer_token_file to a token allowed to query it"
            )
        if code == 404:
            return MetricsSourceError(
                f"no Prometheus query API at {self.url}/api/v1 (HTTP 404); the URL should be the "
                "Prometheus server root (e.g. http://prometheus:9090, plus any path prefix)"
            )
        if "maximum resolution" in detail or "points per timeseries" in detail:
            return MetricsSourceError(
                f"{where} refused {what}: {detail}; lower max_points_per_query (Prometheus "
                "allows at most 11000 points per series)"
            )
        if code == 400 or kind == "bad_data":
            return MetricsSourceError(
                f"{where} rejected the query {expr!r} (HTTP {code}: {detail}); fix the selector "
                '(label matchers like model="llama") or the query override'
            )
        if code == 422 or kind == "execution":
            return MetricsSourceError(
                f"{where} could not run {what} (HTTP {code}: {detail}); check the query and "
                "the time range"
            )
        if kind == "timeout" or code == 503 and "timeout" in detail.lower():
            return MetricsSourceError(
                f"{where} timed out running {what} ({detail}); use a shorter range or a longer "
                "interval, or raise timeout_s"
            )
        return MetricsSourceError(
            f"{where} failed on {what} (HTTP {code}{': ' + detail if detail else ''}); the "
            "server has a problem: check its health and logs, then retry"
        )


def _reason(e: BaseException) -> str:
    """The innermost useful cause ('Connection refused', 'certificate verify failed', ...)."""
    text = str(e)
    for pat in (r"\[Errno -?\d+\] ([^'\")]+)", r"(certificate verify failed[^'\")]*)"):
        m = re.search(pat, text)
        if m:
            return m.group(1).strip()
    return text[:200]


def _parse_client_error(text: str) -> tuple[int, dict[str, str]]:
    """prometheus-api-client raises 'HTTP Status Code 400 (b'{...}')': get the code and body."""
    m = re.match(r"HTTP Status Code (\d+) \((.*)\)\s*$", text, re.S)
    if not m:
        return 0, {"_raw": text}
    code = int(m.group(1))
    raw = m.group(2)
    try:
        content = ast.literal_eval(raw)
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
    except (ValueError, SyntaxError):
        content = raw
    try:
        body = json.loads(content)
        if isinstance(body, dict):
            return code, {k: str(v) for k, v in body.items()}
    except (TypeError, ValueError):
        pass
    return code, {"_raw": " ".join(str(content).split())}


def http_from_config(config: Any) -> PrometheusHttp:
    """The client a PrometheusConfig describes (URL, auth, TLS, timeout, retries)."""
    token = config.bearer_token.get_secret_value() if config.bearer_token else None
    return PrometheusHttp(
        HttpSettings(
            url=config.url,
            timeout_s=config.timeout_s,
            bearer_token=token,
            bearer_token_file=config.bearer_token_file,
            ca_file=config.ca_file,
            insecure_skip_verify=config.insecure_skip_verify,
            retries=config.retries,
        )
    )
