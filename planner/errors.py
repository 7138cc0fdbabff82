"""The project's one error base class and the exit codes the command line maps errors to.

Every error the planner raises on purpose derives from `SlaPlannerError`; its message names the
problem and the fix, so the CLI prints it as one line, and its `exit_code` says how the command
ends. Anything else reaching the CLI is a bug: an internal error, exit code 3.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNTIME = 1  # bad input files, unreachable services, a failed run
EXIT_USAGE = 2  # bad flags or settings
EXIT_INTERNAL = 3  # a bug: rerun with --debug and report it
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


class SlaPlannerError(Exception):
    """Base of every error sla-planner raises on purpose (bad input, unreachable services)."""

    exit_code: int = EXIT_RUNTIME


class UsageError(SlaPlannerError):
    """Bad flags or settings: exit code 2."""

    exit_code = EXIT_USAGE


class CommandError(SlaPlannerError):
    """A runtime failure with a message already fit for the user: exit code 1."""
