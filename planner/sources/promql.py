"""PromQL building blocks for the Prometheus source: metric-name presets, label selectors,
durations and user query templates. Pure string work, no I/O."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

Preset = Literal["dynamo", "vllm"]


@dataclass(frozen=True)
class PresetMetrics:
    """Names an engine exports. Each quantity lists alternatives, tried in order (older and
    newer exporter versions); the first with any series in the range is used."""

    requests: tuple[str, ...]  # counter of requests
    isl: tuple[str, ...]  # histogram family of input tokens per request (_sum, _count)
    osl: tuple[str, ...]  # histogram family of output tokens per request
    ttft: tuple[str, ...]  # histogram family, seconds (_sum, _count, _bucket)
    itl: tuple[str, ...]  # histogram family, seconds


PRESETS: dict[str, PresetMetrics] = {
    "dynamo": PresetMetrics(
        requests=("dynamo_frontend_requests_total", "dynamo_frontend_requests_started_total"),
        isl=("dynamo_frontend_input_sequence_tokens",),
        osl=("dynamo_frontend_output_sequence_tokens",),
        ttft=("dynamo_frontend_time_to_first_token_seconds",),
        itl=("dynamo_frontend_inter_token_latency_seconds",),
    ),
    "vllm": PresetMetrics(
        requests=("vllm:request_success_total",),
        isl=("vllm:request_prompt_tokens",),
        osl=("vllm:request_generation_tokens",),
        ttft=("vllm:time_to_first_token_seconds",),
        itl=("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
    ),
}

QUANTITIES = ("requests", "isl", "osl", "ttft_mean", "ttft_p95", "itl_mean", "itl_p95")

# One label matcher: name op "value" (Go/PromQL string escapes inside the quotes).
_MATCHER = r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
_SELECTOR_RE = re.compile(rf"^(?:{_MATCHER}(?:,{_MATCHER})*,?\s*)?$")


def normalize_selector(text: str) -> str:
    """'model="x", namespace="y"' (braces optional) -> 'model="x",namespace="y"'.

    Raises ValueError naming the expected form when the text is not a list of matchers."""
    s = text.strip()
    if s.startswith("{") and s.endswith("}"):
        s = s[1:-1].strip()
    if "'" in s and '"' not in s:
        hint = " (PromQL label values take double quotes)"
    else:
        hint = ""
    if not _SELECTOR_RE.match(s):
        raise ValueError(
            f"selector {text!r} is not a list of PromQL label matchers{hint}; write it like "
            'model="llama",namespace="prod" (operators =, !=, =~, !~)'
        )
    parts = re.findall(_MATCHER, s)
    return ",".join(re.sub(r"\s*(=~|!~|!=|=)\s*", r"\1", p.strip(), count=1) for p in parts)


def series_selector(metric: str, selector: str) -> str:
    """`metric{selector}`; metric names with colons (vLLM) are fine in PromQL."""
    return f"{metric}{{{selector}}}" if selector else metric


def duration(seconds: float) -> str:
    """A PromQL duration literal: whole seconds as '60s', otherwise whole milliseconds."""
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"duration must be a positive number of seconds, got {seconds}")
    ms = round(seconds * 1000)
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{max(ms, 1)}ms"


def counter_at_boundaries(metric: str, selector: str, lookback_s: float) -> str:
    """The newest raw sample of each series at or before the evaluation time, within the
    lookback. `last_over_time` (not a bare selector) so a series that just vanished (a pod that
    stopped, leaving a staleness marker) still shows its final value at the next boundary."""
    return f"last_over_time({series_selector(metric, selector)}[{duration(lookback_s)}])"


def render_override(template: str, window_s: float, selector: str) -> str:
    """Fill a user query: `{window}` -> the interval as a PromQL duration, `{selector}` -> the
    configured label matchers (without braces). Plain replacement: PromQL has its own braces."""
    return template.replace("{window}", duration(window_s)).replace("{selector}", selector)
