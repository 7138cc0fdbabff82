"""Fleet allocations ours is compared with. Each is an `Allocator` the same `Planner` runs
(`Fleet.planner(allocator=...)`): the same per-deployment forecasting, sizing, error budget,
stabilisation and scale-to-zero rules and the same decisions' wording, on one fixed variant per
deployment (`placement`; default its first); they differ only in how the cluster's GPUs are
shared:

- `StaticSplitPolicy`: every deployment runs its own planner inside a fixed quota per GPU type
  (`static_quotas`: each type split in proportion to the deployments' peak wants, found by an
  unbounded run, so the quotas are generous to it); within the quota the single-deployment
  budget fit (`model.allocate.split.fit_budget`) splits prefill and decode.
- `FirstComeCapPolicy` (Dynamo's global planner): each deployment's scale request is accepted
  if the fleet stays within every GPU type's cap after it, else rejected whole (the deployment
  keeps what it runs); requests are taken in arrival order, random each tick (seeded).
- `GreedySaturationPolicy` (llm-d WVA's GPU limiter): scale-downs first; then deployments
  wanting more, most saturated first (wanted / running GPUs), take what is free of their GPU
  type, partially if need be, one replica at a time; no preemption.
- `UnboundedPolicy`: every deployment gets its wants, budget ignored (a reference, and how
  `static_quotas` finds peaks).

None of them preempts by priority: their ticks record no preemptions.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np

from sla_planner.model.allocate.outcome import Outcome, build_outcomes
from sla_planner.model.allocate.plan import FleetSettings, Plan
from sla_planner.model.allocate.split import Allocation, Budget, PoolRequest, fit_budget
from sla_planner.model.allocate.state import DeploymentState, FleetState
from sla_planner.model.allocate.tick import claim_for, entering, next_state, plan_for
from sla_planner.model.allocate.variants import VariantChoice
from sla_planner.model.size.needs import DeploymentNeed, VariantNeed
from sla_planner.model.types import Preemption

Replicas = tuple[int, int]
Plans = Mapping[str, Plan]


class _Baseline:
    """An `Allocator`: wants on each deployment's placed variant (the product's rules), the
    GPUs shared by `share`, the outcome worded as ours is."""

    name = "baseline"

    def __init__(self, settings: FleetSettings, placement: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.placement = dict(placement or {})  # variant per deployment; default: the first

    def __call__(
        self,
        needs: Sequence[DeploymentNeed],
        state: FleetState,
        now: float,
        settings: FleetSettings,
    ) -> tuple[dict[str, Outcome], tuple[Preemption, ...], FleetState]:
        plans = {n.name: self._plan(n, state, now, settings) for n in needs}
        got = self.share(plans)
        claims, splits = {}, {}
        for name, plan in plans.items():
            c = claim_for(plan, settings)
            c.p, c.d = got[name]
            claims[name] = c
            splits[name] = self.split(plan, got[name])
        outcomes, _ = build_outcomes(plans, claims, splits, settings)
        return outcomes, (), next_state(plans, claims)

    def _plan(
        self, n: DeploymentNeed, state: FleetState, now: float, settings: FleetSettings
    ) -> Plan:
        v = self.placement.get(n.name, n.default_variant)
        st = entering(n, state.get(n.name), now)
        if st.variant != v:
            st = DeploymentState(v)
        return plan_for(n, st, VariantChoice(v, None, None, None), now, settings)

    def share(self, plans: Plans) -> dict[str, Replicas]:
        raise NotImplementedError

    def split(self, plan: Plan, got: Replicas) -> Allocation:
        v = _variant(plan)
        gp, gd = v.prefill.gpus_per_replica, v.decode.gpus_per_replica
        short = got[0] < plan.want_p.wanted or got[1] < plan.want_d.wanted
        return Allocation(got[0], got[1], got[0] * gp, got[1] * gd, short, False, False, None)


def _variant(plan: Plan) -> VariantNeed:
    return plan.need.variants[plan.choice.variant]


def _targets(plan: Plan) -> Replicas:
    lo = _mins(_variant(plan))
    return max(plan.want_p.wanted, lo[0]), max(plan.want_d.wanted, lo[1])


def _mins(v: VariantNeed) -> Replicas:
    return v.prefill.limits.min_replicas, v.decode.limits.min_replicas


def _gpus(v: VariantNeed, r: Replicas) -> dict[str, int]:
    out = {v.prefill.gpu_type: r[0] * v.prefill.gpus_per_replica}
    t = v.decode.gpu_type
    out[t] = out.get(t, 0) + r[1] * v.decode.gpus_per_replica
    return out


def _caps(settings: FleetSettings) -> dict[str, int]:
    """Each GPU type's count (an unlimited type: no cap a baseline could hit)."""
    return settings.free()


