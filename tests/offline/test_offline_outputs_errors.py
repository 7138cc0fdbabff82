"""A failure to write the dry run's files (disk full, a vanished directory) is one clear error
with exit code 1, not an internal error, and leaves no half-written file (issue 10)."""

from __future__ import annotations

import errno

from sla_planner.cli import main as cli
from sla_planner.offline import report


def test_disk_full_while_writing_outputs(tmp_path, capsys, monkeypatch):
    def full(path, *args, **kwargs):
        path.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(report, "write_report_json", full)
    out = tmp_path / "o"
    assert cli.main(["dry-run", "--no-plot", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sla-planner: error: ")
    assert "No space left on device" in err[0] and "--out" in err[0]
    assert sorted(p.name for p in out.iterdir()) == []  # nothing half-written is left
