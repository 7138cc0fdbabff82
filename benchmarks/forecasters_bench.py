"""Accuracy and speed table for every forecaster on the Azure 2024 request counts.

    python benchmarks/forecasters_bench.py [COUNTS_CSV] [--models a,b] [--quick]

COUNTS_CSV is the 10 s count file (Time, TIMESTAMP = count), summed to 1-minute counts.
Accuracy: walk-forward over 3 days (2 days of history, then 1 held-out day): one-step MAE and
coverage of the 0.9 quantile. Speed: with 1440 points of history, the cost of one
observe() + forecast(5) call as the planner makes it each interval (median and p99 over 300
calls, so refits every 60 steps show in p99).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from sla_planner.forecasters.evaluate import backtest
from sla_planner.forecasters.registry import available_forecasters, make_forecaster

_SHARED = os.environ.get(
    "SLA_PLANNER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared/data"
)
DEFAULT_CSV = Path(_SHARED) / "traces" / "azure2024_conversation_10s_counts.csv"


def load_minute_counts(path: Path) -> np.ndarray:
    import pandas as pd

    df = pd.read_csv(path, parse_dates=["Time"])
    return df.set_index("Time")["TIMESTAMP"].resample("60s").sum().to_numpy(dtype=float)


def time_calls(name: str, series: np.ndarray, history: int = 1440, calls: int = 300) -> np.ndarray:
    model = make_forecaster(name)
    for v in series[:history]:
        model.observe(v)
    out = []
    for v in series[history : history + calls]:
        t = time.perf_counter()
        model.observe(v)
        model.forecast(5, (0.9, 0.99))
        out.append((time.perf_counter() - t) * 1e3)
    return np.asarray(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python benchmarks/forecasters_bench.py", description=__doc__.split("\n")[0]
    )
    p.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    p.add_argument(
        "--models", default=",".join(n for n in available_forecasters() if n != "default")
    )
    args = p.parse_args(argv)
    if not args.csv.exists():
        print(f"error: {args.csv} not found; pass the Azure 2024 10 s counts CSV", file=sys.stderr)
        return 2
    y = load_minute_counts(args.csv)[: 3 * 1440]
    print("| model | one-step MAE (held-out day) | q0.9 coverage | median ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        r = backtest(make_forecaster(name), y, warmup=2 * 1440, quantiles=(0.9,))
        ms = time_calls(name, y)
        print(
            f"| {name} | {r.mae:.1f} | {r.coverage[0.9]:.3f} | {np.median(ms):.2f} "
            f"| {np.percentile(ms, 99):.1f} | {ms.mean():.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
