"""plot.png for a dry run: one deployment's demand vs forecast, replicas per pool, expected
latency vs target (`write_plot`); a fleet's GPUs by deployment against each type's budget and
attainment per deployment (`write_fleet_plot`).

Long runs (a week at 60 s is 10,080 intervals) would draw as solid blocks, so beyond
`_MAX_STEPS` intervals each series is summarised per bucket of consecutive intervals: a line
(mean, or median for latency) inside a shaded min..max band.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sla_planner.evaluation.estimate import Verdict  # noqa: E402
from sla_planner.model.config import SLA  # noqa: E402
from sla_planner.model.types import Decision, DemandSample, FleetDecision  # noqa: E402
from sla_planner.offline.report import Attainment  # noqa: E402

_PREFILL, _DECODE, _ACTUAL, _FORECAST, _GPUS = "#1f77b4", "#d62728", "#222222", "#ff7f0e", "#2ca02c"
_MAX_STEPS = 720  # intervals drawn one by one; more are bucketed


def _time_axis(t: np.ndarray) -> tuple[np.ndarray, str]:
    span = float(t[-1] - t[0]) if t.size else 0.0
    for limit, div, unit in ((3 * 3600, 60.0, "minutes"), (3 * 86400, 3600.0, "hours")):
        if span <= limit:
            return (t - t[0]) / div, unit
    return (t - t[0]) / 86400.0, "days"


class _Series:
    """Draws per-interval values as steps, or per-bucket line + band for long runs."""

    def __init__(self, x: np.ndarray, dx: float) -> None:
        n = x.size
        self.k = max(1, math.ceil(n / _MAX_STEPS))
        self.edges = np.append(x[:: self.k], x[-1] + dx) if n else x
        self.n = n

    def _buckets(self, y: np.ndarray, centre: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pad = (-self.n) % self.k
        m = np.append(y, np.full(pad, np.nan)).reshape(-1, self.k)
        with np.errstate(all="ignore"), _quiet_nan_warnings():
            mid = np.nanmedian(m, axis=1) if centre == "median" else np.nanmean(m, axis=1)
            return mid, np.nanmin(m, axis=1), np.nanmax(m, axis=1)

    def draw(self, ax: plt.Axes, y: Sequence[float], centre: str = "mean", **kw: object) -> None:
        arr = np.asarray(y, dtype=float)
        if not arr.size:
            return
        if self.k == 1:
            ax.step(self.edges, np.append(arr, arr[-1]), where="post", **kw)
            return
        mid, lo, hi = self._buckets(arr, centre)
        ax.step(self.edges, np.append(mid, mid[-1]), where="post", **kw)
        ax.fill_between(
            self.edges, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post",
            color=kw.get("color"), alpha=0.18, lw=0,
        )  # fmt: skip

    def flagged(self, over: np.ndarray) -> np.ndarray:
        """Bucket start positions where any interval is flagged."""
        if not over.any():
            return np.array([])
        pad = (-self.n) % self.k
        hit = np.append(over, np.zeros(pad, bool)).reshape(-1, self.k).any(axis=1)
        mids = (self.edges[:-1] + self.edges[1:]) / 2
        return mids[hit]


class _quiet_nan_warnings:
    """All-NaN buckets (idle stretches) are expected; numpy's RuntimeWarning is noise."""

    def __enter__(self) -> None:
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)


def write_plot(
    path: Path,
    decisions: Sequence[Decision],
    actual: Sequence[DemandSample],
    attainment: Attainment,
    sla: SLA,
    interval_s: float,
    budget_gpus: int | None = None,
    title: str = "",
) -> None:
    t = np.array([d.timestamp for d in decisions], dtype=float)
    x, unit = _time_axis(t)
    dx = (x[1] - x[0]) if x.size > 1 else 1.0
    s = _Series(x, dx)

    fig, axes = plt.subplots(4, 1, figsize=(12, 10), sharex=True, constrained_layout=True)
    ax_d, ax_r, ax_t, ax_i = axes
    every = "" if s.k == 1 else f" — line: per {s.k} intervals, band: min..max"

    _draw_demand(ax_d, s, decisions, actual, interval_s, every)
    _draw_replicas(ax_r, s, decisions, budget_gpus, every)
    _draw_latencies(ax_t, ax_i, s, decisions, attainment, sla, every)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    ax_i.set_xlabel(f"{unit} since start")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _draw_demand(
    ax_d: Any,
    s: _Series,
    decisions: Sequence[Decision],
    actual: Sequence[DemandSample],
    interval_s: float,
    every: str,
) -> None:
    """Forecast (mean and planning quantile) against the demand that arrived."""
    ax_d.set_title(f"Demand: requests per interval{every}", loc="left", fontsize=10)
    upper = [math.nan if u is None else u for u in (d.forecast.requests_upper for d in decisions)]
    if np.isfinite(upper).any():
        s.draw(ax_d, upper, color=_FORECAST, lw=0.8, ls=":", label="forecast, planning quantile")
    s.draw(
        ax_d, [d.forecast.requests for d in decisions], color=_FORECAST, lw=1.3, label="forecast"
    )
    s.draw(ax_d, [a.requests for a in actual], color=_ACTUAL, lw=1.0, label="actual")
    ax_d.set_ylabel(f"requests / {interval_s:g} s")
    ax_d.set_ylim(bottom=0)


