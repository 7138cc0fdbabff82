"""The planner: forecast -> size -> allocate -> decide, for every deployment of a fleet (pure; no
I/O, no clock). A single deployment is a fleet of one.

`Planner` is the one policy the dry run, the benchmarks and the controller drive (`Policy`):
demand and measured attainment in per deployment, one `FleetDecision` out per tick. Each
deployment's planner (`model.deployment`) forecasts and sizes it on each of its variants; the
allocator (`model.allocate.tick`) applies the scale-down window and scale-to-zero, divides the
GPU types' budgets by priority and value per dollar, splits each deployment's GPUs between its
pools and picks variants; then each deployment's planner words its decision.

The allocator's state (variants, replicas, stabilisation histories, switches) is kept here
between ticks; a controller passes what the cluster runs instead (`decide(now, cluster=...)`).
The allocation step is an argument (`Allocator`, default `allocate`): the fleet benchmark's
baselines share the GPUs their own way behind the same forecasting, sizing and wording.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from sla_planner.model.allocate.outcome import Outcome
from sla_planner.model.allocate.plan import FleetSettings
from sla_planner.model.allocate.state import DeploymentState, FleetState
from sla_planner.model.allocate.tick import allocate
from sla_planner.model.config import PlannerConfig
from sla_planner.model.deployment import DeploymentPlanner
from sla_planner.model.forecast.tracker import DemandForecasterLike
from sla_planner.model.size.error_budget import AttainmentSample, BudgetStatus
from sla_planner.model.size.latency_curves import Curves
from sla_planner.model.size.needs import DeploymentNeed
from sla_planner.model.size.sizing import SizingPolicy
from sla_planner.model.size.variant import Engine, VariantEngines
from sla_planner.model.types import (
    DEFAULT_DEPLOYMENT,
    DEFAULT_VARIANT,
    DemandSample,
    FleetDecision,
    Preemption,
)


class Policy(Protocol):
    """What the dry run and the benchmarks drive: ours (`Planner`) and the baselines. A
    deployment name may be left out when there is only one."""

    def observe(self, sample: DemandSample, deployment: str | None = None) -> str | None:
        """Why the sample's count was held as suspect data (None: taken, or not told)."""
        ...

    def decide(self, now: float) -> FleetDecision: ...


class Allocator(Protocol):
    """One allocation: every deployment's outcome, the preemptions and the next state."""

    def __call__(
        self,
        needs: Sequence[DeploymentNeed],
        state: FleetState,
        now: float,
        settings: FleetSettings,
    ) -> tuple[dict[str, Outcome], tuple[Preemption, ...], FleetState]: ...


