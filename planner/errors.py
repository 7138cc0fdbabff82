"""The project's one error base class, and the two the command line maps to exit codes.

Every error the planner raises on purpose derives from `SlaPlannerError`; its message names the
problem and the fix, so the CLI prints it as one line. Anything else is a bug.
"""

from __future__ import annotations


class SlaPlannerError(Exception):
    """Base of every error sla-planner raises on purpose (bad input, unreachable services)."""


class UsageError(SlaPlannerError):
    """Bad flags or settings: exit code 2."""


class CommandError(SlaPlannerError):
    """A runtime failure with a message already fit for the user: exit code 1."""