def _fits(used: Mapping[str, int], add: Mapping[str, int], cap: Mapping[str, int]) -> bool:
    return all(used.get(t, 0) + g <= cap.get(t, 0) for t, g in add.items())


def _add(used: dict[str, int], add: Mapping[str, int], sign: int = 1) -> None:
    for t, g in add.items():
        used[t] = used.get(t, 0) + sign * g


class UnboundedPolicy(_Baseline):
    name = "unbounded (no budget)"

    def share(self, plans: Plans) -> dict[str, Replicas]:
        return {n: (p.want_p.wanted, p.want_d.wanted) for n, p in plans.items()}


class FirstComeCapPolicy(_Baseline):
    name = "first-come accept/reject under the cap (Dynamo global planner style)"

    def __init__(
        self, settings: FleetSettings, placement: Mapping[str, str] | None = None, seed: int = 0
    ) -> None:
        super().__init__(settings, placement)
        self._rng = random.Random(seed)

    def share(self, plans: Plans) -> dict[str, Replicas]:
        cap = _caps(self.settings)
        cur: dict[str, Replicas] = {}
        for n, plan in plans.items():
            lo = _mins(_variant(plan))
            cur[n] = (max(plan.running[0], lo[0]), max(plan.running[1], lo[1]))
        used: dict[str, int] = {}
        for n, plan in plans.items():
            _add(used, _gpus(_variant(plan), cur[n]))
        order = sorted(plans)
        self._rng.shuffle(order)
        for n in order:
            v, target = _variant(plans[n]), _targets(plans[n])
            old, new = _gpus(v, cur[n]), _gpus(v, target)
            delta = {t: new.get(t, 0) - old.get(t, 0) for t in set(old) | set(new)}
            if _fits(used, delta, cap):  # accepted whole, else rejected whole
                _add(used, delta)
                cur[n] = target
        return cur


class GreedySaturationPolicy(_Baseline):
    name = "greedy by saturation, no preemption (llm-d WVA limiter style)"

    def share(self, plans: Plans) -> dict[str, Replicas]:
        cap = _caps(self.settings)
        cur: dict[str, list[int]] = {}
        target = {n: _targets(plan) for n, plan in plans.items()}
        for n, plan in plans.items():
            lo = _mins(_variant(plan))
            # Scale-downs first (they free GPUs); never below the minimums.
            cur[n] = [max(min(plan.running[i], target[n][i]), lo[i]) for i in (0, 1)]
        used: dict[str, int] = {}
        for n, plan in plans.items():
            _add(used, _gpus(_variant(plan), (cur[n][0], cur[n][1])))

        def saturation(n: str) -> float:
            v = _variant(plans[n])
            have = sum(_gpus(v, (cur[n][0], cur[n][1])).values())
            want = sum(_gpus(v, target[n]).values())
            return np.inf if have == 0 else want / have

        for n in sorted(plans, key=saturation, reverse=True):
            v = _variant(plans[n])
            grew = True
            while grew:  # partial allocation: one replica of each pool in turn while it fits
                grew = False
                for i, pool in enumerate((v.prefill, v.decode)):
                    if cur[n][i] < target[n][i]:
                        add = {pool.gpu_type: pool.gpus_per_replica}
                        if _fits(used, add, cap):
                            _add(used, add)
                            cur[n][i] += 1
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

    def share(self, plans: Plans) -> dict[str, Replicas]:
        return {n: self._fit(n, plan) for n, plan in plans.items()}

    def split(self, plan: Plan, got: Replicas) -> Allocation:
        v = _variant(plan)
        if v.prefill.gpu_type == v.decode.gpu_type:
            return self._fitted(plan.need.name, plan)
        return super().split(plan, got)

    def _fit(self, name: str, plan: Plan) -> Replicas:
        v = _variant(plan)
        if v.prefill.gpu_type == v.decode.gpu_type:
            a = self._fitted(name, plan)
            return a.prefill, a.decode
        q = self.quotas[name]
        return tuple(  # type: ignore[return-value]
            min(w.wanted, max(q.get(p.gpu_type, 0) // p.gpus_per_replica, p.limits.min_replicas))
            for p, w in ((v.prefill, plan.want_p), (v.decode, plan.want_d))
        )  # fmt: skip

    def _fitted(self, name: str, plan: Plan) -> Allocation:
        """The single-deployment budget fit inside the deployment's quota of its one type."""
        v, q = _variant(plan), self.quotas[name]
        return fit_budget(
            PoolRequest(plan.want_p.wanted, v.prefill.limits, v.prefill.gpus_per_replica, v.prefill.scorer),
            PoolRequest(plan.want_d.wanted, v.decode.limits, v.decode.gpus_per_replica, v.decode.scorer),
            Budget(max_gpus=max(q.get(v.prefill.gpu_type, 0), 1)),
        )  # fmt: skip


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
