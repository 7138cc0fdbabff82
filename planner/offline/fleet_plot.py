"""plot.png for a fleet dry run: GPUs by deployment stacked against each GPU type's budget, and
each deployment's attainment per interval against its target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sla_planner.evaluation.fleet_judge import JudgeResult  # noqa: E402
from sla_planner.model.fleet.types import FleetAllocation  # noqa: E402


def write_fleet_plot(
    path: Path,
    allocations: Sequence[FleetAllocation],
    names: Sequence[str],
    judged: Mapping[str, JudgeResult | None],
    targets: Mapping[str, float],
    budget: Mapping[str, int],
    interval_s: float,
    title: str,
) -> None:
    types = list(budget)
    fig, axes = plt.subplots(
        len(types) + 1, 1, figsize=(11, 2.6 * (len(types) + 1) + 0.6), sharex=True
    )
    t0 = allocations[0].timestamp
    x = np.array([(a.timestamp - t0) / 60.0 for a in allocations])
    edges = np.append(x, x[-1] + interval_s / 60.0)
    colours = plt.get_cmap("tab10")
    for ax, t in zip(axes[:-1], types, strict=True):
        base = np.zeros(len(allocations))
        for i, name in enumerate(names):
            g = np.array([a.by_name(name).gpus_by_type().get(t, 0) for a in allocations], float)
            if not g.any():
                continue
            ax.stairs(base + g, edges, baseline=base, fill=True, color=colours(i), alpha=0.75,
                      label=name)  # fmt: skip
            base = base + g
        ax.axhline(
            budget[t], color="black", linestyle="--", linewidth=1.2, label=f"budget {budget[t]}"
        )
        ax.set_ylabel(f"{t} GPUs")
        ax.set_ylim(0, max(budget[t], float(base.max(initial=0))) * 1.15 + 0.5)
        ax.legend(loc="upper left", fontsize=8, ncol=len(names) + 1)
        ax.grid(alpha=0.3)
    ax = axes[-1]
    for i, name in enumerate(names):
        r = judged.get(name)
        if r is None:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            att = np.where(r.interval_requests > 0, r.interval_ok / r.interval_requests, np.nan)
        n = min(att.size, x.size)
        ax.step(edges[: n + 1], np.append(att[:n], att[n - 1] if n else np.nan), where="post",
                color=colours(i), label=f"{name} ({100 * r.attainment:.2f}%)")  # fmt: skip
        ax.axhline(targets[name], color=colours(i), linestyle=":", linewidth=1)
    ax.set_ylabel("attainment per interval")
    ax.set_xlabel("minutes from the start")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower left", fontsize=8, ncol=len(names))
    ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
