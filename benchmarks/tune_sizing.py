"""Sweep the planner's headroom knobs on the TUNING half of the Azure 2024 week (days 2-4).

    python benchmarks/tune_sizing.py [--forecaster NAME] [--days 3]

Prints attainment and GPU-hours / oracle per setting. The chosen defaults are then checked on
the held-out half (days 5-7) and the other traces by run_benchmark.py; nothing here looks at
those.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import DAY, PROFILE, Scenario, baseline_factories, config_for, load, run_policy  # noqa: E402

from sla_planner.forecasters.registry import make_forecaster  # noqa: E402
from sla_planner.model.planner import Planner  # noqa: E402
from sla_planner.model.size.sizing import SizingPolicy  # noqa: E402
from sla_planner.profiles.interpolation import ProfileCurves  # noqa: E402
from sla_planner.profiles.registry import load_profile  # noqa: E402
from sla_planner_bench.baselines.hpa import HPAPolicy  # noqa: E402


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--forecaster", default="default")
    ap.add_argument("--days", type=float, default=3.0)
    ap.add_argument("--itl-q", default="0.95,0.99,0.999")
    ap.add_argument("--ttft-q", default="0.99")
    ap.add_argument("--max-util", default="0.9")
    ap.add_argument("--plan-q", default="0.95,0.97,0.99")
    ap.add_argument("--itl-frac", default="1.0")
    ap.add_argument("--ttft-frac", default="1.0")
    ap.add_argument("--scv", default="2.0", help="prefill_service_scv values (unmeasured)")
    ap.add_argument("--burst-q", default="0.9", help="burst_quantile values ('none': off)")
    ap.add_argument("--sdw", default="300", help="scale_down_window_s values")
    ap.add_argument("--hpa", default="0.7,0.75,0.8,0.85", help="HPA targets for its frontier")
    return ap.parse_args()


def main() -> None:
    a = _args()
    sc = Scenario(
        "azure2024-tune",
        "azure2024_conversation_10s_counts.csv",
        200.0,
        25.0,
        rate_scale=4.0,
        tokens_from="AzureLLMInferenceTrace_conv.csv",
        warmup_s=DAY,
        duration_s=a.days * DAY,
    )
    curves = ProfileCurves(load_profile(PROFILE))
    ld = load(sc)
    cfg0 = config_for(sc)
    oracle = run_policy(
        ld, "oracle", "oracle", baseline_factories(ld, curves, cfg0)["oracle"][1], curves, cfg0
    )
    print(f"oracle: att {oracle.sim.attainment:.5f} gpu_h {oracle.sim.gpu_hours:.1f}", flush=True)
    for t in (float(x) for x in a.hpa.split(",") if x.strip()):
        r = run_policy(ld, "hpa", "baseline", lambda t=t: HPAPolicy(cfg0, curves, t), curves, cfg0)
        print(
            f"hpa target {t:g}: att {r.sim.attainment:.5f} gpu_h {r.sim.gpu_hours:.1f} "
            f"x{r.sim.gpu_hours / oracle.sim.gpu_hours:.3f}",
            flush=True,
        )
    grid = itertools.product(
        [float(x) for x in a.itl_q.split(",")],
        [float(x) for x in a.ttft_q.split(",")],
        [float(x) for x in a.max_util.split(",")],
        [float(x) for x in a.plan_q.split(",")],
        [float(x) for x in a.itl_frac.split(",")],
        [float(x) for x in a.ttft_frac.split(",")],
        [float(x) for x in a.scv.split(",")],
        [None if x.strip() == "none" else float(x) for x in a.burst_q.split(",")],
        [float(x) for x in a.sdw.split(",")],
    )
    for iq, tq, mu, pq, fi, ft, scv, bq, sdw in grid:
        cfg = config_for(sc, planning_quantile=pq, burst_quantile=bq, scale_down_window_s=sdw)
        pol = SizingPolicy(
            itl_quantile=iq,
            ttft_quantile=tq,
            prefill_max_utilization=mu,
            itl_target_fraction=fi,
            ttft_target_fraction=ft,
            prefill_service_scv=scv,
        )

        def make(cfg=cfg, pol=pol):  # noqa: ANN202
            return Planner.of_one(
                cfg,
                curves,
                forecaster_factory=lambda: make_forecaster(a.forecaster, interval_s=60.0),
                policy=pol,
            )

        r = run_policy(ld, "ours", "ours", make, curves, cfg)
        s = r.sim
        print(
            f"itl_q={iq} ttft_q={tq} max_util={mu} plan_q={pq} itl_frac={fi} ttft_frac={ft} "
            f"scv={scv} burst_q={bq} sdw={sdw:g}: att {s.attainment:.5f} "
            f"(ttft {s.ttft_attainment:.5f} itl {s.itl_attainment:.5f}) gpu_h {s.gpu_hours:.1f} "
            f"x{s.gpu_hours / oracle.sim.gpu_hours:.3f} actions {s.scaling_actions} "
            f"decide {r.decide_ms_median:.2f} ms wall {r.wall_s:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
