"""`sla-planner` command line: a thin dispatcher over subcommand modules.

Each subcommand lives in its own module exposing `register(subparsers)`, which adds a parser
and sets `func(args) -> int`. Errors become ONE line on stderr (`sla-planner: error: ...`):
errors raised on purpose (`SlaPlannerError`) exit with their own code (2 for usage/settings,
1 for runtime problems); anything else is an internal error, exit code 3, with a pointer to
`--debug`, which shows the traceback as well.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from sla_planner.cli.messages import format_validation_error, one_line
from sla_planner.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_USAGE,
    CommandError,
    SlaPlannerError,
    UsageError,
)

PROG = "sla-planner"

# Subcommands always present, and ones other modules may provide (registered when importable).
_COMMANDS = {"dry-run": "sla_planner.cli.dryrun", "fleet": "sla_planner.cli.fleet"}
_OPTIONAL_COMMANDS = {"run": "sla_planner.cli.run"}

__all__ = ["EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_RUNTIME", "EXIT_USAGE", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse prints usage + error over two lines and exits; we want one line, our codes."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _add_debug(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show tracebacks on errors"
    )


def _command_in(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="SLA-driven autoscaling planner for disaggregated LLM inference.",
    )
    _add_debug(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _COMMANDS.values():
        importlib.import_module(module).register(sub)

    wanted = _command_in(argv)
    for command, module in _OPTIONAL_COMMANDS.items():
        # Import optional commands only when they may be used (or listed): they can be heavy.
        if wanted in (None, command) or wanted not in _COMMANDS:
            _register_optional(sub, command, module)
    for p in sub.choices.values():
        if "-" in p.prefix_chars and "--debug" not in p._option_string_actions:
            _add_debug(p, argparse.SUPPRESS)  # SUPPRESS: keep a top-level --debug
    return parser


def _register_optional(sub: argparse._SubParsersAction, command: str, module: str) -> None:
    try:
        importlib.import_module(module).register(sub)
        return
    except ModuleNotFoundError as e:
        if e.name == module:
            return  # not part of this build
        problem: BaseException = e
    except Exception as e:  # a broken module must not take the other commands down
        problem = e
    reason = f"{type(problem).__name__}: {problem}"
    # No option prefix: every argument (even --help) lands in `rest`, so the user sees why
    # the command is unavailable rather than a complaint about its flags.
    p = sub.add_parser(command, help=f"(unavailable: {reason})", add_help=False, prefix_chars="\0")
    p.add_argument("rest", nargs=argparse.REMAINDER)

    def unavailable(_args: argparse.Namespace) -> int:
        raise CommandError(f"the '{command}' command cannot load ({reason}); reinstall sla-planner")

    p.set_defaults(func=unavailable)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        debug = bool(getattr(args, "debug", debug))
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(func(args) or 0)
    except KeyboardInterrupt:
        _fail("interrupted", debug)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `sla-planner ... | head`: the reader left; not an error of ours
        _silence_stdout()
        return EXIT_RUNTIME
    except SlaPlannerError as e:
        _fail(str(e), debug)
        return e.exit_code
    except Exception as e:
        from pydantic import ValidationError

        if isinstance(e, ValidationError):  # settings checked by their pydantic model
            _fail(format_validation_error(e), debug)
            return EXIT_USAGE
        _fail(
            f"internal error ({type(e).__name__}: {e}); rerun with --debug for the "
            "traceback and please report it",
            debug,
        )
        return EXIT_INTERNAL


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again (the
    recipe in Python's signal docs for SIGPIPE)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (e.g. captured in tests): nothing to flush
        pass


def _fail(message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
