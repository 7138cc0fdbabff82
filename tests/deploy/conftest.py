"""Fixtures for the deploy/ tests: the helpers in deploy_manifests.py and the shared fake API."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent)):  # deploy_manifests, and tests/support
    if _p not in sys.path:
        sys.path.insert(0, _p)
