"""Where `dynamo` (ai-dynamo / ai-dynamo-runtime 1.6.1, the optional bench packages) is imported.

Every import of `dynamo` in sla-planner-bench goes through the functions here, inside the
functions that need it, so `import sla_planner_bench...` works without the packages and every
entry point of judge 2 fails with one `DynamoUnavailableError` that names the install command.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType
from typing import Any

from sla_planner.errors import SlaPlannerError

DYNAMO_VERSION = "1.6.1"
INSTALL_COMMAND = "bash scripts/install_bench.sh"
INSTALL_HINT = (
    f"{INSTALL_COMMAND} (installs ai-dynamo=={DYNAMO_VERSION} and ai-dynamo-runtime=="
    f"{DYNAMO_VERSION} with --no-deps, then this package with the packages judge 2 imports: "
    "pip install -e . -e benchmarks)"
)


class DynamoUnavailableError(SlaPlannerError):
    """Judge 2 needs Dynamo's engine simulator, which is an optional install."""


def _quiet() -> None:
    # Dynamo's Rust core logs four INFO lines to stderr per replay; a DYN_LOG already set wins.
    os.environ.setdefault("DYN_LOG", "warn")


def dynamo_available() -> bool:
    """True when Dynamo's native replay (`dynamo._core`) imports."""
    _quiet()
    try:
        if importlib.util.find_spec("dynamo") is None:
            return False
        importlib.import_module("dynamo._core")
    except ImportError:
        return False
    return True


def _missing(what: str, err: BaseException | None) -> DynamoUnavailableError:
    why = f" ({type(err).__name__}: {err})" if err is not None else ""
    return DynamoUnavailableError(
        f"judge 2 (Dynamo's engine simulator) needs {what}, which is not installed{why}. "
        f"Fix: {INSTALL_HINT}"
    )


def require_dynamo() -> None:
    """Raise DynamoUnavailableError unless `dynamo._core` imports."""
    _quiet()
    try:
        if importlib.util.find_spec("dynamo") is None:
            raise _missing("the ai-dynamo packages", None)
        importlib.import_module("dynamo._core")
    except ImportError as e:
        raise _missing("the ai-dynamo packages", e) from e


def dynamo_module(name: str) -> ModuleType:
    """Import `name` (a `dynamo.*` module) after the AISimulate stubs are in place: ai-dynamo
    1.6.1 imports NVIDIA's aisimulate at module level in its replay config and planner
    packages (see ais_shim)."""
    require_dynamo()
    from sla_planner_bench.dynamo_replay import ais_shim

    ais_shim.install()
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise _missing(f"{name} (and the Python packages it imports)", e) from e


def native_replay() -> Any:
    """`dynamo._core.run_mocker_trace_replay`, the Rust trace replay over mocker engines."""
    return dynamo_module("dynamo._core").run_mocker_trace_replay


def env_info() -> dict[str, str]:
    """Versions for a result's provenance."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"cpus": str(os.cpu_count())}
    for dist in ("ai-dynamo", "ai-dynamo-runtime"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "absent"
    from sla_planner_bench.dynamo_replay import ais_shim

    out["aisimulate"] = "stubbed" if ais_shim.is_active() else "real or not imported"
    return out