def _draw_replicas(
    ax_r: Any, s: _Series, decisions: Sequence[Decision], budget_gpus: int | None, every: str
) -> None:
    """Replicas per pool and GPUs, against the budget."""
    ax_r.set_title(f"Replicas per pool{every}", loc="left", fontsize=10)
    s.draw(
        ax_r,
        [d.total_gpus for d in decisions],
        color=_GPUS,
        lw=1,
        ls="--",
        label="GPUs (both pools)",
    )
    s.draw(
        ax_r,
        [d.prefill.replicas for d in decisions],
        color=_PREFILL,
        lw=2.6,
        alpha=0.7,
        label="prefill replicas",
    )
    s.draw(
        ax_r, [d.decode.replicas for d in decisions], color=_DECODE, lw=1.3, label="decode replicas"
    )
    if budget_gpus is not None:
        ax_r.axhline(budget_gpus, color="k", lw=0.9, ls=":", label=f"GPU budget ({budget_gpus})")
    ax_r.set_ylabel("replicas / GPUs")
    ax_r.set_ylim(bottom=0)
    ax_r.yaxis.get_major_locator().set_params(integer=True)


def _draw_latencies(
    ax_t: Any,
    ax_i: Any,
    s: _Series,
    decisions: Sequence[Decision],
    attainment: Attainment,
    sla: SLA,
    every: str,
) -> None:
    """Expected TTFT and ITL at forecast and actual demand, against the targets."""
    panels = (
        (ax_t, "TTFT", [d.prefill.expected_latency_ms for d in decisions], attainment.ttft_ms, sla.ttft_ms, _PREFILL),
        (ax_i, "ITL", [d.decode.expected_latency_ms for d in decisions], attainment.itl_ms, sla.itl_ms, _DECODE),
    )  # fmt: skip
    for ax, name, planned, at_actual, target, color in panels:
        top = 2.0 * target
        plan = np.minimum(np.asarray(planned, float), top)
        act = np.asarray(at_actual, float)
        busy = ~np.isnan(act)
        ax.set_title(
            f"Expected {name} vs target: {int((act[busy] > target).sum())} of {int(busy.sum())} "
            f"busy intervals miss it{every.replace('line:', 'line: median')} "
            f"(x: above {top:g} ms or overloaded)",
            loc="left",
            fontsize=10,
        )
        s.draw(ax, plan, centre="median", color=color, lw=1, alpha=0.45, label="at forecast demand")
        s.draw(
            ax, np.minimum(act, top), centre="median", color=color, lw=1.4, label="at actual demand"
        )
        bad = s.flagged(~np.isnan(act) & (act > top))
        if bad.size:
            ax.plot(bad, np.full(bad.size, top), "x", color="k", ms=5, label="far above target")
        ax.axhline(target, color="k", lw=1, ls="--", label=f"target {target:g} ms")
        ax.set_ylim(0, top * 1.06)
        ax.set_ylabel(f"{name} ms")


def write_fleet_plot(
    path: Path,
    allocations: Sequence[FleetDecision],
    names: Sequence[str],
    judged: Mapping[str, Verdict | None],
    targets: Mapping[str, float],
    budget: Mapping[str, int],
    interval_s: float,
    title: str,
) -> None:
    """A fleet's plot.png: GPUs by deployment stacked against each GPU type's budget, and each
    deployment's attainment per interval against its target."""
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
