"""sla_planner.cli.main as a dispatcher: optional subcommand modules and error-to-exit-code mapping."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sla_planner.cli import main as cli


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a module into an importable dir and make it the optional 'zap' command."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(name: str, source: str) -> None:
        (tmp_path / f"{name}.py").write_text(source)
        sys.modules.pop(name, None)
        monkeypatch.setattr(cli, "_OPTIONAL_COMMANDS", {"zap": name})

    yield make


ZAP = """
import argparse

def register(sub):
    p = sub.add_parser("zap")
    p.add_argument("--fail", choices=["value", "bug", "interrupt", "os", "usage", "runtime"])
    p.set_defaults(func=run)

def run(args):
    from sla_planner.errors import CommandError, UsageError

    if args.fail == "value":
        raise ValueError("bad value for zap; use a good one")
    if args.fail == "usage":
        raise UsageError("--zap is wrong; use a good one")
    if args.fail == "runtime":
        raise CommandError("zap failed; try again")
    if args.fail == "bug":
        raise RuntimeError("boom")
    if args.fail == "interrupt":
        raise KeyboardInterrupt
    if args.fail == "os":
        open("/nonexistent-dir/x", "w")
    print("zapped")
    return 0
"""


def err_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_missing_optional_module_is_simply_absent(plugin, capsys):
    plugin("zap_present_elsewhere", ZAP)
    cli._OPTIONAL_COMMANDS = {"zap": "no_such_module_for_zap"}
    assert cli.main(["zap"]) == 2
    assert "invalid choice: 'zap'" in err_line(capsys)


def test_broken_optional_module_is_reported_not_fatal(plugin, capsys):
    plugin("zap_broken", "import dependency_that_is_not_installed_xyz\n")
    assert cli.main(["zap", "--anything"]) == 1
    line = err_line(capsys)
    assert "'zap' command cannot load" in line and "dependency_that_is_not_installed_xyz" in line
    assert cli.main(["dry-run", "--ttft-ms", "0"]) == 2  # the other commands still work


def test_error_kinds_map_to_exit_codes(plugin, capsys):
    """Errors raised on purpose (SlaPlannerError) carry their exit code; anything else is an
    internal error: exit 3 and a pointer to --debug (issue 10)."""
    plugin("zap_ok", ZAP)
    assert cli.main(["zap"]) == 0 and "zapped" in capsys.readouterr().out
    assert cli.main(["zap", "--fail", "usage"]) == 2
    assert err_line(capsys) == "sla-planner: error: --zap is wrong; use a good one"
    assert cli.main(["zap", "--fail", "runtime"]) == 1
    assert err_line(capsys) == "sla-planner: error: zap failed; try again"
    assert cli.main(["zap", "--fail", "value"]) == 3  # a bare ValueError is not on purpose
    assert "internal error (ValueError: bad value for zap" in err_line(capsys)
    assert cli.main(["zap", "--fail", "bug"]) == 3
    assert "internal error (RuntimeError: boom); rerun with --debug" in err_line(capsys)
    assert cli.main(["zap", "--fail", "os"]) == 3
    assert "/nonexistent-dir/x" in err_line(capsys)
    assert cli.main(["zap", "--fail", "interrupt"]) == 130
    assert err_line(capsys) == "sla-planner: error: interrupted"
    assert cli.main(["zap", "--fail", "nope"]) == 2
    assert "invalid choice: 'nope'" in err_line(capsys)


def test_debug_after_the_subcommand_also_works(plugin, capsys):
    plugin("zap_dbg", ZAP)
    assert cli.main(["zap", "--fail", "bug", "--debug"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err
