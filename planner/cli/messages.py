"""Error messages fit for one line on stderr."""

from __future__ import annotations


def one_line(message: object) -> str:
    return " ".join(str(message).split())


def format_validation_error(err: object) -> str:
    """pydantic ValidationError -> 'field.path: message (got value); ...' on one line."""
    parts = []
    for e in err.errors():  # type: ignore[attr-defined]
        loc = ".".join(str(x) for x in e.get("loc", ())) or "settings"
        got = f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else ""
        parts.append(f"{loc}: {e.get('msg', '')}{got}")
    return "invalid settings: " + "; ".join(parts)
