"""Why a Prometheus source found no data: one error naming the likely cause and its fix (a
range without data, a selector matching nothing, the other preset's metrics, no such series)."""

from __future__ import annotations

from collections.abc import Sequence

from sla_planner.sources.base import MetricsSourceError
from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_http import Labels, PrometheusHttp, iso
from sla_planner.sources.promql import PRESETS, series_selector


def no_data(
    config: PrometheusConfig,
    http: PrometheusHttp,
    names: Sequence[str],
    start: float,
    end: float,
    step: float = 0.0,
) -> MetricsSourceError:
    sel = config.selector
    shown = series_selector(names[0], sel)
    base = (
        f"no data for {shown} in Prometheus at {config.url} between {iso(start)} "
        f"and {iso(end)} (preset {config.preset!r})"
    )
    try:
        hint = _diagnose(config, http, names, start - max(step, config.lookback_s), end)
    except MetricsSourceError:
        hint = "check --preset (dynamo|vllm) and --selector"
    return MetricsSourceError(f"{base}: {hint}")


def _diagnose(
    config: PrometheusConfig, http: PrometheusHttp, names: Sequence[str], since: float, end: float
) -> str:
    sel = config.selector
    for name in names:
        if http.series(series_selector(name, sel), None, None):
            return (
                f"{name} has data for this selector, but not in that time range; pick "
                "--start/--end where it has data"
            )
        if sel:
            seen = http.series(name, since, end)
            if seen:
                return (
                    f"{name} exists but no series matches the selector {{{sel}}}; its "
                    f"series have labels {_label_summary(seen)}: fix --selector"
                )
    for preset, metrics in PRESETS.items():
        if preset == config.preset:
            continue
        for other in metrics.requests:
            if http.series(series_selector(other, sel), None, None):
                return f"Prometheus has {other}: use --preset {preset}"
    return (
        f"Prometheus has no series named {' or '.join(names)}; check that it scrapes the "
        f"{config.preset} metrics, the --preset, or set a queries override for your "
        "metric names"
    )


def fmt_labels(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"


def _label_summary(series: list[dict[str, str]], limit: int = 4) -> str:
    values: dict[str, set[str]] = {}
    for s in series:
        for k, v in s.items():
            if k not in ("__name__", "le"):
                values.setdefault(k, set()).add(v)
    parts = []
    for k in sorted(values)[:limit]:
        vs = sorted(values[k])
        more = f", ... ({len(vs)})" if len(vs) > 3 else ""
        parts.append(f"{k}=" + "|".join(vs[:3]) + more)
    return ", ".join(parts) or "(none)"
