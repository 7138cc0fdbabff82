"""Comparing policies at equal attainment (pure).

A baseline with a knob (HPA's utilisation target) is not one point but a cost/attainment
frontier: a lower target buys attainment with GPU-hours. "Fewer GPU-hours at equal or better
attainment" is therefore judged against the frontier, not one setting of it: the GPU-hours the
baseline family needs to reach our attainment, read off its Pareto frontier by linear
interpolation between neighbouring settings (two settings can be mixed over time, so the
segment between them is achievable). A family none of whose settings reaches our attainment
cannot match it at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    attainment: float  # 0..1
    gpu_hours: float
    label: str = ""


def pareto(points: Iterable[Point]) -> list[Point]:
    """Settings no other setting beats on both axes, by rising attainment (and cost)."""
    pts = sorted(
        (p for p in points if math.isfinite(p.attainment) and math.isfinite(p.gpu_hours)),
        key=lambda p: (-p.attainment, p.gpu_hours),
    )
    out: list[Point] = []
    best = math.inf
    for p in pts:  # from the highest attainment down, keep strictly cheaper ones
        if p.gpu_hours < best:
            out.append(p)
            best = p.gpu_hours
    return out[::-1]


def cost_at(points: Iterable[Point], attainment: float) -> float | None:
    """GPU-hours the family needs for `attainment` (None: no setting reaches it)."""
    front = pareto(points)
    if not front or attainment > front[-1].attainment:
        return None
    if attainment <= front[0].attainment:
        return front[0].gpu_hours  # its cheapest setting already does
    for lo, hi in zip(front, front[1:], strict=False):
        if lo.attainment <= attainment <= hi.attainment:
            span = hi.attainment - lo.attainment
            f = (attainment - lo.attainment) / span if span > 0 else 1.0
            return lo.gpu_hours + f * (hi.gpu_hours - lo.gpu_hours)
    return front[-1].gpu_hours  # unreachable: attainment is within the frontier's range


@dataclass(frozen=True)
class Verdict:
    family: str
    ours: Point
    matched_gpu_hours: float | None  # the family's cost at our attainment
    dominated_by: tuple[str, ...]  # family settings with >= our attainment at <= our cost
    best: Point | None = None  # the family's highest-attainment setting

    @property
    def ratio(self) -> float | None:
        """Our GPU-hours / the family's at our attainment (< 1: we are cheaper)."""
        if self.matched_gpu_hours is None or self.matched_gpu_hours <= 0:
            return None
        return self.ours.gpu_hours / self.matched_gpu_hours

    @property
    def wins(self) -> bool:
        """Cheaper than the family at equal attainment, or the family cannot reach ours;
        and no setting of it is at least as good on both axes."""
        if self.dominated_by:
            return False
        r = self.ratio
        return r is None or r < 1.0

    def describe(self) -> str:
        if self.dominated_by:
            return f"not met: {', '.join(self.dominated_by)} is as good or better on both axes"
        if self.matched_gpu_hours is None:
            b = self.best
            best = f" (its best: {b.attainment:.2%} at {b.gpu_hours:.1f} GPU-h)" if b else ""
            return f"met: no {self.family} setting reaches {self.ours.attainment:.2%}{best}"
        r = self.ratio
        assert r is not None
        word = "met" if r < 1.0 else "not met"
        return (
            f"{word}: {self.family} needs {self.matched_gpu_hours:.1f} GPU-h for "
            f"{self.ours.attainment:.2%}; ours {self.ours.gpu_hours:.1f} ({r:.3f}x)"
        )


def judge(family: str, ours: Point, settings: Iterable[Point]) -> Verdict:
    pts = list(settings)
    dominated = tuple(
        p.label
        for p in pts
        if p.attainment >= ours.attainment
        and p.gpu_hours <= ours.gpu_hours
        and (p.attainment > ours.attainment or p.gpu_hours < ours.gpu_hours)
    )
    front = pareto(pts)
    best = front[-1] if front else None
    return Verdict(family, ours, cost_at(pts, ours.attainment), dominated, best)
