"""Import stubs for NVIDIA's AISimulate packages, which no public package index serves.

ai-dynamo 1.6.1 imports `aisimulate.runner` at module level in `dynamo.replay.config` (so in
`dynamo.replay.planner`) and `aisimulate_core.sdk` in the planner's performance-model package
(`dynamo.planner.core.perf_model`), which Dynamo's profile converter and every planner mode
import. Only Dynamo's SLA optimisation target and the AIS timing provider *use* them. PyPI's
`aisimulate` is a wheel stub that downloads from NVIDIA's own index (unreachable here) and
`aisimulate-core` is not on PyPI at all.

`install()` registers stub modules `aisimulate`, `aisimulate.runner`, `aisimulate_core`,
`aisimulate_core.sdk` and `aisimulate_core._native`, **only when the real packages are absent**.
Any name looked up on them is a placeholder that raises ImportError when called, instantiated
or inspected, so import-only references succeed (the profile converter and the throughput /
latency / load planner targets then run unchanged) while anything that needs AISimulate fails
loudly: Dynamo's SLA target fails when its planner is built (`PlannerEnginePerfModel` ->
`ForwardPassPerfModelConfig`). Re-check on every ai-dynamo upgrade.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

STUB_MODULES = (
    "aisimulate",
    "aisimulate.runner",
    "aisimulate_core",
    "aisimulate_core.sdk",
    "aisimulate_core._native",
)
_MARK = "__sla_planner_ais_stub__"


def _placeholder(module: str, name: str) -> type:
    message = (
        f"{module}.{name} is unavailable: NVIDIA's aisimulate/aisimulate_core packages are not "
        "installed (only NVIDIA's package index serves them). Dynamo's SLA optimisation target "
        "and the AIS timing provider need them; use optimization_target throughput, latency or "
        "load, and the dynamo_profile timing provider."
    )

    class _Meta(type):
        def __getattr__(cls, attr: str) -> Any:
            if attr.startswith("__"):
                raise AttributeError(attr)
            raise ImportError(message)

    def _raise(*_args: Any, **_kwargs: Any) -> Any:
        raise ImportError(message)

    return _Meta(name, (), {"__new__": _raise, "__doc__": message, "__module__": module})


def _stub(name: str) -> types.ModuleType:
    module = types.ModuleType(name, f"Import stub for {name} (sla_planner's ais_shim).")
    setattr(module, _MARK, True)
    module.__path__ = []  # a package, so submodules resolve from sys.modules

    def __getattr__(attr: str) -> Any:  # noqa: N807 (module-level getattr hook)
        if attr.startswith("__"):
            raise AttributeError(attr)
        value = _placeholder(name, attr)
        setattr(module, attr, value)
        return value

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module


def real_aisimulate_available() -> bool:
    """True when NVIDIA's `aisimulate_core` is importable (then no stub is needed)."""
    existing = sys.modules.get("aisimulate_core")
    if existing is not None:
        return not getattr(existing, _MARK, False)
    return importlib.util.find_spec("aisimulate_core") is not None


def install() -> bool:
    """Register the stubs when AISimulate is missing; True if the stubs are active."""
    if real_aisimulate_available():
        return False
    for name in STUB_MODULES:
        if name in sys.modules and not getattr(sys.modules[name], _MARK, False):
            continue  # the real module is already imported
        parent, _, child = name.rpartition(".")
        if parent and parent not in sys.modules:
            continue  # the real parent exists but is not imported: leave its submodules alone
        if name not in sys.modules:
            if not parent and importlib.util.find_spec(name) is not None:
                continue  # the real top-level package exists
            if parent and not getattr(sys.modules[parent], _MARK, False):
                continue  # a submodule of a real package: import it for real
            sys.modules[name] = _stub(name)
        if parent:
            setattr(sys.modules[parent], child, sys.modules[name])
    return True


def is_active() -> bool:
    """True when the stub modules are the ones registered."""
    return bool(getattr(sys.modules.get("aisimulate_core"), _MARK, False))
