"""Malformed-input suite, profiles (issue 10): any edit of a real profile -- a missing key, a
NaN, a reordered or rescaled array, a degenerate decode table -- is a ProfileError naming the
source and the key, or a profile whose sizing stays bounded and finite."""

from __future__ import annotations

import copy
import math

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.bounded import finishes

from sla_planner.model.size.sizing import SEARCH_CAP, size_decode, size_prefill
from sla_planner.profiles.errors import ProfileError
from sla_planner.profiles.interpolation import ProfileCurves
from sla_planner.profiles.native import parse_profile

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ARRAYS = [
    ("prefill", "isl"),
    ("prefill", "ttft_ms"),
    ("prefill", "throughput_per_gpu"),
    ("decode", "kv_usage"),
    ("decode", "context_length"),
    ("decode", "itl_ms"),
    ("decode", "throughput_per_gpu"),
]
ODD = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-300, 1e300, 1e18, 0.5])


@st.composite
def edit(draw):
    """One or a few edits of the profile dict: (description, function)."""
    kind = draw(
        st.sampled_from(["drop", "value", "scale", "reverse", "shuffle", "constant", "scalar"])
    )
    section, key = draw(st.sampled_from(ARRAYS))
    if kind == "drop":
        where = draw(st.sampled_from([None, "prefill", "decode"]))
        name = draw(st.sampled_from(["name", "gpu", "prefill", "decode", "max_kv_tokens", key]))
        return kind, lambda d: (d if where is None else d[where]).pop(name, None)
    if kind == "scalar":
        field = draw(st.sampled_from(["gpus_per_replica", "max_batched_tokens", "max_kv_tokens"]))
        value = draw(st.one_of(st.integers(-5, 10**12), ODD, st.text(max_size=3)))

        def set_scalar(d):
            (d["decode"] if field == "max_kv_tokens" else d)[field] = value

        return kind, set_scalar
    i = draw(st.integers(0, 40))
    factor = draw(st.sampled_from([0.0, 1e-9, 1e-3, 10.0, 1e9]))
    value = draw(ODD)
    seed = draw(st.integers(0, 2**16))

    def apply(d):
        a = np.asarray(d[section][key], dtype=float)
        if kind == "value":
            a[i % a.size] = value
        elif kind == "scale":
            a = a * factor
        elif kind == "reverse":
            a = a[::-1]
        elif kind == "shuffle":
            a = np.random.default_rng(seed).permutation(a)
        elif kind == "constant":
            a = np.full(a.shape, a[0])
        d[section][key] = a.tolist()

    return f"{kind} {section}.{key}", apply


@FUZZ
@given(st.lists(edit(), min_size=1, max_size=3))
def test_any_edit_is_a_clear_error_or_a_bounded_profile(bundled, edits):
    data = copy.deepcopy(bundled.model_dump())
    for _, apply in edits:
        try:
            apply(data)
        except (KeyError, TypeError, ValueError):
            pass  # an earlier edit removed or broke what this one edits
    try:
        profile = parse_profile(data, where="profile file fuzz.yaml")
        curves = ProfileCurves(profile, warn=lambda _m: None)
    except ProfileError as e:
        message = str(e)
        assert message.startswith("profile file fuzz.yaml: ") and "\n" not in message
        assert "Fix: " in message
        return
    event("valid profile")
    for rate in (0.5, 50.0, 5000.0):
        p = finishes(lambda r=rate: size_prefill(curves, r, 1155.0, 200.0), limit_s=30)
        d = finishes(lambda r=rate: size_decode(curves, r, 1155.0, 211.0, 25.0), limit_s=30)
        for result in (p, d):
            assert 0 <= result.replicas <= SEARCH_CAP
            assert not math.isnan(result.expected_ms)
