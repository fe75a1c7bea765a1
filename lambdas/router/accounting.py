"""What an answered request cost, and its spend recorded once against its caller's and tier's budgets.

A complete answer is priced at its actual tokens (`settle`); a stream cut short (the client left, or the model
failed after it had started) is billed an estimate of what was generated (`estimated_cost`), because Bedrock
bills it too. Recording never fails a request: spend-table errors are counted on the result.
"""

from __future__ import annotations

import threading

from aws_adapters.conversation import ModelReply
from router.budgets import BudgetGuard
from router.result import RouteResult
from routing_engine.engine import Decision, Engine, estimate_cost


class Ledger:
    def __init__(self, budgets: BudgetGuard):
        self.budgets = budgets
        self._lock = threading.Lock()  # a stream's end and its client's disconnect may race to account for it

    def settle(self, engine: Engine, result: RouteResult, usage: ModelReply) -> None:
        """An answer is complete: price the model that answered at its actual tokens (cached ones at its cache
        prices), the shadow choice at the same tokens (like with like), and record the spend."""
        spec = engine.config.models.get(result.answered_by or "")
        read, write = usage.cache_read_tokens, usage.cache_write_tokens
        if spec is not None:
            result.cost_usd = estimate_cost(
                spec, usage.input_tokens, usage.output_tokens, read, write, usage.cache_write_1h_tokens
            )
        shadow_at_served_tokens(engine, result.decision, usage.input_tokens, usage.output_tokens, read, write)
        self.account(result)

    def account(self, result: RouteResult, cost_usd: float | None = None) -> None:
        """Add an answered request's cost to its caller's and tier's spend, once (never fails the request)."""
        cost = result.cost_usd if cost_usd is None else cost_usd
        if cost is None or result.budget is None or not result.budget.statuses:
            return  # no budget governs this caller or its tier: nothing to enforce, so no DynamoDB write either
        with self._lock:
            if result.spend_recorded:
                return
            result.spend_recorded = True
        result.spend_store_errors += self.budgets.record(result.caller, result.tier, cost)


def estimated_cost(engine: Engine, result: RouteResult, output_chars: int) -> float | None:
    """A rough cost for an answer cut short after `output_chars` characters of text and tool input (about four
    characters a token), at the estimated input tokens. A prompt router's answer is billed as its dearest member
    (who answered is only known at the end), as the decision's estimate does."""
    models = engine.config.models
    key = result.answered_by or ""
    spec = models.get(key)
    if spec is None and key in engine.config.prompt_routers:
        members = (models[m] for m in engine.config.prompt_routers[key].models)
        spec = max(members, key=lambda member: estimate_cost(member, 0, 1))  # the dearest output token
    features = result.request_features
    if spec is None or features is None:
        return None
    return estimate_cost(spec, features.estimated_tokens, output_chars // 4)


def shadow_at_served_tokens(
    engine: Engine, decision: Decision, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0
) -> None:
    """A shadow route's dynamic choice, priced like with like: the tokens the served answer actually used, at the
    shadow model's prices (`cost_usd_at_served_tokens`). Its `estimated_cost_usd` assumes every allowed output
    token, which made a cheaper model read as many times dearer than the served answer's real cost. Cached tokens
    are priced at the shadow model's cache prices (at its input price if it does not cache)."""
    shadow = decision.shadow
    if not shadow or not shadow.get("model"):
        return
    cost = engine.cost_at(shadow["model"], input_tokens, output_tokens, cache_read, cache_write)  # a prompt router:
    # at its dearest member
    if cost is not None:
        shadow["cost_usd_at_served_tokens"] = cost
