"""Malformed-input suite, end to end (issue 10): `sla-planner dry-run` and `sla-planner run
--once` as a user runs them (subprocesses), on broken traces, profiles, run configs and absurd
flags. Every case ends, within its time bound, in exactly one `sla-planner: error:` line with
exit code 1 or 2 -- never a traceback, never "internal error" -- or in a sane result: exit 0
with every decision within the replica ceilings."""

from __future__ import annotations

import csv
import gzip
import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from sla_planner.model.config import DEFAULT_MAX_REPLICAS

pytestmark = pytest.mark.slow  # subprocesses

LIMIT_S = 240  # per case; the slowest sane case (the bundled hour) takes ~10 s
AZURE = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
AGGREGATE = "timestamp,requests,isl_mean,osl_mean\n"
AGG_ROWS = [f"{1_700_000_000 + 60 * i},300,1000,200\n" for i in range(120)]
OK_ROWS = "".join(f"2023-11-16 18:{m:02d}:{s:02d}.5,{300 + m},{40 + s}\n" for m in range(10) for s in range(0, 60, 5))  # fmt: skip


def _file(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        return p

    return make


def _sparse(name: str, head: str, size: int) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / name
        p.write_text(head)
        os.truncate(p, size)
        return p

    return make


TRACES = {
    "empty": _file("empty.csv", ""),
    "header-only": _file("header.csv", AZURE),
    "truncated-row": _file("trunc.csv", AZURE + OK_ROWS + "2023-11-16 18:11:00.0,12"),
    "nan-tokens": _file("nan.csv", AZURE + OK_ROWS + "2023-11-16 18:11:00.0,nan,4\n"),
    "inf-tokens": _file("inf.csv", AZURE + OK_ROWS + "2023-11-16 18:11:00.0,10,inf\n"),
    "negative": _file("neg.csv", AZURE + OK_ROWS + "2023-11-16 18:11:00.0,-10,4\n"),
    "overflowing": _file("big.csv", AZURE + OK_ROWS + "2023-11-16 18:11:00.0,1e300,4\n"),
    "one-1e18-token-request": _file(
        "outlier.csv", AZURE + OK_ROWS + "2023-11-16 18:05:30.1,300,1000000000000000000\n"
    ),
    "wrong-columns": _file("cols.csv", "when,prompt,output\n1,2,3\n"),
    "binary-junk": _file("junk.csv", bytes(range(256)) * 64),
    "gz-junk": _file("junk.csv.gz", b"\x1f\x8b\x08\x00" + b"\xde\xad\xbe\xef" * 500),
    "gz-truncated": _file("cut.csv.gz", gzip.compress((AZURE + OK_ROWS).encode())[:300]),
    "csv-field-over-limit": _file("wide.csv", AZURE + "2023-11-16 18:11:00.0,1" + "0" * 200_000 + ",4\n"),
    "200-mb-line": _sparse("long.csv", AZURE + OK_ROWS, 200 << 20),
    "sparse-2-gb": _sparse("sparse.csv", "", 2 << 30),
    "decades-apart": _file(
        "decades.csv", AZURE + "1995-01-01 00:00:00.0,100,10\n2025-01-01 00:00:00.0,100,10\n"
    ),
    "broken-json": _file("mc.jsonl", '{"timestamp": 0, "input_length": 5, "output_length": 1}\n{"timest'),
    "json-not-object": _file("mc2.jsonl", "[1, 2, 3]\n"),
    # issue 18 item 2: the judge expanded 1e18 requests into an array (MemoryError, exit 3)
    "aggregate-1e18-requests": _file(
        "huge.csv", AGGREGATE + "".join(AGG_ROWS[:60]) + "1700003600,1e18,1000,200\n" + "".join(AGG_ROWS[61:])
    ),
    # issue 18 item 5: 'internal error (ValueError: year 31690708 is out of range)'
    "mooncake-timestamp-1e18": _file("ts.jsonl", '{"timestamp": 0, "input_length": 5, "output_length": 1}\n' * 50 + '{"timestamp": 1e18, "input_length": 5, "output_length": 1}\n'),
    "aggregate-timestamp-1e18": _file("ts.csv", AGGREGATE + "".join(AGG_ROWS[:60]) + "1e18,300,1000,200\n"),
    "unsorted-aggregate": _file("agg.csv", "timestamp,requests,isl_mean,osl_mean\n60,1,2,3\n0,1,2,3\n"),
}  # fmt: skip


def _profile_edit(name: str, edit: Callable[[dict], None]) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        from sla_planner.profiles.registry import load_profile

        data = load_profile("dynamo-h200-llama3.1-8b-fp8-tp1").model_dump()
        edit(data)
        p = tmp / f"{name}.yaml"
        p.write_text(yaml.safe_dump(data))
        return p

    return make


def _set(section: str, key: str, value: object) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        d[section][key] = value

    return edit


PROFILES = {
    "missing-decode": _profile_edit("nodecode", lambda d: d.pop("decode")),
    "missing-key": _profile_edit("noitl", lambda d: d["decode"].pop("itl_ms")),
    "nan-latency": _profile_edit(
        "nan", lambda d: d["prefill"]["ttft_ms"].__setitem__(3, float("nan"))
    ),
    "non-monotone-isl": _profile_edit("isl", lambda d: d["prefill"]["isl"].reverse()),
    "zero-kv-usage": _profile_edit("zerokv", lambda d: _set("decode", "kv_usage", [0.0] * 41)(d)),
    "absurd-max-kv": _profile_edit("maxkv", _set("decode", "max_kv_tokens", 10**15)),
    "not-yaml": _file("broken.yaml", "name: [unclosed\n  gpu: H200\n"),
    # issue 18 item 5: the judge's ValueError ('needs >= 2 distinct points'), exit 3
    "one-prefill-point": _profile_edit(
        "onepoint", lambda d: d.update(prefill={k: v[:1] for k, v in d["prefill"].items()})
    ),
}

FLAGS = {
    "interval-1e8": ["--interval-s", "1e8"],
    "interval-1e-6": ["--interval-s", "1e-6"],
    "interval-inf": ["--interval-s", "inf"],
    "startup-1e12": ["--startup-s", "1e12"],
    "rate-scale-1e300": ["--rate-scale", "1e300"],
    "min-prefill-1e9": ["--min-prefill", str(10**9)],
    "max-gpus-1e18": ["--max-gpus", str(10**18)],
    "ttft-1e300": ["--ttft-ms", "1e300"],
    "ttft-below-floor": ["--ttft-ms", "1"],
    "itl-nan": ["--itl-ms", "nan"],
    "peak-window-tiny": ["--peak-window-s", "1e-9"],
    "warmup-huge": ["--warmup", str(10**12)],
    "seed-huge": ["--seed", str(10**40)],
    "start-far-future": ["--start", "9999-01-01T00:00:00"],
    "end-before-start": ["--start", "+30m", "--end", "+10m"],
    # issue 18 sweep: 'internal error (ValueError: cannot convert float NaN to integer)'
    "start-nan": ["--start", "nan"],
    "start-inf": ["--start", "inf"],  # OverflowError
    "end-inf": ["--end", "inf"],
}

# Times and settings that reached datetime or PromQL unchecked (issue 18 sweep): every case
# ended in 'internal error' (ValueError: year -29719 is out of range; OSError: Value too large
# for defined data type; ValueError: duration must be a positive number of seconds, got inf;
# OverflowError: timestamp out of range for platform time_t). No Prometheus answers here.
PROM = ["--prometheus", "http://127.0.0.1:9"]
PROMETHEUS_FLAGS = {
    "start-before-1970": [*PROM, "--start=-1e12", "--end=-999999999400"],
    "start-past-9999": [*PROM, "--start", "1e18", "--end", "1.0000000000000006e18"],
    "range-past-9999": [*PROM, "--start", "0", "--end", "1e15"],
    "lookback-inf": ["--prometheus-config", "lookback_s: .inf"],
    "timeout-inf": ["--prometheus-config", "timeout_s: .inf"],
    "peak-window-inf": ["--prometheus-config", "peak_window_s: .inf"],
}


def _check(proc, out: Path) -> None:
    """One error line with exit 1 or 2, or a sane result; never a traceback or internal error."""
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    if proc.returncode == 0:
        with (out / "decisions.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert rows
        for r in rows:
            assert 0 <= int(r["prefill_replicas"]) <= DEFAULT_MAX_REPLICAS
            assert 0 <= int(r["decode_replicas"]) <= DEFAULT_MAX_REPLICAS
        return
    assert proc.returncode in (1, 2), proc.stderr
    assert len(err) == 1 and err[0].startswith("sla-planner: error: "), proc.stderr


@pytest.mark.parametrize("case", list(TRACES))
def test_malformed_trace(cli, tmp_path, case):
    trace = TRACES[case](tmp_path)
    out = tmp_path / "out"
    _check(
        cli("dry-run", "--no-plot", "--trace", str(trace), "--out", str(out), timeout=LIMIT_S), out
    )


@pytest.mark.parametrize("case", list(PROFILES))
def test_malformed_profile(cli, tmp_path, case):
    profile = PROFILES[case](tmp_path)
    out = tmp_path / "out"
    proc = cli(
        "dry-run", "--no-plot", "--profile", str(profile), "--out", str(out), timeout=LIMIT_S
    )
    _check(proc, out)
    assert proc.returncode != 0 and str(profile) in proc.stderr  # names the file


@pytest.mark.parametrize("case", list(FLAGS))
def test_absurd_flags(cli, tmp_path, case):
    out = tmp_path / "out"
    _check(cli("dry-run", "--no-plot", *FLAGS[case], "--out", str(out), timeout=LIMIT_S), out)


@pytest.mark.parametrize("case", list(PROMETHEUS_FLAGS))
def test_absurd_prometheus_settings(cli, tmp_path, case):
    args = list(PROMETHEUS_FLAGS[case])
    if args[0] == "--prometheus-config":
        cfg = tmp_path / "prometheus.yaml"
        cfg.write_text(f"url: http://127.0.0.1:9\n{args[1]}\n")
        args = ["--prometheus-config", str(cfg), "--start", "1700000000", "--end", "1700003600"]
    out = tmp_path / "out"
    proc = cli("dry-run", "--no-plot", *args, "--out", str(out), timeout=LIMIT_S)
    _check(proc, out)
    assert proc.returncode != 0  # nothing to read there: refused, or Prometheus unreachable


def test_the_1e18_token_request_is_clipped_not_planned_for(cli, tmp_path):
    """Defect 4: one 1e18-output-token request recommended 1,000,000 decode replicas."""
    trace = TRACES["one-1e18-token-request"](tmp_path)
    out = tmp_path / "out"
    proc = cli("dry-run", "--no-plot", "--trace", str(trace), "--out", str(out), timeout=LIMIT_S)
    assert proc.returncode == 0, proc.stderr
    with (out / "decisions.csv").open() as f:
        decode = [int(r["decode_replicas"]) for r in csv.DictReader(f)]
    assert max(decode) <= 2, decode


def test_an_absurd_count_in_an_aggregate_trace_is_one_line_naming_the_row(cli, tmp_path):
    """Issue 18 item 2: `dry-run --trace huge.csv` ended in internal error (MemoryError)."""
    trace = TRACES["aggregate-1e18-requests"](tmp_path)
    out = tmp_path / "out"
    proc = cli("dry-run", "--no-plot", "--trace", str(trace), "--out", str(out), timeout=LIMIT_S)
    _check(proc, out)
    assert proc.returncode == 1, proc.stderr
    assert f"{trace}:62:" in proc.stderr and "200,000,000" in proc.stderr, proc.stderr
    assert not (out / "decisions.csv").exists()  # refused before anything was written


RUN_CONFIG = {
    "planner": {"sla": {"ttft_ms": 200, "itl_ms": 25}, "interval_s": 60, "startup_s": 120},
    "profile": "dynamo-h200-llama3.1-8b-fp8-tp1",
    "metrics": {"prometheus": {"url": "http://127.0.0.1:9", "preset": "dynamo"}},
    "targets": {
        "prefill": {"kind": "Deployment", "namespace": "llm", "name": "prefill"},
        "decode": {"kind": "Deployment", "namespace": "llm", "name": "decode"},
    },
}


def _config_edit(edit: Callable[[dict], None]) -> dict:
    import copy

    data = copy.deepcopy(RUN_CONFIG)
    edit(data)
    return data


RUN_CONFIGS = {
    "interval-inf": ".inf",
    "interval-1e-6": _config_edit(lambda d: d["planner"].update(interval_s=1e-6)),
    "startup-1e12": _config_edit(lambda d: d["planner"].update(startup_s=1e12)),
    "ttft-nan": ".nan",
    "min-replicas-1e9": _config_edit(lambda d: d["planner"].update(prefill={"min_replicas": 10**9})),
    "unknown-key": _config_edit(lambda d: d["planner"].update(intervall_s=60)),
    "missing-profile": _config_edit(lambda d: d.pop("profile")),
    "bad-profile-path": _config_edit(lambda d: d.update(profile="/nonexistent/p.yaml")),
    "zero-kv-profile": "zero-kv-profile",  # defect 4: `run --once` wrote spec.replicas 1e6
    "not-a-mapping": "just a string\n",
    "not-yaml": "planner: [unclosed\n",
    "empty": "",
    # issue 18 sweep: the loop held on every tick with 'ValueError: duration must be a positive
    # number of seconds, got inf' (a source error) instead of refusing the config at load
    "prometheus-lookback-inf": _config_edit(lambda d: d["metrics"]["prometheus"].update(lookback_s=math.inf)),
    "prometheus-timeout-inf": _config_edit(lambda d: d["metrics"]["prometheus"].update(timeout_s=math.inf)),
    "retry-interval-inf": _config_edit(lambda d: d.update(loop={"retry_interval_s": math.inf})),
}  # fmt: skip


@pytest.mark.parametrize("case", list(RUN_CONFIGS))
def test_malformed_run_config(cli, tmp_path, case):
    spec = RUN_CONFIGS[case]
    path = tmp_path / "planner.yaml"
    if case == "zero-kv-profile":
        profile = PROFILES["zero-kv-usage"](tmp_path)
        path.write_text(yaml.safe_dump({**RUN_CONFIG, "profile": str(profile)}))
    elif case == "interval-inf":
        path.write_text(yaml.safe_dump(RUN_CONFIG).replace("interval_s: 60", "interval_s: .inf"))
    elif case == "ttft-nan":
        path.write_text(yaml.safe_dump(RUN_CONFIG).replace("ttft_ms: 200", "ttft_ms: .nan"))
    elif isinstance(spec, str):
        path.write_text(spec)
    else:
        path.write_text(yaml.safe_dump(spec))
    kubeconfig = tmp_path / "kubeconfig"  # never reached: the config is refused first
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    proc = cli(
        "run", "--config", str(path), "--kubeconfig", str(kubeconfig), "--once", timeout=LIMIT_S
    )
    err = [ln for ln in proc.stderr.splitlines() if ln.strip().startswith("sla-planner: error:")]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode in (1, 2) and len(err) == 1, proc.stderr
    named = {
        "prometheus-lookback-inf": "lookback_s",
        "prometheus-timeout-inf": "timeout_s",
        "retry-interval-inf": "retry_interval_s",
    }
    if case in named:  # a setting: refused at load, naming it (not held at every tick)
        assert proc.returncode == 2 and named[case] in err[0], err[0]


# -- the fleet file (issue 18 sweep) ---------------------------------------------------------
FLEET = {
    "cluster": {"gpus": {"H200": {"count": 6, "price_per_gpu_hour": 3.5}}},
    "deployments": [
        {
            "name": "chat",
            "slo": {"ttft_ms": 200, "itl_ms": 25, "attainment": 0.99},
            "demand": {"trace": {"path": "AzureLLMInferenceTrace_conv.csv"}},
            "variants": [{"name": "h200", "profile": "dynamo-h200-llama3.1-8b-fp8-tp1"}],
        }
    ],
    "replay": {"start": 1700158546.0, "end": 1700158546.0 + 1200},
}


def _fleet_edit(edit: Callable[[dict], None]) -> dict:
    import copy

    data = copy.deepcopy(FLEET)
    edit(data)
    return data


FLEET_FILES = {
    # 'internal error (ValueError: year -29719 is out of range)'
    "replay-before-1970": _fleet_edit(lambda d: d.update(replay={"start": -1e12, "end": -1e12 + 600})),
    "replay-past-9999": _fleet_edit(lambda d: d.update(replay={"start": 1e15, "end": 1e15 + 600})),
    "replay-nan": ".nan",
    # 'internal error (ValueError: attainment target must be in [0.5, 1), got 1e-09)'
    "attainment-1e-9": _fleet_edit(lambda d: d["deployments"][0]["slo"].update(attainment=1e-9)),
    "ttft-1e300": _fleet_edit(lambda d: d["deployments"][0]["slo"].update(ttft_ms=1e300)),
    "start-at-past-9999": _fleet_edit(lambda d: d["deployments"][0]["demand"]["trace"].update(start_at=1e18)),
    "gpu-count-1e18": _fleet_edit(lambda d: d["cluster"]["gpus"]["H200"].update(count=10**18)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FLEET_FILES))
def test_malformed_fleet_file(cli, tmp_path, case):
    import shutil

    from support.paths import BUNDLED_TRACE

    shutil.copy(BUNDLED_TRACE, tmp_path / BUNDLED_TRACE.name)  # the file's relative path
    spec = FLEET_FILES[case]
    if spec == ".nan":
        text = yaml.safe_dump(FLEET).replace("start: 1700158546.0", "start: .nan")
    else:
        text = yaml.safe_dump(spec)
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    proc = cli("fleet", "dry-run", "--config", str(path), "--out", str(out), "--no-plot",
               "--judge", "simulator", timeout=LIMIT_S)  # fmt: skip
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    if case == "gpu-count-1e18":  # a budget that never binds: planned as independent planners
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode == 2 and len(err) == 1 and err[0].startswith("sla-planner: error: ")
    assert str(path) in err[0], err[0]  # names the file (and the field)
