"""Fail-over within one request: which model to call next, with how much time, and why the plan stopped.

The plan starts with the decision's model and adds its fallbacks only once it is in trouble (skipped, or failed
with an error another model might not have). Every model it passes over or calls becomes an `Attempt` on the
result, which the answer and the log line show. A request's caller drives it:

    while (candidate := plan.next()) is not None:
        call candidate.model_id; on success plan.succeeded(...) and stop; on a ModelCallError plan.failed(...)
    raise plan.exhausted()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

from aws_adapters.bedrock import ModelCallError, classify
from router.breakers import Breakers
from router.failures import FailureKind, RouterFailure
from router.result import Attempt, RouteResult
from routing_engine.engine import Engine, Health

MIN_ATTEMPT_S = 1.0  # do not start a model call with less time than this left

Stop = Literal["answered", "rejected", "max_attempts", "deadline", "no_model_left"]


class Candidate(NamedTuple):
    key: str  # catalog key (or the prompt router's key)
    model_id: str
    region: str | None
    is_router: bool  # a prompt router: the model that answers is named in its reply
    timeout_s: float  # this call's share of the request's time


class FailoverPlan:
    def __init__(
        self,
        engine: Engine,
        result: RouteResult,
        health: Health,
        breakers: Breakers,
        *,
        max_cost_usd: float | None,
        deadline: float,
        clock: Callable[[], float],
    ):
        self._engine = engine
        self._result = result
        self._health = health
        self._breakers = breakers
        self._max_cost_usd = max_cost_usd
        self.deadline = deadline  # the request's, on `clock`
        self._clock = clock
        self._chain: list[str] = [result.decision.model]
        self._next = 0  # index in the chain of the next model to consider
        self._extended = False
        self._calls = 0
        self.stopped: Stop | None = None

    def next(self) -> Candidate | None:
        """The next model to call, or None when the plan has stopped (`stopped` says why). Models passed over are
        recorded as skipped. A call that may be followed by a fallback gets at most `attempt_slo_multiple` times its
        model's latency SLO, so a slow primary costs a bounded, model-specific time before the fallback starts."""
        if self.stopped is not None:
            return None
        res = self._engine.config.resilience
        chain, health = self._chain, self._health
        while self._next < len(chain):
            key = chain[self._next]
            self._next += 1
            model_id, region, is_router = self._target(key)
            if key in health.unavailable:
                self._skip(key, model_id, health.unavailable[key], self._breakers.retry_after_s([key]))
                continue
            if self._calls >= res.max_attempts:
                self._stop("max_attempts", key, model_id, f"max attempts ({res.max_attempts}) reached")
                return None
            left = self.deadline - self._clock()
            if left < MIN_ATTEMPT_S:
                self._stop("deadline", key, model_id, "request deadline reached")
                return None
            if key not in health.forced_up and not self._breakers.allow(key):  # may claim this call as the probe
                self._skip(key, model_id, "circuit open: probe in flight", self._breakers.retry_after_s([key]))
                continue
            may_follow = self._calls + 1 < res.max_attempts and (self._next < len(chain) or not self._extended)
            timeout = left
            if may_follow:
                timeout = max(MIN_ATTEMPT_S, min(left - MIN_ATTEMPT_S, res.attempt_slo_multiple * self._slo_s(key)))
            self._calls += 1
            return Candidate(key, model_id, region, is_router, timeout)
        self.stopped = "no_model_left"
        return None

    def succeeded(self, candidate: Candidate, latency_ms: float, *, answered_by: str, model_id: str) -> None:
        """The candidate answered (a stream: it sent its first content). `answered_by`/`model_id`: who answered,
        which for a prompt router is the model it invoked."""
        self._breakers.succeeded(candidate.key, latency_ms)
        self._result.attempts.append(Attempt(answered_by, model_id, "ok", latency_ms=latency_ms))
        self.stopped = "answered"

    def failed(self, candidate: Candidate, exc: ModelCallError) -> None:
        """The call failed: record it; an error no other model would avoid (a bad request) stops the plan, any other
        brings in the fallbacks."""
        self._result.attempts.append(Attempt.failed(candidate.key, candidate.model_id, exc))
        self._breakers.failed(candidate.key, exc)
        if not exc.retryable:
            self.stopped = "rejected"
        else:
            self._extend()

    def abandoned(self, candidate: Candidate) -> None:
        """The call ended in an unexpected exception: free the breaker's probe claim before it propagates."""
        self._breakers.release(candidate.key)

    def exhausted(self) -> RouterFailure:
        """No model answered: one failure whose kind says why, with every attempt in its details."""
        failure = self._failure()
        failure.log.update(self._result.log_fields())
        failure.attempts = self._result.attempts
        return failure

    # --- inside the plan ---------------------------------------------------------------------

    def _skip(self, key: str, model_id: str, why: str, retry_after_s: float | None) -> None:
        self._result.attempts.append(Attempt(key, model_id, "skipped", detail=why, retry_after_s=retry_after_s))
        self._extend()

    def _stop(self, why: Stop, key: str, model_id: str, detail: str) -> None:
        self._result.attempts.append(Attempt(key, model_id, "skipped", detail=detail))
        self.stopped = why

    def _extend(self) -> None:
        """Add the decision's fallbacks once. Unhealthy ones stay in the chain, to be listed as skipped (with their
        wait), not silently dropped."""
        if self._extended:
            return
        self._extended = True
        result, health = self._result, self._health
        everyone = Health(latency_ms=health.latency_ms, forced_up=health.forced_up)
        fallbacks = self._engine.fallbacks(
            result.decision, result.request_features, result.tier, self._max_cost_usd, everyone
        )
        self._chain.extend(m for m in fallbacks if m not in self._chain)

    def _target(self, key: str) -> tuple[str, str | None, bool]:
        decision = self._result.decision
        if decision.is_prompt_router and key == decision.model:
            return decision.model_id, None, True
        spec = self._engine.config.models[key]
        return spec.model_id, spec.region, False

    def _slo_s(self, key: str) -> float:
        models, decision = self._engine.config.models, self._result.decision
        if decision.is_prompt_router and key == decision.model:
            return max(models[m].latency_slo_ms for m in self._engine.config.prompt_routers[key].models) / 1000
        return models[key].latency_slo_ms / 1000

    def _failure(self) -> RouterFailure:
        attempts = self._result.attempts
        details = {"attempts": [a.as_dict() for a in attempts]}
        errors = [a for a in attempts if a.outcome == "error"]
        if self.stopped == "rejected":  # the request itself was refused: say so, whatever was tried before
            _, kind, code, hint = classify(errors[-1].error_class or "")
            return RouterFailure(kind, code, f"{hint}: {errors[-1].detail or ''}".rstrip(": "), details=details)
        skipped = [a.model for a in attempts if a.outcome == "skipped"]
        retry_after = self._breakers.retry_after_s(skipped + [a.model for a in errors]) if skipped or errors else None
        kinds = {classify(a.error_class or "")[1] for a in errors}
        if errors and len(errors) == len(attempts) and (len(errors) == 1 or kinds == {FailureKind.THROTTLED}):
            # one model, one failure: say what it was (a lone timeout is a 504); every model throttling is a 429
            # with the real wait, so clients back off instead of treating it as an outage
            _, kind, code, hint = classify(errors[-1].error_class or "")
            names = ", ".join(a.model for a in errors)
            return RouterFailure(kind, code, f"{hint} ({names})", details=details, retry_after_s=retry_after)
        summary = "; ".join(
            f"{a.model}: {a.error_class or 'skipped'}"
            + (f" ({a.detail})" if a.detail and a.outcome == "skipped" else "")
            for a in attempts
        )
        return RouterFailure(
            FailureKind.UNAVAILABLE,
            "all_models_failed",
            f"no model could answer this request; tried: {summary or 'none available'}",
            details=details,
            retry_after_s=retry_after,
        )
