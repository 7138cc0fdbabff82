"""Error-budget controller: moves the planner's one margin so measured attainment meets the SLO.

The SLO is "a share A of requests meet TTFT and ITL"; its error budget is B = 1 - A (the share
allowed to miss). The planner sizes both pools so that its latency model expects a share
`planned_miss` of requests to miss (sla_planner.model.slo_sizing); this module chooses that
share from what was measured: finished and met requests per window, from the engines' latency
histograms in a cluster or from the discrete-event judge in the dry run.

The plant. The model is wrong by some factor: the misses measured are about kappa x the misses
the model expected for the plan that ran (forecast error it did not foresee, queueing the
formulas miss, bursts, startup lag, engines slower than profiled). kappa is unknown and drifts.
If it were known, planning for B x aim / kappa misses would spend the budget at the rate `aim`.

The controller, per window k with n finished, x missed and e = n x (1 - expected) misses the
plan in force expected (its model attainment, which the planner reports with each decision):
1. Two exponentially weighted windows of (x, e, n) -- `short_window_s` (minutes: a burst of
   misses) and `long_window_s` (hours: calibration) -- the multi-window burn rates SREs alert
   on. Weights decay with elapsed time, not window count, so any window length works.
2. kappa_long = (X_long + p) / (E_long + p): the measured/expected miss ratio with `prior_misses`
   p pseudo-misses at kappa = 1 (the model is believed until evidence says otherwise; with few
   requests, e.g. a quiet hour at a 99.9% target, it stays near 1 instead of chasing noise).
   kappa_short is shrunk towards kappa_long the same way. kappa = max(short, long): a burst of
   misses tightens within minutes (fast attack), relaxing waits for the long window (slow
   release) -- asymmetric because a miss costs the SLO and a spare GPU-minute does not.
3. Budget recovery (the integral term): when the long window burned faster than `aim`
   (e.g. while kappa was still being learnt), the aim is lowered by aim / burn_long (at most
   MAX_RECOVERY-fold) until the long window is back on budget; never raised when under budget
   (a pool at its floor spends less than its budget and must not be "paid back" with misses).
4. planned_miss = B x aim_now / kappa, clamped to [B / max_tighten, B x max_loosen] (and <= 0.5).
   margin = B / planned_miss is the one number the planner sizes with (1 = plan exactly to the
   target in the model; 4 = plan for a quarter of the budget).

Anti-windup: x is compared with e, the misses expected *by the plan that actually ran*. When
the margin sits at a bound, or a GPU budget or max_replicas keeps the pools small, the plan's
own expected misses rise with it, so kappa does not keep growing while the actuator cannot
deliver. The recovery term integrates conditionally: windows whose plan was held below its
goal (`limited`) are left out of it, so misses nobody could avoid are not paid back later with
an over-provisioned hour. Window sums are bounded by their decay, and the margin is clamped.
Windows without an expected attainment (cold decisions) count towards the burn rates only.

Steady state: with kappa constant the margin settles at kappa / aim within one long window and
the measured burn at `aim` (attainment A + (1 - aim) x B, e.g. 99.1% for A = 99%, aim 0.9).
Pure: no I/O, no clock (window times come in with the samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

# Recovery lowers the aim at most this much: paying back an overspent window must not turn
# into planning for almost no misses at all (costly, and the margin's own bounds come next).
MAX_RECOVERY = 4.0


class ErrorBudgetSettings(BaseModel):
    """Tuning of the error-budget controller (PlannerConfig.error_budget)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    short_window_s: float = Field(900.0, gt=0, allow_inf_nan=False, description="fast burn window")
    long_window_s: float = Field(
        21600.0, gt=0, allow_inf_nan=False, description="calibration window (hours)"
    )
    aim: float = Field(
        0.9, gt=0, le=1.0, description="budget burn rate aimed at (< 1 keeps room for noise)"
    )
    prior_misses: float = Field(
        3.0, gt=0, allow_inf_nan=False, description="pseudo-misses at the model's own word"
    )
    max_tighten: float = Field(
        100.0, ge=1.0, allow_inf_nan=False, description="plan for at least B / this misses"
    )
    max_loosen: float = Field(
        10.0, ge=1.0, allow_inf_nan=False, description="plan for at most B x this misses"
    )
    recovery: bool = Field(True, description="lower the aim while the long window is over budget")


@dataclass(frozen=True)
class AttainmentSample:
    """Requests that finished in [start, end) and how many met both targets (measured)."""

    start: float
    end: float
    finished: float
    met: float

    @property
    def attainment(self) -> float:
        return self.met / self.finished if self.finished > 0 else math.nan


@dataclass(frozen=True)
class BudgetStatus:
    """What the controller knows now (report.json, /metrics, decision notes)."""

    target: float  # the SLO's attainment A
    planned_miss: float  # share of requests the next plan is sized to miss (model)
    margin: float  # B / planned_miss
    kappa: float  # measured / expected misses, the model error learnt
    window_attainment: float  # the last window's (NaN: no requests)
    cumulative_attainment: float  # everything observed (NaN: nothing yet)
    burn_window: float  # last window's misses / its budget (1 = spending exactly the budget)
    burn_short: float
    burn_long: float
    burn_cumulative: float
    finished: float  # requests observed in total
    met: float
    windows: int


