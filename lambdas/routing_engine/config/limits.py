"""What a request may spend and use: tiers of callers, their budgets, the resilience settings (attempts,
deadlines, circuit breakers) and the request-size limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from routing_engine.config.base import Key, StrictModel

MAX_BODY_BYTES = 10_000_000  # the most `limits.max_body_bytes` may be: API Gateway's own payload limit (10 MB)


class Budget(StrictModel):
    """Spend allowed per UTC day and/or UTC month. On a tier it caps the tier's callers together; under
    `caller_budgets` it caps one caller. Where both apply, the tighter one wins."""

    daily_usd: float | None = Field(default=None, gt=0, description="USD per UTC day (resets at 00:00 UTC)")
    monthly_usd: float | None = Field(default=None, gt=0, description="USD per UTC month (resets on the 1st)")
    soft_threshold: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of a limit from which dynamic routes prefer the cheapest capable model",
    )
    over_budget: Literal["reject", "fallback"] = Field(
        default="reject",
        description="Over a limit: reject with 429 budget_exceeded, or serve every request with fallback_model",
    )
    fallback_model: Key | None = Field(default=None, description="The model over_budget: fallback serves")

    @model_validator(mode="after")
    def _coherent(self) -> Budget:
        if self.daily_usd is None and self.monthly_usd is None:
            raise ValueError("a budget needs daily_usd, monthly_usd or both")
        if self.over_budget == "fallback" and self.fallback_model is None:
            raise ValueError("over_budget fallback needs a fallback_model")
        if self.over_budget == "reject" and self.fallback_model is not None:
            raise ValueError("fallback_model is only used with over_budget: fallback")
        return self


class Tier(StrictModel):
    allowed_models: tuple[Key, ...] | None = Field(default=None, description="Default: every model")
    max_cost_per_request_usd: float | None = Field(default=None, gt=0)
    budget: Budget | None = Field(default=None, description="The total spend of all the tier's callers")


class Resilience(StrictModel):
    max_attempts: int = Field(default=3, ge=1, le=10, description="Models tried per request, fallbacks included")
    total_deadline_ms: int = Field(
        default=120_000,
        ge=100,
        le=290_000,
        description="Deadline of a buffered (non-streamed) request, fallbacks included. At most 290 s: a buffered "
        "answer sends nothing until it is whole, and API Gateway's regional endpoints drop a streamed-mode "
        "response that is silent for 5 minutes",
    )
    stream_deadline_ms: int = Field(
        default=600_000,
        ge=1_000,
        le=900_000,
        description="Deadline of a streamed request, from its start to its last token",
    )
    attempt_slo_multiple: float = Field(
        default=2.0,
        gt=0,
        le=100,
        description="A call that may still be followed by a fallback gets at most this many times its model's "
        "latency_slo_ms (for a stream: to its first token) before the fallback starts",
    )
    breaker_failure_rate: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of this instance's recent calls to a model that must fail to open its breaker",
    )
    breaker_min_calls: int = Field(
        default=10, ge=1, description="Calls within the window before the failure rate is judged at all"
    )
    breaker_window_s: float = Field(default=30, gt=0, description="Sliding window the rate is computed over")
    breaker_cooldown_s: float = Field(default=30, gt=0, description="How long an open breaker skips the model")


class Limits(StrictModel):
    max_body_bytes: int = Field(default=1_000_000, ge=1_024, le=MAX_BODY_BYTES)
    max_messages: int = Field(default=200, ge=1)
    default_max_tokens: int = Field(default=1024, ge=1)
    risk_scan_chars: int = Field(
        default=16_000,
        ge=1_000,
        le=10_000_000,
        description="Characters of each text part the risk patterns read (3/4 from the start, 1/4 from the end)",
    )