class Planner:
    def __init__(
        self,
        deployments: Sequence[DeploymentPlanner],
        settings: FleetSettings,
        state: FleetState | None = None,
        allocator: Allocator = allocate,
    ) -> None:
        if not deployments:
            raise ValueError("a planner needs at least one deployment")
        self.deployments = {d.name: d for d in deployments}
        self.settings = settings
        self.state = state if state is not None else FleetState()
        self.allocator = allocator

    @classmethod
    def of_one(
        cls,
        config: PlannerConfig,
        curves: Curves,
        decode_curves: Curves | None = None,
        *,
        name: str = DEFAULT_DEPLOYMENT,
        forecaster_factory: Callable[[], Any] | None = None,
        policy: SizingPolicy | None = None,
        demand_forecaster: DemandForecasterLike | None = None,
        latency_correction: bool = False,
    ) -> Planner:
        """A single deployment, a fleet of one: one variant (`curves` for prefill, and decode
        unless `decode_curves`), its GPU types unlimited, `config.budget.max_gpus` its cap."""
        dc = decode_curves if decode_curves is not None else curves
        engines = VariantEngines(DEFAULT_VARIANT, _engine(curves), _engine(dc))
        d = DeploymentPlanner(
            name,
            config,
            [engines],
            forecaster_factory=forecaster_factory,
            policy=policy,
            demand_forecaster=demand_forecaster,
            latency_correction=latency_correction,
        )
        gpus = {engines.prefill.gpu_type: None, engines.decode.gpu_type: None}
        return cls([d], FleetSettings(gpus=gpus, prices={}, startup_s=config.startup_s))

    # -- inputs ----------------------------------------------------------------------------
    def deployment(self, name: str | None = None) -> DeploymentPlanner:
        if name is None:
            if len(self.deployments) != 1:
                raise ValueError(f"{len(self.deployments)} deployments: name the one you mean")
            return next(iter(self.deployments.values()))
        return self.deployments[name]

    def observe(self, sample: DemandSample, deployment: str | None = None) -> str | None:
        """One interval of a deployment's demand; why its count was held as suspect data."""
        return self.deployment(deployment).observe(sample)

    def observe_attainment(self, window: AttainmentSample, deployment: str | None = None) -> None:
        self.deployment(deployment).observe_attainment(window)

    @property
    def budget_status(self) -> BudgetStatus | None:
        """The error budget of a single-deployment planner (None: fixed margins)."""
        return self.deployment().budget_status

    def seed(
        self,
        prefill: int,
        decode: int,
        now: float,
        deployment: str | None = None,
        variant: str | None = None,
    ) -> None:
        """What runs now counts as a recommendation at `now` (no scale-down below it within
        the stabilisation window; held while there is no demand history): a restart, a gain
        of leadership, a reactive scale-up."""
        d = self.deployment(deployment)
        st = self.state.get(d.name)
        v = variant or (st.variant if st is not None else d.variants[0].name)
        self.state = self.state.seeded(d.name, v, prefill, decode, now)
        d.seed()

    # -- the decision ----------------------------------------------------------------------
    def decide(
        self,
        now: float,
        *,
        cluster: Mapping[str, DeploymentState] | None = None,
        skip: Collection[str] = (),
        catch: bool = False,
    ) -> FleetDecision:
        """Every deployment's decision for the interval starting at `now`.

        `cluster`: the state each deployment enters with, as the cluster runs it (a
        controller); else the state the last tick left. `skip`: deployments held as they run
        (their demand could not be read): left out, their GPUs off the budget. `catch`: a
        deployment whose planning raises is held likewise, its error in `errors`, instead of
        failing the tick."""
        state = FleetState({**self.state.deployments, **(cluster or {})})
        needs: list[DeploymentNeed] = []
        errors: dict[str, Exception] = {}
        for name, d in self.deployments.items():
            if name in skip:
                continue
            try:
                needs.append(d.need(now, self.settings.gpus))
            except Exception as exc:
                if not catch:
                    raise
                errors[name] = exc
        out_names = set(skip) | set(errors)
        settings = self._without(out_names, state)
        outcomes, preemptions, nxt = self.allocator(needs, state, now, settings)
        decisions = tuple(
            self.deployments[n.name].decision(now, n, outcomes[n.name]) for n in needs
        )
        kept = {n: s for n, s in state.deployments.items() if n in out_names}
        self.state = FleetState({**kept, **nxt.deployments})
        return FleetDecision(now, decisions, dict(self.settings.gpus), preemptions, errors)

    def _without(self, names: Collection[str], state: FleetState) -> FleetSettings:
        """The settings with what held deployments run taken off their GPU types' budgets."""
        if not names:
            return self.settings
        gpus = dict(self.settings.gpus)
        for name in names:
            st = state.get(name)
            if st is None:
                continue
            for t, g in self.holding(name, st).items():
                if gpus.get(t) is not None:
                    gpus[t] = max(int(gpus[t] or 0) - g, 0)
        return replace(self.settings, gpus=gpus)

    def holding(self, name: str, st: DeploymentState) -> dict[str, int]:
        """GPUs per type a deployment's state holds (its variant's replicas and a switch's)."""
        d = self.deployments[name]
        out: dict[str, int] = dict(st.held.gpus_by_type()) if st.held else {}
        try:
            e = d.engines(st.variant)
        except StopIteration:
            return out
        for eng, n in ((e.prefill, st.prefill), (e.decode, st.decode)):
            out[eng.gpu_type] = out.get(eng.gpu_type, 0) + n * eng.gpus_per_replica
        return out


def _engine(curves: Curves) -> Engine:
    """A single deployment's pool: its profile's GPU type (one budget: max_gpus, both pools)."""
    profile = getattr(curves, "profile", None)
    gpu = str(getattr(profile, "gpu", "") or "GPU")
    name = str(getattr(profile, "name", "") or "profile")
    return Engine(curves, gpu, int(getattr(curves, "gpus_per_replica", 1)), name)
