"""`decode_profile` in the run config: the decode pool sized (and latency-corrected) with its own
engine profile, written as a real native profile file and loaded through build_runtime."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support.controller_harness import start_runtime

from sla_planner.cli.main import main
from sla_planner.config.schema import RunConfig
from sla_planner.controller.clock import SimulatedClock
from sla_planner.controller.wiring import Runtime
from sla_planner.errors import UsageError
from sla_planner.model.size import latency_model as lm
from sla_planner.model.types import DemandSample
from sla_planner.profiles.interpolation import ProfileCurves
from sla_planner.profiles.native import save_profile
from sla_planner.profiles.registry import load_profile

T0 = 1_700_000_040.0  # a minute boundary
PROFILE = "dynamo-h200-llama3.1-8b-fp8-tp1"
RATE, ISL, OSL = 120.0, 1500.0, 250.0  # steady chat traffic


def decode_variant(tmp_path: Path, *, itl_scale: float = 1.0, gpus: int = 1) -> Path:
    """The bundled profile with its decode engine `itl_scale` times slower per step, spread
    over `gpus` GPUs per replica (per-GPU throughput follows), saved as a native YAML file."""
    prof = load_profile(PROFILE)
    k = itl_scale * gpus
    variant = prof.model_copy(
        update={
            "name": f"{prof.name}-decode-x{itl_scale:g}-tp{gpus}",
            "gpus_per_replica": gpus,
            "prefill": prof.prefill.model_copy(
                update={"throughput_per_gpu": [x / gpus for x in prof.prefill.throughput_per_gpu]}
            ),
            "decode": prof.decode.model_copy(
                update={
                    "itl_ms": [x * itl_scale for x in prof.decode.itl_ms],
                    "throughput_per_gpu": [x / k for x in prof.decode.throughput_per_gpu],
                }
            ),
        }
    )
    return save_profile(variant, tmp_path / f"{variant.name}.yaml")


def run_config(decode_profile: str | Path | None, *, correction: bool = True) -> RunConfig:
    data = yaml.safe_load(
        """
planner: {sla: {ttft_ms: 200, itl_ms: 25}, interval_s: 60, startup_s: 120,
          budget: {max_gpus: 64}, forecaster: last}
metrics: {prometheus: {url: "http://127.0.0.1:9", preset: dynamo}}
targets: {prefill: {kind: MetricsOnly}, decode: {kind: MetricsOnly}}
leader_election: {enabled: false}
"""
    )
    data["profile"] = PROFILE
    data["loop"] = {"latency_correction": correction}
    if decode_profile is not None:
        data["decode_profile"] = str(decode_profile)
    return RunConfig.model_validate(data)


class Engines:
    """A MetricsSource of steady traffic whose engines run `ttft_scale` / `itl_scale` times the
    latency their own pool's profile predicts at the replicas that served each interval."""

    def __init__(
        self,
        prefill: ProfileCurves,
        decode: ProfileCurves,
        *,
        ttft_scale: float | None = None,
        itl_scale: float | None = None,
    ) -> None:
        self.prefill, self.decode = prefill, decode
        self.ttft_scale, self.itl_scale = ttft_scale, itl_scale
        self.served: Callable[[], tuple[int | None, int | None]] = lambda: (None, None)

    def time_range(self) -> None:
        return None

    def fetch(self, start: float, end: float, step_s: float) -> list[DemandSample]:
        n_p, n_d = self.served()
        ttft = itl = None
        if self.ttft_scale is not None and n_p:
            ttft = self.ttft_scale * lm.expected_ttft_ms(self.prefill, RATE, ISL, n_p)
        if self.itl_scale is not None and n_d:
            itl = self.itl_scale * lm.expected_itl_ms(self.decode, RATE, ISL, OSL, n_d)
        n = max(0, math.ceil((end - start) / step_s - 1e-9))
        return [
            DemandSample(
                start + k * step_s,
                step_s,
                RATE * step_s,
                ISL,
                OSL,
                ttft_mean_ms=ttft,
                itl_mean_ms=itl,
            )
            for k in range(n)
        ]


