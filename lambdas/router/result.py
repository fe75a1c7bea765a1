"""What a request came to: the decision, each model call tried, the answer, its cost. Built by the service, read by
the API modules (the answer), observability (the log line and metrics) and label sampling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

from aws_adapters.bedrock import ModelCallError
from aws_adapters.conversation import ModelReply
from router.budgets import BudgetCheck
from routing_engine.engine import BUDGET_SOFT_RULE, Decision
from routing_engine.features import RequestFeatures

if TYPE_CHECKING:
    from router.sampling import Ticket

Outcome = Literal["ok", "error", "skipped"]


@dataclass(slots=True)
class Attempt:
    """One model in the fail-over plan: called and answered (`ok`), called and failed (`error`), or passed over
    without a call (`skipped`, with why in `detail`)."""

    model: str
    model_id: str
    outcome: Outcome
    error_class: str | None = None
    detail: str | None = None
    latency_ms: float | None = None
    retryable: bool = True
    retry_after_s: float | None = None  # for a skipped model: when it may be tried again

    @classmethod
    def failed(cls, model: str, model_id: str, exc: ModelCallError) -> Attempt:
        return cls(model, model_id, "error", exc.error_class, exc.message[:300], exc.latency_ms, exc.retryable)

    def as_dict(self) -> dict:
        out: dict = {"model": self.model, "outcome": self.outcome}
        if self.error_class:
            out["error"] = self.error_class
        if self.detail:
            out["detail"] = self.detail
        if self.latency_ms is not None:
            out["latency_ms"] = round(self.latency_ms, 1)
        if self.retry_after_s is not None:
            out["retry_after_s"] = round(self.retry_after_s, 1)
        return out


@dataclass(slots=True)
class RouteResult:
    decision: Decision
    config_version: str
    config_source: str
    tier: str
    features: dict
    reply: ModelReply | None = None
    answered_by: str | None = None
    answered_model_id: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    cost_usd: float | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None  # streams: time to the first content event
    streamed: bool = False
    request_features: RequestFeatures | None = None  # what the decision saw (fallbacks are filtered by it too)
    caller: str | None = None
    budget: BudgetCheck | None = None  # the budgets this request counted against, as checked before the call
    spend_store_errors: int = 0  # failed reads or writes of the spend table (the request was served anyway)
    spend_recorded: bool = False
    label_sample: Ticket | None = None  # label sampling's verdict on an answered request (router.sampling)
    notes: tuple[str, ...] = ()  # what was dropped or changed from the request (by its parser, for a model)
    task_features: dict | None = None  # a held conversation's task features, which its rules read (log line)
    # the sampling settings the (last) model's catalog rule left out, and which won: {"model", "rule", "sent",
    # "dropped"}; None when the model took what the request asked for
    sampling: dict | None = None

    def log_fields(self) -> dict:
        """Budget facts for the request's log line."""
        return budget_log(self.budget, self.spend_store_errors)

    @property
    def fell_back(self) -> bool:
        return any(a.outcome != "ok" for a in self.attempts)

    @property
    def model(self) -> str:
        return self.answered_by or self.decision.model

    def conversation(self) -> dict | None:
        """For a continuing conversation on a dynamic route: whether it stayed on the model that began it
        (`home_model`), and if it moved, why: the decision's reason (the home model unhealthy, flagged down, over
        budget), or the home model's failed call when the fail-over plan answered with another. None otherwise."""
        info = self.decision.conversation
        if info is None or not info.get("affinity"):
            return info
        home = info.get("home_model")
        if info.get("moved") or home is None or self.answered_by is None or self.answered_by == home:
            return info
        failed = next((a for a in self.attempts if a.model == home and a.outcome != "ok"), None)
        why = f"{home} failed: {failed.error_class or failed.outcome}" if failed is not None else f"{home} not used"
        if failed is not None and failed.detail:
            why += f" ({failed.detail})"
        return {**info, "moved": True, "why": why}

    @property
    def budget_soft_limited(self) -> bool:
        """A soft budget threshold made the engine choose the cheapest capable model."""
        return self.decision.rule == BUDGET_SOFT_RULE


class TokenCount(NamedTuple):
    """What counting a request's input tokens came to (Anthropic's count_tokens)."""

    input_tokens: int
    estimated: bool  # the router's estimate (about 4 characters a token), not Bedrock's CountTokens
    route: str
    model: str
    model_id: str  # the foundation model counted for
    config_version: str
    reason: str | None  # why it is an estimate


def budget_log(check: BudgetCheck | None, store_errors: int) -> dict:
    """The budget state a request was checked against, and the spend-table errors it met, for its log line."""
    out: dict = {}
    if check is not None and check.statuses:
        out["budget"] = check.as_dict()
        if check.action:
            out["budget_action"] = check.action
    if store_errors:
        out["spend_store_errors"] = store_errors
    return out


def round_cost(value: float | None) -> float | None:
    """Costs as answers and log lines show them."""
    return None if value is None else round(value, 8)