class _Decayed:
    """Sums decayed with a time constant. Per window: misses and expected misses (windows
    with a plan's expectation: kappa), misses and requests (windows whose plan was not held
    below its goal: recovery), and misses and requests of every window (burn rates shown)."""

    def __init__(self, tau_s: float) -> None:
        self.tau = tau_s
        self.v = [0.0] * 6  # x, e, recovery missed, recovery n, missed, n

    def add(self, dt: float, *values: float) -> None:
        d = math.exp(-max(dt, 0.0) / self.tau)
        self.v = [d * a + b for a, b in zip(self.v, values, strict=True)]

    x = property(lambda self: self.v[0])
    e = property(lambda self: self.v[1])
    rx = property(lambda self: self.v[2])
    rn = property(lambda self: self.v[3])
    missed = property(lambda self: self.v[4])
    n = property(lambda self: self.v[5])


class ErrorBudgetController:
    def __init__(self, target: float, settings: ErrorBudgetSettings | None = None) -> None:
        if not (0.5 <= target < 1.0):
            raise ValueError(f"attainment target must be in [0.5, 1), got {target}")
        self.target = float(target)
        self.budget = 1.0 - self.target
        self.s = settings or ErrorBudgetSettings()
        self._short = _Decayed(self.s.short_window_s)
        self._long = _Decayed(self.s.long_window_s)
        self._until: float | None = None  # end of the last window observed
        self._last = AttainmentSample(math.nan, math.nan, 0.0, 0.0)
        self._finished = self._met = 0.0
        self._windows = 0

    def observe(
        self, sample: AttainmentSample, expected: float | None, limited: bool = False
    ) -> None:
        """One measured window, in time order. `expected`: the model attainment of the plan
        that served it (None: unknown); `limited`: that plan was held below its goal (GPU
        budget, max_replicas). Overlapping or malformed windows are ignored."""
        n, met = sample.finished, sample.met
        if not all(math.isfinite(v) for v in (sample.start, sample.end, n, met)):
            return
        if n < 0 or met < 0 or met > n or sample.end <= sample.start:
            return
        if self._until is not None and sample.start < self._until - 1e-6:
            return  # already seen (overlapping fetches)
        dt = sample.end - (sample.start if self._until is None else self._until)
        missed = n - met
        if expected is not None and math.isfinite(expected):
            x, e = missed, n * min(max(1.0 - expected, 0.0), 1.0)
        else:
            x = e = 0.0  # no plan's expectation: nothing learnt about the model
        # Conditional integration (anti-windup): misses the plan could not avoid because it
        # was capped are not "paid back" later by the recovery term.
        rx, rn = (0.0, 0.0) if limited else (missed, n)
        for w in (self._short, self._long):
            w.add(dt, x, e, rx, rn, missed, n)
        self._until = sample.end
        self._last = sample
        self._finished += n
        self._met += met
        self._windows += 1

    # -- the control law -----------------------------------------------------------------
    @property
    def kappa(self) -> float:
        """Measured / expected misses: the long window's, or the short one's when it is worse."""
        p = self.s.prior_misses
        k_long = (self._long.x + p) / (self._long.e + p)
        k_short = (self._short.x + p * k_long) / (self._short.e + p)
        return max(k_long, k_short)

    @property
    def aim_now(self) -> float:
        """The burn rate aimed at: `aim`, lowered (at most MAX_RECOVERY-fold) while the long
    window is over budget."""
        aim = self.s.aim
        if not self.s.recovery:
            return aim
        # The long window's burn with the same prior (no data: exactly on aim).
        p = self.s.prior_misses
        burn = (self._long.rx + p * aim) / (self._long.rn * self.budget + p)
        return aim * min(1.0, max(aim / burn, 1.0 / MAX_RECOVERY))

    @property
    def planned_miss(self) -> float:
        """Share of requests the next plan is sized to miss (in the model)."""
        b, s = self.budget, self.s
        miss = b * self.aim_now / self.kappa
        return min(max(miss, b / s.max_tighten), b * s.max_loosen, 0.5)

    @property
    def margin(self) -> float:
        return self.budget / self.planned_miss

    @property
    def goal(self) -> float:
        """The model attainment the next plan is sized to: 1 - planned_miss."""
        return 1.0 - self.planned_miss

    # -- reporting -------------------------------------------------------------------------
    def _rate(self, missed: float, n: float) -> float:
        return missed / (n * self.budget) if n > 0 else math.nan

    def status(self) -> BudgetStatus:
        last = self._last
        return BudgetStatus(
            target=self.target,
            planned_miss=self.planned_miss,
            margin=self.margin,
            kappa=self.kappa,
            window_attainment=last.attainment,
            cumulative_attainment=self._met / self._finished if self._finished > 0 else math.nan,
            burn_window=self._rate(last.finished - last.met, last.finished),
            burn_short=self._rate(self._short.missed, self._short.n),
            burn_long=self._rate(self._long.missed, self._long.n),
            burn_cumulative=self._rate(self._finished - self._met, self._finished),
            finished=self._finished,
            met=self._met,
            windows=self._windows,
        )