def start(cfg: RunConfig, source: Engines | None = None) -> tuple[Runtime, SimulatedClock]:
    clock = SimulatedClock(T0)
    curves = ProfileCurves(load_profile(PROFILE))
    source = source or Engines(curves, curves)
    rt = start_runtime(cfg, clock, source=source)

    def served() -> tuple[int | None, int | None]:
        snap = rt.controller.snapshot()
        return (None, None) if snap is None else (snap.prefill.desired, snap.decode.desired)

    source.served = served
    return rt, clock


def run_ticks(rt: Runtime, clock: SimulatedClock, ticks: int):
    snap = None
    for _ in range(ticks):
        snap = rt.controller.tick()
        clock.advance(60)
    assert snap is not None and snap.prefill.desired is not None
    assert snap.decode.desired is not None
    return snap


@pytest.mark.parametrize("correction", [True, False])
def test_slower_decode_profile_sizes_only_the_decode_pool_up(tmp_path, correction):
    slow = decode_variant(tmp_path, itl_scale=2.0)
    snaps = {}
    for key, decode_profile in (("same", None), ("slow", slow)):
        rt, clock = start(run_config(decode_profile, correction=correction))
        try:
            snaps[key] = run_ticks(rt, clock, 4)
        finally:
            rt.close()
    same, slower = snaps["same"], snaps["slow"]
    assert slower.decode.desired > same.decode.desired
    assert slower.prefill.desired == same.prefill.desired
    assert slower.decode.expected_latency_ms <= 25.0  # still sized to meet the ITL target


def test_decode_profile_with_another_tp_size_counts_its_gpus(tmp_path):
    # Same per-replica latency at TP2: as many decode replicas, each holding 2 GPUs.
    rt, clock = start(run_config(decode_variant(tmp_path, gpus=2)))
    try:
        snap = run_ticks(rt, clock, 3)
    finally:
        rt.close()
    assert snap.gpus_used == snap.prefill.desired + 2 * snap.decode.desired


def test_bad_decode_profile_is_one_usage_error_naming_the_key(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(UsageError) as err:
        start(run_config(missing))
    assert str(err.value).startswith(f"decode_profile '{missing}': ")
    assert "Fix:" in str(err.value)

    path = tmp_path / "planner.yaml"
    data = run_config(missing).model_dump(mode="json", exclude_none=True)
    path.write_text(yaml.safe_dump(data))
    code = main(["run", "--config", str(path), "--once"])
    err_text = capsys.readouterr().err
    lines = err_text.strip().splitlines()
    assert code == 2 and len(lines) == 1, err_text
    assert "decode_profile" in lines[0] and str(missing) in lines[0]


@pytest.mark.parametrize(
    ("ttft_scale", "itl_scale"),
    [(1.5, 1.0), (1.0, 1.5)],
    ids=["prefill-slower", "decode-slower"],
)
def test_latency_correction_scales_each_pools_own_profile(tmp_path, ttft_scale, itl_scale):
    # The decode engines are profiled 2x slower than prefill's profile says. Engines report
    # latency `scale` times what their own pool's profile predicts, so each learned factor must
    # be that scale; judged against the prefill profile, decode's would hit the 2.0 bound.
    slow_path = decode_variant(tmp_path, itl_scale=2.0)
    fast = ProfileCurves(load_profile(PROFILE))
    slow = ProfileCurves(load_profile(slow_path))
    engines = Engines(fast, slow, ttft_scale=ttft_scale, itl_scale=itl_scale)
    rt, clock = start(run_config(slow_path), engines)
    try:
        run_ticks(rt, clock, 25)
        d = rt.controller.planner.deployment()
        f_p, f_d = d.factors["default"]
        assert f_p == pytest.approx(ttft_scale, rel=0.02)
        assert f_d == pytest.approx(itl_scale, rel=0.02)
        # The planner sizes prefill with the prefill profile x f_p and decode with the decode
        # profile x f_d: the other pool's factor does not leak in.
        engines = d.variants[0]
        assert engines.prefill.curves.prefill_capacity_tps(ISL) == pytest.approx(
            fast.prefill_capacity_tps(ISL) / f_p
        )
        assert engines.decode.curves.decode_itl_ms(16.0, 1625.0) == pytest.approx(
            slow.decode_itl_ms(16.0, 1625.0) * f_d
        )
        assert engines.decode.curves.profile.name == slow.profile.name
    finally:
        rt.close()
