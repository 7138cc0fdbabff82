"""What KEDA's metrics-api scaler does with the planner's JSON: a GJSON path (`valueLocation`)
to a JSON number."""

from __future__ import annotations

import json
import re


def gjson_get(doc: object, path: str) -> object:
    """Resolve a GJSON path (the syntax of KEDA's valueLocation for format json): dot-separated
    keys, numeric components index arrays, `#` is an array's length, `\\.` escapes a dot.
    Returns KeyError when the path does not resolve, like gjson's non-existent result."""
    parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", path)]
    cur = doc
    for part in parts:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part == "#":
            cur = len(cur)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(f"valueLocation {path!r}: {part!r} does not resolve")
    return cur


def keda_metric_value(body: bytes, value_location: str) -> float:
    """What KEDA's metrics-api scaler does with a JSON reply: the value at valueLocation must be
    a JSON number (gjson.Number), else the scaler errors."""
    value = gjson_get(json.loads(body), value_location)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"valueLocation must point to value of type number, got {value!r}")
    return float(value)
