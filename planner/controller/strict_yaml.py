"""YAML that refuses duplicate keys. PyYAML's safe_load silently keeps the last of two equal
keys, so a config edited in two places would run with whichever came last; this loader raises
instead, naming the key and both lines."""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping repeats a key; `key`, `line` (1-based) and `first_line` say where."""

    def __init__(self, key: object, line: int, first_line: int, mark: yaml.Mark) -> None:
        super().__init__(
            None,
            None,
            f"duplicate key {key!r} at line {line} (first at line {first_line}); keep one",
            mark,
        )
        self.key, self.line, self.first_line = key, line, first_line


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: safe_load's own error follows
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise DuplicateKeyError(key, line, first, key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_strict(text: str) -> Any:
    """yaml.safe_load, except that a repeated mapping key raises DuplicateKeyError."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
