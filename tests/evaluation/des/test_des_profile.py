"""Profile loading: any input form gives the same tables; the interpolation hits measured
points and follows the documented rules between them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sla_planner.evaluation.des import load_profile
from sla_planner.evaluation.des.timing import itl_ms, prefill_ms


def _ns(d: dict) -> SimpleNamespace:
    return SimpleNamespace(**{k: _ns(v) if isinstance(v, dict) else v for k, v in d.items()})


def test_dict_attribute_object_and_engine_profile_agree(profile: dict) -> None:
    from sla_planner.profiles.model import EngineProfile

    a = load_profile(EngineProfile(**profile))
    for x in (load_profile(profile), load_profile(_ns(profile))):
        np.testing.assert_array_equal(a.itl_tab, x.itl_tab)
        np.testing.assert_array_equal(a.pf_ttft_ms, x.pf_ttft_ms)
        assert (a.max_kv_tokens, a.max_batched_tokens, a.gpus_per_replica) == (
            x.max_kv_tokens,
            x.max_batched_tokens,
            x.gpus_per_replica,
        )


def test_itl_hits_every_monotone_measured_point(profile: dict) -> None:
    tab = load_profile(profile)
    d = profile["decode"]
    hits = 0
    for kv, ctx, itl in zip(d["kv_usage"], d["context_length"], d["itl_ms"], strict=True):
        row = [
            y
            for k, c, y in zip(d["kv_usage"], d["context_length"], d["itl_ms"], strict=True)
            if c == ctx and k <= kv
        ]
        if itl >= max(row):  # not lowered by the cumulative max (noise)
            assert itl_ms(tab.itl_tab, kv, ctx) == pytest.approx(itl, rel=1e-12)
            hits += 1
    assert hits >= 35  # of 41 points; the rest sit below an earlier point of their row


def test_itl_between_rows_is_linear_in_inverse_context(profile: dict) -> None:
    tab = load_profile(profile)
    # hand values: each row linear in kv between its measured points, then linear in 1/ctx
    kv = 0.2
    lo = 9.937452489795918 + (kv - 0.15539523125745347) / (
        0.3076191312647548 - 0.15539523125745347
    ) * (15.479184278350514 - 9.937452489795918)
    hi = 10.132151629629629 + (kv - 0.16125219437710378) / (
        0.31653208525875925 - 0.16125219437710378
    ) * (15.117307396226416 - 10.132151629629629)
    ctx = 4000.0
    w = (1 / 2997 - 1 / ctx) / (1 / 2997 - 1 / 5644)
    assert itl_ms(tab.itl_tab, kv, ctx) == pytest.approx(lo + w * (hi - lo), rel=1e-12)
    # outside the rows: nearest row (clamped context)
    assert itl_ms(tab.itl_tab, kv, 50_000.0) == pytest.approx(itl_ms(tab.itl_tab, kv, 13585.0))


def test_prefill_ms_monotone_and_linear(profile: dict) -> None:
    tab = load_profile(profile)
    xs = np.linspace(1, 40000, 500)
    ys = [prefill_ms(tab.pf_isl, tab.pf_ttft_ms, x) for x in xs]
    assert np.all(np.diff(ys) >= 0)
