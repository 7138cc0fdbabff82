"""Issue 18's property: a dry run with the judge (the closed loop, reactive path on) over a real
trace with ONE corrupted row (its request count, ISL or OSL anywhere up to 1e18, or NaN where
the format allows) either runs with peak GPUs within 2x the clean run's peak plus one TP group,
or is refused with one clear `sla-planner: error:` line (exit 1 or 2).

The traces are real: 30 minutes of the Azure 2023 conversation trace (per request, and binned
into an aggregate CSV), of Mooncake's, and of the Azure 2024 10 s counts (tokens from Azure
2023). The dry run is the Python entry point, `sla_planner.cli.main.main`, as the command runs
it. Peak GPUs are the most of the planner's decisions and the judge's replay (which includes
reactive scale-ups between decisions).

The corrupted row lies after the demand guard's first MIN_HISTORY intervals: before them the
guard has nothing to compare a sample with, so an outlier in the first minutes is planned for
as demand (the cold start, `test_cold_start_is_not_guarded`, a known gap marked xfail strict).
The same runs without the reactive path hold the bound too (checked here, not assumed): the
half of the property the trace readers, the demand guard and the judge own. A corrupted length
is a property (hypothesis, a few derandomized examples per class); a corrupted count is a table
(the judge replays every request a count names, so large counts are slow to judge). One count
the property found breaks the bound with or without the reactive path, the demand guard's
(`COUNT_GAP`, xfail strict).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.paths import real_trace

from sla_planner.cli.main import main
from sla_planner.model.forecast.robust_demand import MIN_HISTORY

pytestmark = pytest.mark.slow  # ~100 judged dry runs of 30 minutes (about a minute in all)

TP = 1  # the bundled profile: one GPU per replica
WORK = Path(tempfile.mkdtemp(prefix="corrupted-row-"))
INTERVAL_S = 60.0  # the dry run's default decision interval
COLD = "cold start: the demand guard has no history to clip the first intervals against"

# (format, field): how the row is corrupted. One request's length: a property (hypothesis).
LENGTHS = [
    ("azure", "isl"),
    ("azure", "osl"),
    ("mooncake", "isl"),
    ("mooncake", "osl"),
    ("aggregate", "isl"),
    ("aggregate", "osl"),
]
# A bin's request count is replayed as that many requests by the judge (each one a run's
# worth of work), so counts are a table of orders of magnitude, past the cold start:
# (format, field, row after the cold start, value).
COUNTS = [
    ("aggregate", "requests", 2, 0.0),
    ("aggregate", "requests", 2, 1e6),
    ("aggregate", "requests", 2, 1e18),  # refused: beyond what the judge replays
    ("aggregate", "requests", 2, math.nan),  # refused: not a number
    ("counts", "requests", 0, 0.0),
    ("counts", "requests", 0, 1e6),
    ("counts", "requests", 0, 1e18),
]
# Found by the property (not the reactive path's: the same 91 GPUs with --no-reactive): a
# 10 s bin of 10,000 requests makes its minute 7.7x the level, within the demand guard's
# COUNT_RATIO of 10, so the planner plans for it as real demand (48 + 41 replicas against a
# clean peak of 6). Owned by the demand guard (model.forecast.robust_demand).
COUNT_GAP = "a count within 10x of the level passes the demand guard as real demand"
VALUES = st.one_of(
    st.integers(0, 18).map(lambda e: 10.0**e),  # every order of magnitude up to 1e18
    st.floats(0.0, 1e18, allow_nan=False),
    st.just(math.nan),
)


# -- the clean traces ------------------------------------------------------------------------
@cache
def _rows(fmt: str) -> tuple[str, list[str]]:
    """Header (None for JSONL) and the data rows of 30 minutes of a real trace."""
    if fmt in ("azure", "aggregate"):
        lines = real_trace("AzureLLMInferenceTrace_conv.csv").read_text().splitlines()
        rows = [r for r in lines[1:] if r < "2023-11-16 18:45"]
        if fmt == "azure":
            return lines[0], rows
        return "timestamp,requests,isl_mean,osl_mean", _aggregate(rows)
    if fmt == "mooncake":
        lines = real_trace("mooncake_conversation_trace.jsonl").read_text().splitlines()
        return "", [r for r in lines if json.loads(r)["timestamp"] < 1_800_000]
    lines = real_trace("azure2024_conversation_10s_counts.csv").read_text().splitlines()
    return lines[0], lines[1:181]


def _aggregate(azure_rows: list[str]) -> list[str]:
    from sla_planner.sources.trace_files import parse_utc_timestamp

    bins: dict[int, list[tuple[float, float]]] = {}
    for r in azure_rows:
        ts, isl, osl = r.split(",")
        bins.setdefault(int(parse_utc_timestamp(ts) // 60) * 60, []).append(
            (float(isl), float(osl))
        )
    return [
        f"{t},{len(v)},{sum(a for a, _ in v) / len(v)!r},{sum(b for _, b in v) / len(v)!r}"
        for t, v in sorted(bins.items())
    ]


def _corrupt(fmt: str, field: str, row: int, value: float) -> Path:
    header, rows = _rows(fmt)
    rows = list(rows)
    i = row % len(rows)
    if fmt == "mooncake":
        rec = json.loads(rows[i])
        rec[{"isl": "input_length", "osl": "output_length"}[field]] = value  # NaN: JSON's NaN
        rows[i] = json.dumps(rec)
    else:
        col = {
            "azure": {"isl": 1, "osl": 2},
            "aggregate": {"requests": 1, "isl": 2, "osl": 3},
            "counts": {"requests": 1},
        }[fmt][field]
        cells = rows[i].split(",")
        cells[col] = repr(value)
        rows[i] = ",".join(cells)
    path = Path(tempfile.mkdtemp(dir=WORK)) / ("t.jsonl" if fmt == "mooncake" else "t.csv")
    path.write_text("\n".join(([header] if header else []) + rows) + "\n")
    return path


def _guarded_from(fmt: str, rows: list[str]) -> int:
    """The first row with MIN_HISTORY intervals of the trace before it."""
    cold_s = MIN_HISTORY * INTERVAL_S
    if fmt == "mooncake":
        t0 = json.loads(rows[0])["timestamp"]
        return next(
            i for i, r in enumerate(rows) if json.loads(r)["timestamp"] >= t0 + cold_s * 1000
        )
    if fmt == "azure":
        from sla_planner.sources.trace_files import parse_utc_timestamp

        t = [parse_utc_timestamp(r.split(",")[0]) for r in rows]
        return next(i for i, x in enumerate(t) if x >= t[0] + cold_s)
    return MIN_HISTORY if fmt == "aggregate" else round(cold_s / 10.0)  # 60 s / 10 s bins


def _clean(fmt: str) -> Path:
    header, rows = _rows(fmt)
    path = Path(tempfile.mkdtemp(dir=WORK)) / ("t.jsonl" if fmt == "mooncake" else "t.csv")
    path.write_text("\n".join(([header] if header else []) + rows) + "\n")
    return path


# -- running a dry run -------------------------------------------------------------------------
def dry_run(fmt: str, trace: Path, *extra: str) -> tuple[int, list[str], int | None]:
    """(exit code, stderr lines, peak GPUs when it ran)."""
    out = trace.parent / "out"
    argv = ["dry-run", "--trace", str(trace), "--no-plot", "--no-progress", "--out", str(out)]
    if fmt == "counts":
        argv += ["--tokens-from", str(real_trace("AzureLLMInferenceTrace_conv.csv"))]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([*argv, *extra])
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    if code != 0:
        return code, lines, None
    report = json.loads((out / "report.json").read_text())
    judged = (report.get("judged") or {}).get("peak_gpus", 0)
    return code, lines, max(int(report["peak_gpus"]), int(judged))


@cache
def clean_peak(fmt: str) -> int:
    code, err, peak = dry_run(fmt, _clean(fmt))
    assert code == 0 and peak is not None, err
    return peak


def check(fmt: str, field: str, row: int, value: float, *extra: str) -> None:
    trace = _corrupt(fmt, field, row, value)
    code, err, peak = dry_run(fmt, trace, *extra)
    if code == 0:
        bound = 2 * clean_peak(fmt) + TP
        assert peak is not None and peak <= bound, (fmt, field, row, value, peak, bound)
        return
    # Refused: a bad file is exit 1 and names the file (never an internal error, exit 3).
    assert code == 1, (fmt, field, row, value, err)
    assert len(err) == 1 and err[0].startswith("sla-planner: error: "), err
    assert str(trace) in err[0], err


PROPERTY = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,  # the same examples every run: a strict xfail flips only on a fix
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize(("fmt", "field"), LENGTHS, ids=["-".join(c) for c in LENGTHS])
@PROPERTY
@given(row=st.integers(0, 10_000), value=VALUES)
def test_one_corrupted_length_is_bounded_or_refused(fmt: str, field: str, row: int, value: float):
    check(fmt, field, _past_cold_start(fmt, row), value)


@pytest.mark.parametrize(("fmt", "field"), LENGTHS, ids=["-".join(c) for c in LENGTHS])
@PROPERTY
@given(row=st.integers(0, 10_000), value=VALUES)
def test_without_the_reactive_path_a_corrupted_length_is_bounded_or_refused(
    fmt: str, field: str, row: int, value: float
):
    """The half of the property the trace readers, the demand guard and the judge own."""
    check(fmt, field, _past_cold_start(fmt, row), value, "--no-reactive")


@pytest.mark.parametrize("reactive", [True, False], ids=["reactive", "no-reactive"])
@pytest.mark.parametrize(("fmt", "field", "row", "value"), COUNTS)
def test_one_corrupted_count_is_bounded_or_refused(fmt, field, row, value, reactive):
    check(fmt, field, _past_cold_start(fmt, row), value, *([] if reactive else ["--no-reactive"]))


@pytest.mark.xfail(strict=True, reason=COUNT_GAP)
@pytest.mark.parametrize("reactive", [True, False], ids=["reactive", "no-reactive"])
def test_a_count_within_the_guards_ratio_is_planned_for(reactive):
    check("counts", "requests", 18, 1e4, *([] if reactive else ["--no-reactive"]))


def _past_cold_start(fmt: str, row: int) -> int:
    _, rows = _rows(fmt)
    first = _guarded_from(fmt, rows)
    return first + row % (len(rows) - first)


@pytest.mark.xfail(strict=True, reason=COLD)
def test_cold_start_is_not_guarded():
    """Row 0's prompt at 1e7 tokens: the first interval's mean ISL (~52,000) is all the
    planner has seen, so it plans for it (peak 26 GPUs against a bound of 5)."""
    check("azure", "isl", 0, 1e7, "--no-reactive")
