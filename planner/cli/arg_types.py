"""Argument types and time parsing shared by the subcommands: each bad value is one clear line."""

from __future__ import annotations

import argparse
import math
import re
from datetime import datetime, timezone
from typing import Any

from sla_planner.errors import UsageError
from sla_planner.model.config import check_time


def _typed(kind: type, check: Any, what: str) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what
    return parse


positive_float = _typed(float, lambda x: x > 0 and math.isfinite(x), "a number > 0")
nonneg_float = _typed(float, lambda x: x >= 0 and math.isfinite(x), "a number >= 0")
positive_int = _typed(int, lambda x: x > 0, "an integer > 0")
# --rate-scale: 10,000x a trace's rate is past any what-if (the bundled hour becomes ~55k req/s);
# beyond it the counts mean nothing and would only test the replica ceilings.
MAX_RATE_SCALE = 10_000.0
rate_scale = _typed(
    float, lambda x: 0 < x <= MAX_RATE_SCALE, f"a number > 0 and <= {MAX_RATE_SCALE:g}"
)
nonneg_int = _typed(int, lambda x: x >= 0, "an integer >= 0")


def attainment(text: str) -> float | None:
    """An SLO attainment target: a share in [0.5, 1) (0.99) or a percentage (99.9), or
    off/none for fixed-margin sizing."""
    t = text.strip().lower()
    if t in ("off", "none", "null"):
        return None
    what = "an attainment target: a share such as 0.99 or 99.9 (%), or 'off'"
    try:
        value = float(t.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if t.endswith("%") or value >= 1.0:
        value = round(value / 100.0, 12)  # 99.9 -> 0.999, not 0.9990000000000001
    if not (math.isfinite(value) and 0.5 <= value < 1.0):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what} between 50% and 100%")
    return value


class HelpFormatter(argparse.HelpFormatter):
    """Show defaults that say something (not None/False) without repeating them."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and not any(
            action.default is x for x in (None, False, argparse.SUPPRESS)
        ):
            if "default" not in text:
                text += " (default: %(default)s)"
        return text


_DURATION = re.compile(r"^\+(\d+(?:\.\d*)?)([smhd]?)$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_time(text: str, origin: float, flag: str) -> float:
    """unix seconds | ISO 8601 (naive = UTC) | +DURATION (s/m/h/d) after `origin`; between
    1970 and 9999 (model.config.MAX_UNIX_S), else UsageError."""
    value = _parse_time(text, origin, flag)
    try:
        return check_time(value, f"{flag} {text!r}:")
    except ValueError as e:
        raise UsageError(str(e)) from None


def _parse_time(text: str, origin: float, flag: str) -> float:
    t = text.strip()
    m = _DURATION.match(t)
    if m:
        return origin + float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        return float(t)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not a time; use unix seconds, an ISO date-time such as "
            "2024-05-12T06:00:00 (UTC), or +DURATION such as +6h"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def iso(t: float) -> str:
    """ISO 8601 UTC; a time datetime cannot show as its unix seconds (messages must print)."""
    try:
        return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return f"{t:g} (unix s)"
