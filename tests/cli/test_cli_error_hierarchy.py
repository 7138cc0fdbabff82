"""One error base class: every exception class the project defines derives from SlaPlannerError
and says which exit code it maps to (issue 10)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import sla_planner
from sla_planner.errors import EXIT_RUNTIME, EXIT_USAGE, SlaPlannerError, UsageError

# The folders mapped into sla_planner at install time (pyproject's package-dir): the editable
# install's finder does not list them as children of sla_planner's own folder.
_MAPPED = ("sla_planner.profiles", "sla_planner.forecasters", "sla_planner.actuators")


def _project_modules():
    roots = [sla_planner, *(importlib.import_module(name) for name in _MAPPED)]
    for root in roots:
        for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
            if info.name.endswith(("__main__", "prophet_model")):
                continue  # entry points / optional heavy imports: no error classes there
            yield importlib.import_module(info.name)


def test_every_project_exception_derives_from_the_base_and_has_an_exit_code():
    found = {}
    for module in _project_modules():
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Exception)  # BaseException-only: control flow (e.g. the
                # tick deadline's interrupt), deliberately past `except Exception`
                and not issubclass(obj, Warning)  # warnings are not raised as errors
                and obj.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = obj
    assert len(found) >= 10, found  # the walk really found the project's errors
    for where, cls in found.items():
        assert issubclass(cls, SlaPlannerError), f"{where} does not derive from SlaPlannerError"
        assert cls.exit_code in (EXIT_RUNTIME, EXIT_USAGE), where


def test_settings_errors_are_usage_errors():
    from sla_planner.model.allocate.split import BudgetConfigError

    assert UsageError.exit_code == EXIT_USAGE
    assert BudgetConfigError.exit_code == EXIT_USAGE  # minimums over the budget: a setting
    assert SlaPlannerError.exit_code == EXIT_RUNTIME
