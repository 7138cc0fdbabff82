"""The `dry-run` flags for Prometheus as the demand source, and the source they build.

`sla-planner dry-run --prometheus URL --start T [--end T] [--preset dynamo|vllm]
[--selector S] [--prometheus-config FILE]`. The config file is YAML of PrometheusConfig (or a
whole run config, whose `metrics.prometheus` is used); the flags override its fields.
Times: unix seconds, ISO 8601 (UTC unless an offset is given), `now`, `now-7d`; --end also
takes +DURATION after --start. --end defaults to now, rounded down to a whole interval.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sla_planner.cli.arg_types import iso, parse_time
from sla_planner.cli.dryrun_source import SourceSpec
from sla_planner.cli.messages import format_validation_error
from sla_planner.errors import UsageError

_NOW = re.compile(r"^now(?:-(\d+(?:\.\d*)?)([smhdw]?))?$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def add_prometheus_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Prometheus as the demand source (instead of --trace)")
    g.add_argument(
        "--prometheus",
        metavar="URL",
        help="read demand from this Prometheus (server root, e.g. http://prometheus:9090); "
        "needs --start",
    )
    g.add_argument("--preset", choices=("dynamo", "vllm"), help="metric names (default: dynamo)")
    g.add_argument(
        "--selector",
        metavar="MATCHERS",
        help='label matchers added to every metric, e.g. model="llama",namespace="llm"',
    )
    g.add_argument(
        "--prometheus-config",
        metavar="FILE",
        help="YAML of the Prometheus settings (url, preset, selector, queries, bearer_token_file, "
        "ca_file, timeout_s, ...) or a run config; flags override it",
    )


def wants_prometheus(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "prometheus", None) or getattr(args, "prometheus_config", None))


def load_prometheus_config(args: argparse.Namespace) -> Any:
    """PrometheusConfig from --prometheus-config (if any) overridden by the flags."""
    import yaml
    from pydantic import ValidationError

    from sla_planner.sources.prometheus_config import PrometheusConfig

    data: dict[str, Any] = {}
    if args.prometheus_config:
        path = Path(args.prometheus_config)
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as e:
            raise UsageError(
                f"--prometheus-config {path}: cannot read ({e.strerror or e}); check the path"
            ) from None
        except yaml.YAMLError as e:
            raise UsageError(
                f"--prometheus-config {path}: not valid YAML ({' '.join(str(e).split())})"
            ) from None
        if isinstance(loaded, dict) and isinstance(loaded.get("metrics"), dict):
            loaded = loaded["metrics"].get("prometheus")  # a whole run config
        if not isinstance(loaded, dict):
            raise UsageError(
                f"--prometheus-config {path}: expected a mapping of Prometheus settings "
                "(url, preset, selector, ...)"
            )
        data = dict(loaded)
    for flag, key in (
        ("prometheus", "url"),
        ("preset", "preset"),
        ("selector", "selector"),
        ("peak_window_s", "peak_window_s"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            data[key] = value
    if "url" not in data:
        raise UsageError(
            "no Prometheus URL: pass --prometheus URL or put url: in --prometheus-config"
        )
    try:
        return PrometheusConfig.model_validate(data)
    except ValidationError as e:
        where = f"--prometheus-config {args.prometheus_config}: " if args.prometheus_config else ""
        msg = format_validation_error(e).replace("invalid settings: ", "")
        msg = msg.replace("url:", "--prometheus:" if args.prometheus else "url:")
        raise UsageError(f"{where}invalid Prometheus settings: {msg}") from None


def parse_prom_time(text: str, flag: str, now: float, origin: float | None) -> float:
    """`now`, `now-DURATION`, or what the trace dry run accepts (unix s, ISO, +DURATION)."""
    t = text.strip()
    m = _NOW.match(t)
    if m:
        return now - (float(m.group(1)) * _UNIT_S[m.group(2)] if m.group(1) else 0.0)
    if t.startswith("+") and origin is None:
        raise UsageError(f"{flag} {text!r}: +DURATION is only for --end (after --start)")
    return parse_time(t, origin if origin is not None else 0.0, flag)


def build_prometheus_spec(
    args: argparse.Namespace,
    history_window: int,
    clock: Callable[[], float] = time.time,
) -> SourceSpec:
    """SourceSpec for the dry run over Prometheus (warm-up: the history that exists before
    --start, up to `history_window` intervals)."""
    from sla_planner.sources.prometheus_source import PrometheusSource

    if getattr(args, "trace", None) or getattr(args, "tokens_from", None):
        raise UsageError("--trace/--tokens-from and --prometheus are two sources; pick one")
    if getattr(args, "rate_scale", None) not in (None, 1.0):
        raise UsageError("--rate-scale applies to traces only; drop it with --prometheus")
    config = load_prometheus_config(args)
    if not args.start:
        raise UsageError(
            "--start is required with --prometheus, e.g. --start 2024-05-12T00:00:00 or now-1d"
        )
    step = args.interval_s
    now = clock()
    start = parse_prom_time(args.start, "--start", now, None)
    if args.end:
        end = parse_prom_time(args.end, "--end", now, start)
    else:
        end = math.floor(now / step) * step
    if end > now + 1e-6:
        raise UsageError(f"--end {iso(end)} is in the future; Prometheus has data up to now")
    if end <= start:
        raise UsageError(f"--end {iso(end)} is not after --start {iso(start)}")
    source = PrometheusSource(config)
    wanted = history_window if args.warmup is None else min(args.warmup, history_window)
    warm = source.available_history(start, step, wanted)
    settings = {
        "source": "prometheus",
        "prometheus": config.model_dump(mode="json"),
    }
    return SourceSpec(source, start, end, warm, settings, label=f"Prometheus {config.url}")
