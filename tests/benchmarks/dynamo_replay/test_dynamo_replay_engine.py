"""Engine args from a profile: any project profile becomes the Dynamo profiler's arrays, which
Dynamo's converter (or the measured points) turn into the mocker's timing tables."""

from __future__ import annotations

import numpy as np
import pytest
from support.dynamo import requires_dynamo
from support.paths import BUNDLED_PROFILE, SHARED_DATA

from sla_planner.profiles.dynamo_import import import_dynamo_dir
from sla_planner.profiles.registry import load_profile
from sla_planner_bench.dynamo_replay.engine import (
    measured_tables,
    mocker_engines,
    mocker_npz,
    write_dynamo_dir,
)

DYNAMO_DIR = SHARED_DATA / "profiles" / BUNDLED_PROFILE


def test_native_profile_written_as_a_dynamo_dir_reads_back_unchanged(tmp_path) -> None:
    prof = load_profile(BUNDLED_PROFILE)
    back = import_dynamo_dir(write_dynamo_dir(prof, tmp_path / "dyn"))
    assert back.prefill == prof.prefill and back.decode == prof.decode


def test_measured_tables_pass_through_the_profile_points() -> None:
    prof = load_profile(BUNDLED_PROFILE)
    t = measured_tables(prof)
    assert np.array_equal(t["prefill_isl"], prof.prefill.isl)
    assert np.array_equal(t["prefill_ttft_ms"], prof.prefill.ttft_ms)
    d = prof.decode
    kv_tok = np.asarray(d.kv_usage) * d.max_kv_tokens
    for kv, ctx, itl in zip(kv_tok, d.context_length, d.itl_ms, strict=True):
        j = int(np.flatnonzero(t["decode_context_length"] == ctx)[0])  # a measured row
        col = t["decode_itl"][:, j]
        assert np.interp(kv, t["decode_active_kv_tokens"], col) == pytest.approx(itl, rel=0.02)


def _bilinear(t: dict, kv: float, ctx: float) -> float:
    """The mocker's decode lookup: bilinear in (active KV tokens, mean context) on the grid."""
    from scipy.interpolate import RegularGridInterpolator

    f = RegularGridInterpolator(
        (t["decode_active_kv_tokens"], t["decode_context_length"]), t["decode_itl"]
    )
    return float(f([[kv, ctx]])[0])


def test_measured_decode_between_rows_is_linear_in_batch_size_not_context() -> None:
    """Between measured context rows the step time follows the batch size N = kv / ctx, as in
    the discrete-event judge (docs/judges.md): at kv_usage 0.1 and context 1300 (N = 72) the
    rows give 19.4 ms (ctx 350) and 7.9 ms (ctx 2997); linear in 1/ctx that is ~9.9 ms, while
    a lookup linear in context on a grid of the measured rows alone says ~15.3 ms."""
    prof = load_profile(BUNDLED_PROFILE)
    t = measured_tables(prof)
    m = prof.decode.max_kv_tokens
    kv = np.asarray(prof.decode.kv_usage) * m
    ctx, itl = np.asarray(prof.decode.context_length), np.asarray(prof.decode.itl_ms)

    def row(c: float, k: float) -> float:
        sel = ctx == c
        o = np.argsort(kv[sel])
        return float(np.interp(k, kv[sel][o], itl[sel][o]))

    k = 0.1 * m
    lo, hi = row(350.0, k), row(2997.0, k)
    w = (1 / 1300 - 1 / 2997) / (1 / 350 - 1 / 2997)
    expected = hi + w * (lo - hi)
    assert expected == pytest.approx(9.9, abs=0.2)
    assert _bilinear(t, k, 1300.0) == pytest.approx(expected, rel=0.03)
    assert _bilinear(t, k, 2997.0) == pytest.approx(hi, rel=0.01)  # on a row: the row


def test_engine_args_follow_the_profile(tmp_path) -> None:
    eng = mocker_engines(
        BUNDLED_PROFILE, timing="measured", startup_s=90.0, max_num_seqs=512, cache_dir=tmp_path
    )
    e = eng.decode_args["engine"]
    assert e["worker_type"] == "decode" and e["max_num_seqs"] == 512
    assert e["num_gpu_blocks"] == 945029 // 64 and e["max_num_batched_tokens"] == 8192
    assert eng.decode_args["startup_time"] == 90.0 and eng.gpus_prefill == 1
    assert eng.prefill_args["engine"]["worker_type"] == "prefill"


@pytest.mark.slow
@requires_dynamo
def test_dynamo_converter_gives_the_same_tables_for_the_native_profile(tmp_path) -> None:
    if not DYNAMO_DIR.is_dir():
        pytest.skip(f"{DYNAMO_DIR} not available (set SLA_PLANNER_SHARED_DATA)")
    from sla_planner_bench.dynamo_replay.runtime import dynamo_module

    conv = dynamo_module("dynamo.mocker.utils.planner_profiler_perf_data_converter")
    direct = conv.convert_profile_results_to_npz(DYNAMO_DIR, tmp_path / "direct.npz")
    ours = mocker_npz(load_profile(BUNDLED_PROFILE), "dynamo", tmp_path / "cache")
    with np.load(direct) as a, np.load(ours) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            assert np.array_equal(a[k], b[k]), k
        # The converter's linear fit misses the ~18 ms fixed cost of a short prefill
        # (docs/judges.md): 0.6 ms at 100 tokens against 19.5 ms measured.
        assert b["prefill_isl"][0] == 100.0 and b["prefill_ttft_ms"][0] == pytest.approx(
            0.61, abs=0.05
        )
