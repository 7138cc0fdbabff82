"""Planner settings shared by the dry run, the simulator and the in-cluster loop.

Validated with pydantic so a bad value is rejected with a message naming the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from sla_planner.model.error_budget import ErrorBudgetSettings
from sla_planner.model.reactive import ReactiveSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SLO(_Strict):
    """The operator's objective: `attainment` of requests meet TTFT <= ttft_ms AND mean
    ITL <= itl_ms. None: no attainment target, fixed-margin sizing (the planner before SLO
    targeting; sla_planner.model.planner.Planner)."""

    ttft_ms: float = Field(200.0, gt=0, description="time-to-first-token target, ms")
    itl_ms: float = Field(25.0, gt=0, description="inter-token latency target, ms")
    # Below 0.5 a planner would be told that most requests may miss: a typo, not an SLO.
    attainment: float | None = Field(
        0.99, ge=0.5, lt=1.0, allow_inf_nan=False, description="share of requests to meet both"
    )


SLA = SLO  # the old name (configs and code written before SLO targeting)


class PoolLimits(_Strict):
    min_replicas: int = Field(1, ge=0)
    max_replicas: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _order(self) -> PoolLimits:
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas}); "
                "raise max_replicas or lower min_replicas"
            )
        return self


class Budget(_Strict):
    max_gpus: int | None = Field(None, ge=1, description="global GPU cap across both pools")
    min_prefill_decode_ratio: float | None = Field(None, gt=0)
    max_prefill_decode_ratio: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _order(self) -> Budget:
        lo, hi = self.min_prefill_decode_ratio, self.max_prefill_decode_ratio
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(
                f"min_prefill_decode_ratio ({lo}) exceeds max_prefill_decode_ratio ({hi}); swap them"
            )
        return self


class PlannerConfig(_Strict):
    # `sla:` is the old name (configs written before SLO targeting); errors name what was written.
    slo: SLO = Field(SLO(), validation_alias=AliasChoices("slo", "sla"))
    interval_s: float = Field(60.0, gt=0, description="decision interval, seconds")
    startup_s: float = Field(120.0, ge=0, description="time for a new replica to become ready")
    budget: Budget = Budget()
    prefill: PoolLimits = PoolLimits()
    decode: PoolLimits = PoolLimits()
    forecaster: str = "default"
    # Quantile of the demand forecast the sizer provisions for (a safety margin). 0.99 was
    # tuned on days 2-4 of the Azure 2024 week (benchmarks/tune_sizing.py); at 0.9 the
    # request-weighted attainment fell to ~98%.
    planning_quantile: float = Field(0.99, gt=0, lt=1)
    # Like HPA's --horizontal-pod-autoscaler-downscale-stabilization: scale down only to the
    # highest recommendation seen within this window.
    scale_down_window_s: float = Field(300.0, ge=0)
    history_window: int = Field(1440, ge=8, description="intervals of history kept for forecasting")
    # Plan for bursts inside an interval (planner/model/burst.py): the planned decode rate is scaled
    # by this quantile of the recent peak/mean rate ratios (DemandSample.peak_rate). None plans
    # for interval means only.
    burst_quantile: float | None = Field(0.9, gt=0, lt=1)
    burst_window: int = Field(60, ge=1, description="intervals of peak/mean ratios kept")
    # The factor assumed while a source gives no peak rates (Prometheus without
    # peak_window_s): 1.1 is the p90 measured on the Azure 2024 week at 10 s sub-windows.
    burst_fallback: float = Field(1.1, ge=1.0, le=4.0)
    # How the planner corrects its margin from measured attainment (slo.attainment set).
    error_budget: ErrorBudgetSettings = ErrorBudgetSettings()
    # The fast path between predictive ticks (sla_planner.model.reactive): scale up at once
    # on a burst beyond the plan.
    reactive: ReactiveSettings = ReactiveSettings()

    @model_validator(mode="before")
    @classmethod
    def _one_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "sla" in data and "slo" in data:
            raise ValueError("give slo or its old name sla, not both")
        return data

    @property
    def sla(self) -> SLO:
        """The SLO under its old name (code written before SLO targeting reads config.sla)."""
        return self.slo
