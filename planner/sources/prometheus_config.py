"""Prometheus source settings (validated: a bad value names the field and the fix)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from sla_planner.sources.promql import (
    normalize_selector,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueryOverrides(_Strict):
    """Your own PromQL per quantity, evaluated at each interval end. `{window}` is replaced by
    the interval (e.g. `60s`), `{selector}` by the configured label matchers."""

    requests: str | None = Field(
        None,
        description="requests in the window, e.g. sum(increase(my_requests_total{{selector}}[{window}]))",
    )
    isl: str | None = Field(None, description="mean input tokens per request")
    osl: str | None = Field(None, description="mean output tokens per request")
    ttft_mean: str | None = Field(None, description="mean TTFT, seconds")
    ttft_p95: str | None = Field(None, description="p95 TTFT, seconds")
    itl_mean: str | None = Field(None, description="mean ITL, seconds")
    itl_p95: str | None = Field(None, description="p95 ITL, seconds")

    @field_validator("*")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("an override query must not be empty; remove the key instead")
        return v


class PrometheusConfig(_Strict):
    """Where and how to read demand from Prometheus (YAML: `metrics.prometheus` of the run
    config, or the file given to `dry-run --prometheus-config`)."""

    url: str = Field(description="Prometheus server root, e.g. http://prometheus:9090")
    preset: Literal["dynamo", "vllm"] = Field(
        "dynamo", description="metric names: Dynamo frontend or vLLM engine"
    )
    selector: str = Field(
        "", description='label matchers added to every metric, e.g. model="llama",namespace="llm"'
    )
    queries: QueryOverrides = QueryOverrides()
    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = Field(
        None, description="file holding the bearer token (re-read on every query)"
    )
    ca_file: Path | None = Field(
        None, description="CA bundle to verify Prometheus' TLS certificate"
    )
    insecure_skip_verify: bool = False
    # Finite and bounded: an infinite timeout or lookback reached httpx / PromQL as an
    # 'internal error' (a timestamp out of range, a duration literal of inf).
    timeout_s: float = Field(
        30.0, gt=0, le=3600, allow_inf_nan=False, description="per-request timeout, seconds"
    )
    max_points_per_query: int = Field(
        11000, ge=2, description="range queries are split to stay within this many points"
    )
    lookback_s: float = Field(
        300.0,
        gt=0,
        le=7 * 86400,
        allow_inf_nan=False,
        description="how far back a boundary looks for a counter's last sample",
    )
    retries: int = Field(2, ge=0, le=10, description="retries of failed connections and 502-504")
    max_sample_age_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description=(
            "an interval whose end has no request-counter sample younger than this is "
            "incomplete (a scrape gap): it never drives a scale-down. Default: 2 x the scrape "
            "interval (read from the data) + 1 s"
        ),
    )
    peak_window_s: float | None = Field(
        None,
        gt=0,
        le=86400,
        allow_inf_nan=False,
        description=(
            "sub-window for each interval's peak request rate (bursts the interval mean hides); "
            "at least two scrape intervals, and the planning interval must hold two or more "
            "whole sub-windows. Unset: no peak data (the planner assumes burst_fallback)"
        ),
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        u = urlsplit(v.strip())
        if u.scheme not in ("http", "https") or not u.netloc:
            raise ValueError(f"{v!r} is not an http(s) URL; use e.g. http://prometheus:9090")
        return v.strip().rstrip("/")

    @field_validator("selector")
    @classmethod
    def _selector(cls, v: str) -> str:
        return normalize_selector(v)

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"ca_file {v} is not a readable file; give the CA bundle's path")
        return v

    @model_validator(mode="after")
    def _exclusive(self) -> PrometheusConfig:
        if self.bearer_token is not None and self.bearer_token_file is not None:
            raise ValueError("give bearer_token or bearer_token_file, not both")
        if self.ca_file is not None and self.insecure_skip_verify:
            raise ValueError("ca_file and insecure_skip_verify contradict each other; keep one")
        return self
