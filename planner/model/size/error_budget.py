"""Error-budget controller: the one goal the SLO planner sizes to, moved by measured attainment.

The SLO is "a share A of requests meet TTFT and ITL"; its error budget is B = 1 - A. The planner
sizes both pools so that its latency model expects a share `planned_miss` of requests to miss
(sla_planner.model.size.slo_sizing). The model is wrong -- forecast error it did not foresee,
arrivals burstier than Poisson, prompt mixes with heavier tails, startup lag, engines slower
than profiled -- and, at a few replicas, wrong by a different factor at every replica count.
So the planned miss is not derived from the model but *controlled* from what was measured:
finished and met requests per window, from the engines' latency histograms in a cluster or
from the discrete-event judge in a dry run.

    planned_miss = B x aim x exp(-(u + p)),   goal = 1 - planned_miss,   margin = B / planned_miss

- `aim` (< 1): the burn rate aimed at, room for noise (0.9: plan for 99.1% at a 99% SLO).
- u, the integral term (the budget's ledger): after each window with n finished and x missed,
      u += gain x clip((x - a) / (max(a_typ, a) + prior_misses), -1, 10),   a = aim x B x n,
  the window's misses beyond what the aim allows it, in units of a typical window's allowance
  a_typ (its average over `long_window_s`), plus `prior_misses` so that a quiet minute at a
  99.9% target moves u by a little, not a lot. Normalising by the typical window rather than
  by the window's own allowance makes the ledger request-weighted: a night of near-empty
  windows does not outvote the day's traffic. u stops moving only where the measured misses
  equal what the aim allows, summed over requests: the integral action that meets the target
  whatever the model's error. Between two replica counts (3 replicas: 99.8%, 2: 98.9%) it
  alternates them so that the mix meets the target. The clip is asymmetric: a calm window
  loosens by at most one allowance, a bad one tightens by up to ten, because near saturation
  one replica fewer can miss more requests in one window (15% on the Azure week) than ten
  calm windows earn.
- p, the proportional term (fast attack): ln(burn_short / aim) when the short window
  (`short_window_s`, minutes, exponentially weighted, with the same prior) burns faster than
  the aim, else 0. A burst of misses tightens within one window; it fades as the short window
  forgets, by which time the integral has taken in whatever persisted. Asymmetric because a
  miss costs the SLO and a spare GPU-minute does not.
- Bounds: u + p within [-ln(max_loosen), ln(max_tighten)], planned_miss <= 0.5. Loosening
  is bounded tighter (x2) than tightening (/100): where the model is right (Poisson traffic)
  planning for twice the budget is already a large bet.

Anti-windup: u is clamped to the same bounds (no integrating past them), and windows whose plan
was held away from its goal -- by the GPU budget or max_replicas (it could not buy attainment)
or at min_replicas (it could not spend the budget) -- are not integrated (conditional
integration): misses nobody could avoid are not paid back with an over-provisioned hour, and a
pool idling at its floor does not bank budget to spend in the next burst. A window whose plan
the scale-down window held above its goal is integrated only when it missed more than
allowed: its calm says nothing about the goal, and learning from it loosened the goal window
after window until the hold expired and the plan fell off a cliff. All windows count in the
burn rates reported. The long window (`long_window_s`, hours) is reported as SREs read
burn rates; the integral is the controller's own memory.

Priced sizing (`sizing: price`, sla_planner.model.size.slo_price): the same ledger moves a
price instead of a goal,

    price = price_ref x exp(u + p)   (GPU-hours per missed request),

every interval buying the replicas that minimise GPUs + price x expected misses. Higher u,
after misses, prices a miss dearer and buys more replicas, as a tighter goal does; the bounds
and the anti-windup are the same. price_ref is where a typical interval lands at the aimed miss
share: the request-weighted geometric mean, over `price_window_s` (a day: the daily cycle
averages out), of each decision's shadow price of the goal sizing at 1 - aim x B (`calibrate`).
Before any calibration there is no price (None) and the planner sizes to the goal. No priced
plan may expect to miss more than B x `price_max_miss` (`price_floor`; slo_price says why).

Pure: no I/O, no clock (window times come in with the samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sla_planner.model.config import ErrorBudgetSettings

# A window's excess (in typical windows' allowances) counts within these bounds: loosening
# by one allowance at most (a plant one replica short of its cliff loses more in one window
# than ten calm ones earn), tightening fast but not so fast that one pathological window
# pins the margin. Tuned on days 2-4 of the Azure week (benchmarks/slo_bench.py).
LOOSEN_STEP = 1.0
TIGHTEN_STEP = 10.0


@dataclass(frozen=True)
class AttainmentSample:
    """Requests that finished in [start, end) and how many met both targets (measured), and
    per target where the plant can tell."""

    start: float
    end: float
    finished: float
    met: float
    ttft_met: float | None = None
    itl_met: float | None = None

    @property
    def attainment(self) -> float:
        return self.met / self.finished if self.finished > 0 else math.nan

    @property
    def valid(self) -> bool:
        n, met = self.finished, self.met
        if not all(math.isfinite(v) for v in (self.start, self.end, n, met)):
            return False
        return 0 <= met <= n and self.end > self.start


@dataclass(frozen=True)
class BudgetStatus:
    """What the controller knows now (report.json, /metrics, decision notes)."""

    target: float  # the SLO's attainment A
    planned_miss: float  # share of requests the next plan is sized to miss (model)
    margin: float  # B / planned_miss
    integral: float  # u
    window_attainment: float  # the last window's (NaN: no requests)
    cumulative_attainment: float  # everything observed (NaN: nothing yet)
    burn_window: float  # last window's misses / its budget (1 = spending exactly the budget)
    burn_short: float
    burn_long: float
    burn_cumulative: float
    finished: float  # requests observed in total
    met: float
    windows: int
    price: float = math.nan  # GPU-hours per missed request (priced sizing; NaN: goal sizing)
    price_ref: float = math.nan  # the calibrated reference price


class _Decayed:
    """Misses and requests, exponentially weighted with a time constant."""

    def __init__(self, tau_s: float) -> None:
        self.tau = tau_s
        self.missed = self.n = 0.0

    def add(self, dt: float, missed: float, n: float) -> None:
        d = math.exp(-max(dt, 0.0) / self.tau)
        self.missed, self.n = d * self.missed + missed, d * self.n + n


class _Weighted:
    """A weighted mean that forgets with a time constant (None until the first value)."""

    def __init__(self, tau_s: float) -> None:
        self.tau = tau_s
        self.num = self.den = 0.0
        self.t: float | None = None

    def add(self, t: float, value: float, weight: float) -> None:
        d = 1.0 if self.t is None else math.exp(-max(t - self.t, 0.0) / self.tau)
        self.num, self.den = d * self.num + weight * value, d * self.den + weight
        self.t = t if self.t is None else max(self.t, t)

    @property
    def value(self) -> float | None:
        return self.num / self.den if self.den > 0 else None


class ErrorBudgetController:
    def __init__(self, target: float, settings: ErrorBudgetSettings | None = None) -> None:
        if not (0.5 <= target < 1.0):
            raise ValueError(f"attainment target must be in [0.5, 1), got {target}")
        self.target = float(target)
        self.budget = 1.0 - self.target
        self.s = settings or ErrorBudgetSettings()
        self._lo = -math.log(self.s.max_loosen)
        self._hi = math.log(self.s.max_tighten)
        self.u = 0.0
        self._typical: float | None = None  # a window's allowed misses, long-run average
        self._short = _Decayed(self.s.short_window_s)
        self._long = _Decayed(self.s.long_window_s)
        self._until: float | None = None  # end of the last window observed
        self._last = AttainmentSample(math.nan, math.nan, 0.0, 0.0)
        self._finished = self._met = 0.0
        self._windows = 0
        self.priced = self.s.sizing == "price"
        self._ref = _Weighted(self.s.price_window_s)  # log shadow prices
        self._plan_miss: float | None = None  # the last priced plan's expected miss share

    def observe(self, sample: AttainmentSample, limited: bool = False, above: bool = False) -> bool:
        """One measured window, in time order. `limited`: its plan was held away from its goal
        (budget, max_replicas, min_replicas): reported, not integrated. `above`: its plan
        was held above its goal by the scale-down window: integrated only if it missed more
        than allowed. Returns False (ignoring the window)
        when it is malformed or overlaps one already seen."""
        if not sample.valid:
            return False
        if self._until is not None and sample.start < self._until - 1e-6:
            return False  # already seen (overlapping fetches)
        dt = sample.end - (sample.start if self._until is None else self._until)
        missed = sample.finished - sample.met
        allowed = self.s.aim * self.budget * sample.finished
        integrate = not limited and not (above and missed <= allowed)
        if integrate:
            # Request-weighted: a quiet night window moves u as little as its requests say.
            d = math.exp(-max(dt, 0.0) / self.s.long_window_s)
            self._typical = (
                allowed if self._typical is None else d * self._typical + (1 - d) * allowed
            )
            excess = (missed - allowed) / (max(self._typical, allowed) + self.s.prior_misses)
            self.u += self.s.gain * min(max(excess, -LOOSEN_STEP), TIGHTEN_STEP)
            self.u = min(max(self.u, self._lo), self._hi)
        self._short.add(dt, missed if integrate else 0.0, sample.finished if integrate else 0.0)
        self._long.add(dt, missed, sample.finished)
        self._until = sample.end
        self._last = sample
        self._finished += sample.finished
        self._met += sample.met
        self._windows += 1
        return True

    def calibrate(self, shadow: float, requests: float, t: float) -> None:
        """One decision's shadow price of the goal sizing at the aimed miss share, weighed by
        the requests it plans for (`t`: its time). Ignored unless finite and positive."""
        if math.isfinite(shadow) and shadow > 0 and math.isfinite(requests) and requests > 0:
            self._ref.add(t, math.log(shadow), requests)

    def record_plan(self, expected_miss: float) -> None:
        """The chosen plan's expected miss share (the model's), reported as planned_miss."""
        if math.isfinite(expected_miss):
            self._plan_miss = min(max(expected_miss, 0.0), 1.0)

    @property
    def price_floor(self) -> float:
        """The least expected attainment a priced plan may have: 1 - B x price_max_miss."""
        return 1.0 - min(self.budget * self.s.price_max_miss, 0.5)

    @property
    def aimed_goal(self) -> float:
        """The goal a typical interval is aimed at, where price_ref is calibrated."""
        return 1.0 - self.budget * self.s.aim

    @property
    def price_ref(self) -> float | None:
        v = self._ref.value
        return math.exp(v) if v is not None else None

    @property
    def price(self) -> float | None:
        """GPU-hours per missed request the next plan pays (None: not calibrated yet)."""
        ref = self._ref.value
        if ref is None:
            return None
        return math.exp(ref + min(max(self.u + self.proportional, self._lo), self._hi))

    # -- the control law -----------------------------------------------------------------
    @property
    def proportional(self) -> float:
        """Fast attack: ln(short-window burn / aim) when above the aim, else 0."""
        aim, p = self.s.aim, self.s.prior_misses
        w = self._short
        burn = (w.missed + p * aim) / (w.n * self.budget + p)
        return max(math.log(burn / aim), 0.0)

    @property
    def planned_miss(self) -> float:
        """Share of requests the next plan is sized to miss (in the model): the goal's, or
        under a price the last priced plan's expectation."""
        if self.priced and self._plan_miss is not None and self.price is not None:
            return max(self._plan_miss, 1e-12)
        return self.goal_miss

    @property
    def goal_miss(self) -> float:
        """The goal sizing's planned miss share: B x aim x exp(-(u + p)), bounded."""
        v = min(max(self.u + self.proportional, self._lo), self._hi)
        return min(self.budget * self.s.aim * math.exp(-v), 0.5)

    @property
    def margin(self) -> float:
        return self.budget / self.planned_miss

    @property
    def goal(self) -> float:
        """The model attainment the goal sizing sizes the next plan to."""
        return 1.0 - self.goal_miss

    # -- reporting -------------------------------------------------------------------------
    def _rate(self, missed: float, n: float) -> float:
        return missed / (n * self.budget) if n > 0 else math.nan

    def status(self) -> BudgetStatus:
        last = self._last
        return BudgetStatus(
            target=self.target,
            planned_miss=self.planned_miss,
            margin=self.margin,
            integral=self.u,
            window_attainment=last.attainment,
            cumulative_attainment=self._met / self._finished if self._finished > 0 else math.nan,
            burn_window=self._rate(last.finished - last.met, last.finished),
            burn_short=self._rate(self._short.missed, self._short.n),
            burn_long=self._rate(self._long.missed, self._long.n),
            burn_cumulative=self._rate(self._finished - self._met, self._finished),
            finished=self._finished,
            met=self._met,
            windows=self._windows,
            price=(self.price or math.nan) if self.priced else math.nan,
            price_ref=(self.price_ref or math.nan) if self.priced else math.nan,
        )
