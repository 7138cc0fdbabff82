"""The pure parts: counter increases from boundary values, histogram quantiles, PromQL text,
and config validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sla_planner.sources.prometheus_config import PrometheusConfig
from sla_planner.sources.prometheus_counters import bucket_quantile, increase_of, series_increases
from sla_planner.sources.promql import (
    duration,
    normalize_selector,
    render_override,
    series_selector,
)

nan = math.nan


def test_increases_plain_reset_gap_and_edges():
    assert series_increases(np.array([0, 3, 3, 10])).tolist() == [3, 0, 7]
    # 10 -> 4 is a restart: 4 requests counted from zero.
    assert series_increases(np.array([5, 10, 4, 6])).tolist() == [5, 4, 2]
    # A hole of two boundaries: its growth (9) spread over its three intervals.
    assert series_increases(np.array([1, nan, nan, 10, 11])).tolist() == [3, 3, 3, 1]
    # Before the first and after the last value: nothing (not the whole counter value).
    assert series_increases(np.array([nan, 100, 104, nan])).tolist() == [0, 4, 0]
    assert series_increases(np.array([nan, nan])).tolist() == [0]
    assert series_increases(np.array([7.0])).tolist() == []


def test_increase_of_raw_samples_is_prometheus_increase_without_extrapolation():
    assert increase_of([10, 12, 15]) == 5
    assert increase_of([1000, 1030, 1050, 20, 50]) == 50 + 50  # restart: from 0 to 50
    assert increase_of([1000, 1050, 10, 40, 5, 8]) == 50 + 40 + 8  # two restarts
    assert increase_of([7, nan, 9]) == 2 and increase_of([nan]) == 0


def test_resets_and_new_series_with_raw_samples():
    samples = {(1, 2): np.array([1030, 1050, 20, 50])}  # raw after boundary 1 up to 2

    def raw(i, j):
        return samples.get((i, j))

    # 1000 -> 50 across a restart at ~1050: 100 counted, not 50.
    assert series_increases(np.array([900, 1000, 50, 80]), raw).tolist() == [100, 100, 30]
    # Without raw samples of that interval: counted up from 0, as before.
    assert series_increases(np.array([900, 1000, 50, 80]), lambda i, j: None).tolist() == [
        100,
        50,
        30,
    ]
    # A series first seen inside interval 1 (first sample 4): counted from it.
    first = {(1, 2): np.array([4, 9, 20])}
    got = series_increases(np.array([nan, nan, 20, 26]), lambda i, j: first.get((i, j)))
    assert got.tolist() == [0, 16, 6]


@given(st.lists(st.integers(0, 50), min_size=1, max_size=40), st.data())
def test_increases_telescope_to_the_total(steps, data):
    counter = np.cumsum([0, *steps]).astype(float)
    holes = data.draw(st.lists(st.booleans(), min_size=counter.size, max_size=counter.size))
    holes[0] = holes[-1] = False  # first and last seen
    v = np.where(holes, nan, counter)
    inc = series_increases(v)
    assert inc.sum() == pytest.approx(counter[-1] - counter[0])
    assert (inc >= 0).all()


def test_bucket_quantile_matches_prometheus_semantics():
    inf = math.inf
    # 100 observations: 50 <= 1, 90 <= 2, all <= 4.
    assert bucket_quantile(0.5, [1, 2, 4, inf], [50, 90, 100, 100]) == 1.0
    assert bucket_quantile(0.95, [1, 2, 4, inf], [50, 90, 100, 100]) == pytest.approx(3.0)
    # Rank in the +Inf bucket answers with the highest finite bound.
    assert bucket_quantile(0.99, [1, 2, inf], [10, 20, 100]) == 2.0
    assert math.isnan(bucket_quantile(0.95, [1, inf], [0, 0]))
    assert math.isnan(bucket_quantile(0.95, [1, 2], [1, 2]))  # no +Inf bucket
    # Non-monotone counts (scrape skew across buckets) are forced monotone.
    assert bucket_quantile(0.5, [1, 2, inf], [60, 50, 100]) == pytest.approx(50 / 60)
    assert bucket_quantile(0.7, [1, 2, 4, inf], [60, 50, 100, 100]) == pytest.approx(2.5)


def test_promql_text():
    assert (
        normalize_selector(' { model = "x" , namespace=~"a|b" } ') == 'model="x",namespace=~"a|b"'
    )
    assert normalize_selector("") == ""
    for bad in ("model=x", "model='x'", 'model="x" namespace="y"', '{model="x"'):
        with pytest.raises(ValueError, match="label matchers"):
            normalize_selector(bad)
    assert (
        series_selector("vllm:request_success_total", 'a="b"')
        == 'vllm:request_success_total{a="b"}'
    )
    assert series_selector("m", "") == "m"
    assert (duration(60), duration(0.25), duration(90.5)) == ("60s", "250ms", "90500ms")
    q = "sum(increase(x_total{{selector}}[{window}]))"
    assert render_override(q, 120, 'm="y"') == 'sum(increase(x_total{m="y"}[120s]))'


def test_config_validation(tmp_path):
    cfg = PrometheusConfig(url="http://prom:9090/", selector='model="x"')
    assert cfg.url == "http://prom:9090" and cfg.preset == "dynamo"
    assert cfg.max_points_per_query == 11000
    token = tmp_path / "t"
    token.write_text("x")
    with pytest.raises(ValidationError, match="not both"):
        PrometheusConfig(url="http://p", bearer_token="a", bearer_token_file=token)
    with pytest.raises(ValidationError, match="not a readable file"):
        PrometheusConfig(url="http://p", ca_file=tmp_path / "missing.pem")
    with pytest.raises(ValidationError, match="contradict"):
        PrometheusConfig(url="http://p", ca_file=token, insecure_skip_verify=True)
    with pytest.raises(ValidationError, match="preset"):
        PrometheusConfig(url="http://p", preset="tgi")
    with pytest.raises(ValidationError, match="must not be empty"):
        PrometheusConfig(url="http://p", queries={"requests": " "})
    dumped = PrometheusConfig(url="http://p", bearer_token="s3cret").model_dump(mode="json")
    assert "s3cret" not in str(dumped)  # reports never leak the token


def test_dry_run_times_and_config_file(tmp_path):
    import argparse

    from sla_planner.cli.dryrun_prometheus import load_prometheus_config, parse_prom_time
    from sla_planner.errors import UsageError

    now = 1_700_000_000.0
    assert parse_prom_time("now", "--end", now, None) == now
    assert parse_prom_time("now-2h", "--start", now, None) == now - 7200
    assert parse_prom_time("2023-11-16T18:16:00Z", "--start", now, None) == 1_700_158_560
    assert parse_prom_time("+1h", "--end", now, 100.0) == 3700.0
    with pytest.raises(UsageError, match="only for --end"):
        parse_prom_time("+1h", "--start", now, None)

    run_cfg = tmp_path / "run.yaml"  # a whole run config works too: metrics.prometheus
    run_cfg.write_text(
        "planner: {interval_s: 60}\n"
        'metrics: {prometheus: {url: "http://prom:9090", preset: vllm, timeout_s: 5}}\n'
    )
    args = argparse.Namespace(
        prometheus_config=str(run_cfg), prometheus=None, preset=None, selector='model="m"'
    )
    cfg = load_prometheus_config(args)
    assert (cfg.url, cfg.preset, cfg.timeout_s, cfg.selector) == (
        "http://prom:9090",
        "vllm",
        5,
        'model="m"',
    )
