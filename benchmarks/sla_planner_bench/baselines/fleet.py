"""Fleet policies ours is compared with. Each sees the same needs as ours (the same per-deployment
forecasting, sizing, stabilisation and scale-to-zero rules) on one fixed variant per deployment
(`placement`; default its first) and differs only in how the cluster's GPUs are shared:

- `StaticSplitPolicy`: every deployment runs its own planner inside a fixed quota per GPU type
  (`static_quotas`: each type split in proportion to the deployments' peak wants, found by an
  unbounded run, so the quotas are generous to it); within the quota the single-deployment
  budget fit (`model.budget.fit_budget`) splits prefill and decode.
- `FirstComeCapPolicy` (Dynamo's global planner): each deployment's scale request is accepted
  if the fleet stays within every GPU type's cap after it, else rejected whole (the deployment
  keeps what it runs); requests are taken in arrival order, random each tick (seeded).
- `GreedySaturationPolicy` (llm-d WVA's GPU limiter): scale-downs first; then deployments
  wanting more, most saturated first (wanted / running GPUs), take what is free of their GPU
  type, partially if need be, one replica at a time; no preemption.
- `UnboundedPolicy`: every deployment gets its wants, budget ignored (a reference, and how
  `static_quotas` finds peaks).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np

from sla_planner.model.allocate.split import Budget, PoolRequest, fit_budget
from sla_planner.model.fleet.plan import FleetSettings
from sla_planner.model.fleet.types import (
    DeploymentAllocation,
    DeploymentNeed,
    FleetAllocation,
    FleetReason,
    PoolAllocation,
    PoolNeed,
    VariantNeed,
)
from sla_planner.model.stabilise.stabilization import Recommendation
from sla_planner.model.stabilise.wants import PoolWant, pool_want

Replicas = tuple[int, int]


class _Baseline:
    """Wants on each deployment's first variant, and the allocation record; subclasses share
    the GPUs (`share`)."""

    name = "baseline"

    def __init__(self, settings: FleetSettings, placement: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.placement = dict(placement or {})  # variant per deployment; default: the first
        self.running: dict[str, Replicas] = {}
        self._hist: dict[str, tuple[tuple[Recommendation, ...], tuple[Recommendation, ...]]] = {}

    def decide(self, needs: Sequence[DeploymentNeed], now: float) -> FleetAllocation:
        wants = {n.name: self._wants(n, now) for n in needs}
        got = self.share(needs, wants, now)
        for n in needs:
            self.running[n.name] = got[n.name]
            self._hist[n.name] = (wants[n.name][1].history, wants[n.name][2].history)
        return FleetAllocation(
            now,
            tuple(self._record(n, wants[n.name], got[n.name]) for n in needs),
            dict(self.settings.gpus),
        )

    def share(
        self,
        needs: Sequence[DeploymentNeed],
        wants: Mapping[str, tuple[VariantNeed, PoolWant, PoolWant]],
        now: float,
    ) -> dict[str, Replicas]:
        raise NotImplementedError

    def _wants(self, n: DeploymentNeed, now: float) -> tuple[VariantNeed, PoolWant, PoolWant]:
        v = n.variants[self.placement.get(n.name, n.default_variant)]
        p, d = self.running.get(n.name, (0, 0))
        hp, hd = self._hist.get(n.name, ((), ()))
        w = self.settings.scale_down_window_s
        zero = p == 0 and d == 0
        return (
            v,
            pool_want(v.prefill, n, p, hp, now, w, zero),
            pool_want(v.decode, n, d, hd, now, w, zero),
        )

    def _record(
        self, n: DeploymentNeed, want: tuple[VariantNeed, PoolWant, PoolWant], got: Replicas
    ) -> DeploymentAllocation:
        v, wp, wd = want
        prices = self.settings.prices

        def pool(need: PoolNeed, w: PoolWant, r: int) -> PoolAllocation:
            short = (FleetReason.BUDGET_LIMITED,) if r < w.wanted else ()
            return PoolAllocation(
                r, r * need.gpus_per_replica, need.gpu_type, need.gpus_per_replica, need.sized,
                w.wanted, short + w.reasons, w.text,
            )  # fmt: skip

        p, d = pool(v.prefill, wp, got[0]), pool(v.decode, wd, got[1])
        att = float(v.prefill.attainment[min(got[0], v.prefill.cap)])
        att *= float(v.decode.attainment[min(got[1], v.decode.cap)])
        cost = p.gpus * prices[p.gpu_type] + d.gpus * prices[d.gpu_type]
        return DeploymentAllocation(n.name, n.rank, v.name, p, d, None, att, cost, (), self.name)


def _mins(v: VariantNeed) -> Replicas:
    return v.prefill.limits.min_replicas, v.decode.limits.min_replicas


def _gpus(v: VariantNeed, r: Replicas) -> dict[str, int]:
    out = {v.prefill.gpu_type: r[0] * v.prefill.gpus_per_replica}
    t = v.decode.gpu_type
    out[t] = out.get(t, 0) + r[1] * v.decode.gpus_per_replica
    return out


def _fits(used: Mapping[str, int], add: Mapping[str, int], cap: Mapping[str, int]) -> bool:
    return all(used.get(t, 0) + g <= cap.get(t, 0) for t, g in add.items())


def _add(used: dict[str, int], add: Mapping[str, int], sign: int = 1) -> None:
    for t, g in add.items():
        used[t] = used.get(t, 0) + sign * g


class UnboundedPolicy(_Baseline):
    name = "unbounded (no budget)"

    def share(self, needs, wants, now):  # type: ignore[no-untyped-def]
        return {n.name: (wants[n.name][1].wanted, wants[n.name][2].wanted) for n in needs}


class FirstComeCapPolicy(_Baseline):
    name = "first-come accept/reject under the cap (Dynamo global planner style)"

    def __init__(
        self, settings: FleetSettings, placement: Mapping[str, str] | None = None, seed: int = 0
    ) -> None:
        super().__init__(settings, placement)
        self._rng = random.Random(seed)

    def share(self, needs, wants, now):  # type: ignore[no-untyped-def]
        cap = self.settings.gpus
        cur: dict[str, Replicas] = {}
        for n in needs:
            v = wants[n.name][0]
            lo = _mins(v)
            p, d = self.running.get(n.name, lo)
            cur[n.name] = (max(p, lo[0]), max(d, lo[1]))
        used: dict[str, int] = {}
        for n in needs:
            _add(used, _gpus(wants[n.name][0], cur[n.name]))
        order = list(needs)
        self._rng.shuffle(order)
        for n in order:
            v, wp, wd = wants[n.name]
            target = (max(wp.wanted, _mins(v)[0]), max(wd.wanted, _mins(v)[1]))
            old, new = _gpus(v, cur[n.name]), _gpus(v, target)
            delta = {t: new.get(t, 0) - old.get(t, 0) for t in set(old) | set(new)}
            if _fits(used, delta, cap):  # accepted whole, else rejected whole
                _add(used, delta)
                cur[n.name] = target
        return cur


class GreedySaturationPolicy(_Baseline):
    name = "greedy by saturation, no preemption (llm-d WVA limiter style)"

    def share(self, needs, wants, now):  # type: ignore[no-untyped-def]
        cap = self.settings.gpus
        cur: dict[str, list[int]] = {}
        target: dict[str, Replicas] = {}
        for n in needs:
            v, wp, wd = wants[n.name]
            lo = _mins(v)
            target[n.name] = (max(wp.wanted, lo[0]), max(wd.wanted, lo[1]))
            p, d = self.running.get(n.name, lo)
            # Scale-downs first (they free GPUs); never below the minimums.
            cur[n.name] = [
                max(min(p, target[n.name][0]), lo[0]),
                max(min(d, target[n.name][1]), lo[1]),
            ]
        used: dict[str, int] = {}
        for n in needs:
            _add(used, _gpus(wants[n.name][0], (cur[n.name][0], cur[n.name][1])))

        def saturation(n: DeploymentNeed) -> float:
            v = wants[n.name][0]
            have = sum(_gpus(v, (cur[n.name][0], cur[n.name][1])).values())
            want = sum(_gpus(v, target[n.name]).values())
            return np.inf if have == 0 else want / have

        for n in sorted(needs, key=saturation, reverse=True):
            v = wants[n.name][0]
            grew = True
            while grew:  # partial allocation: one replica of each pool in turn while it fits
                grew = False
                for i, pool in enumerate((v.prefill, v.decode)):
                    if cur[n.name][i] < target[n.name][i]:
                        add = {pool.gpu_type: pool.gpus_per_replica}
                        if _fits(used, add, cap):
                            _add(used, add)
                            cur[n.name][i] += 1
                            grew = True
        return {name: (r[0], r[1]) for name, r in cur.items()}


class StaticSplitPolicy(_Baseline):
    name = "per-deployment planners, static split of the budget"

    def __init__(
        self,
        settings: FleetSettings,
        quotas: Mapping[str, Mapping[str, int]],
        placement: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(settings, placement)
        self.quotas = quotas

    def share(self, needs, wants, now):  # type: ignore[no-untyped-def]
        out: dict[str, Replicas] = {}
        for n in needs:
            v, wp, wd = wants[n.name]
            q = self.quotas[n.name]
            if v.prefill.gpu_type == v.decode.gpu_type:
                a = fit_budget(
                    PoolRequest(wp.wanted, v.prefill.limits, v.prefill.gpus_per_replica, _scorer(v.prefill)),
                    PoolRequest(wd.wanted, v.decode.limits, v.decode.gpus_per_replica, _scorer(v.decode)),
                    Budget(max_gpus=max(q.get(v.prefill.gpu_type, 0), 1)),
                )  # fmt: skip
                out[n.name] = (a.prefill, a.decode)
            else:
                out[n.name] = tuple(  # type: ignore[assignment]
                    min(w.wanted, max(q.get(p.gpu_type, 0) // p.gpus_per_replica, p.limits.min_replicas))
                    for p, w in ((v.prefill, wp), (v.decode, wd))
                )  # fmt: skip
        return out


def _scorer(pool: PoolNeed):  # type: ignore[no-untyped-def]
    def score(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        idx = np.minimum(np.arange(lo, hi + 1), pool.cap)
        return pool.attainment[idx], pool.served[idx]

    return score


def static_quotas(
    gpus: Mapping[str, int],
    peaks: Mapping[str, Mapping[str, int]],
    minimums: Mapping[str, Mapping[str, int]],
) -> dict[str, dict[str, int]]:
    """Each GPU type split among the deployments that use it in proportion to their peak GPUs
    of it (largest remainders), each at least its minimums."""
    out: dict[str, dict[str, int]] = {n: {} for n in peaks}
    for t, count in gpus.items():
        users = [n for n in peaks if peaks[n].get(t, 0) > 0 or minimums[n].get(t, 0) > 0]
        if not users:
            continue
        floor = {n: minimums[n].get(t, 0) for n in users}
        spare = count - sum(floor.values())
        total = sum(peaks[n].get(t, 0) for n in users) or 1
        share = {n: spare * peaks[n].get(t, 0) / total for n in users}
        whole = {n: int(share[n]) for n in users}
        left = spare - sum(whole.values())
        for n in sorted(users, key=lambda n: share[n] - whole[n], reverse=True)[: max(left, 0)]:
            whole[n] += 1
        for n in users:
            out[n][t] = floor[n] + whole[n]
    return out
