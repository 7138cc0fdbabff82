"""Root test configuration: make `tests/support` importable as `support` (pytest runs with
--import-mode=importlib, which does not put test directories on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
