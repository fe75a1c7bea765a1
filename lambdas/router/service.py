"""The core: one request, end to end — decide, call the model (buffered or streamed), fail over, account for it.

It knows no wire format and no HTTP: it takes a `ChatRequest` and returns a `RouteResult` (buffered) or an
`AnswerStream` (streamed), and every failure is a `RouterFailure` with a kind. Where configuration and models
come from is injected: AppConfig and Bedrock in Lambda, files and the simulated backend locally, fakes in tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aws_adapters.bedrock import BedrockConverse, ModelCall, ModelCallError, ModelReply, ModelStream, classify
from router.adapters.config_store import ConfigUnavailable, LastGoodStore, Snapshot
from router.adapters.spend_store import SpendStoreError
from router.budgets import BudgetCheck, BudgetGuard
from router.chat import (
    STRUCTURED_TOOL,
    ChatRequest,
    Finished,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
)
from router.failures import FailureKind, RouterFailure
from router.sampling import Sampler
from routing_engine.config import FailoverFlags
from routing_engine.engine import Decision, Engine, Health, NoCapableModel, RoutingError, estimate_cost
from routing_engine.features import RequestFeatures, extract_features
from routing_engine.health import BreakerSettings, HealthTracker

MIN_ATTEMPT_S = 1.0  # do not start a model call with less time than this left
DEADLINE_MARGIN_S = 0.5  # kept back from the invocation's own deadline to answer with an error in time
NO_TOOLS_NOTE = "Do not call any tool in this answer; reply in text."
# A stream's read timeout is the longest silence allowed between two bytes from Bedrock (the first included): kept
# under API Gateway's 5-minute idle timeout for regional endpoints, which no keep-alive can cover before the first
# byte (the response's headers name the answering model, so nothing is sent before it answers).
STREAM_SILENCE_MAX_S = 240.0


@dataclass(slots=True)
class Attempt:
    model: str
    model_id: str
    outcome: str  # "ok", "error", "skipped"
    error_class: str | None = None
    detail: str | None = None
    latency_ms: float | None = None
    retryable: bool = True
    retry_after_s: float | None = None  # for a skipped model: when it may be tried again

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

    def log_fields(self) -> dict:
        """Budget facts for the request's log line."""
        return _budget_log(self.budget, self.spend_store_errors)

    @property
    def fell_back(self) -> bool:
        return any(a.outcome != "ok" for a in self.attempts)

    @property
    def model(self) -> str:
        return self.answered_by or self.decision.model


def routing_failure(exc: RoutingError) -> RouterFailure:
    waits = exc.details.get("retry_after_s") if isinstance(exc.details, dict) else None
    retry_after = min(waits.values()) if isinstance(waits, dict) and waits else None
    kind = FailureKind(exc.kind)
    if kind is FailureKind.NO_CAPABLE_MODEL and retry_after is not None and _only_breakers(exc.details):
        # every model that could take the request is only cooling down: that is "unavailable, retry soon"
        kind = FailureKind.UNAVAILABLE
    return RouterFailure(kind, exc.code, exc.message, details=exc.details, retry_after_s=retry_after)


def _only_breakers(details: dict) -> bool:
    filtered = details.get("filtered") or {}
    waits = details.get("retry_after_s") or {}
    return bool(filtered) and set(filtered) <= set(waits)


class RouterService:
    def __init__(
        self,
        routing: LastGoodStore[Engine],
        invoker: BedrockConverse,
        *,
        flags: LastGoodStore[FailoverFlags] | None = None,
        health: HealthTracker | None = None,
        clock: Callable[[], float] = time.monotonic,
        backend: str = "bedrock",
        default_region: str | None = None,
        max_request_s: float | None = None,
        budgets: BudgetGuard | None = None,
        sampler: Sampler | None = None,
    ):
        self.routing = routing
        self.flags = flags
        self.invoker = invoker
        self.health = health or HealthTracker()
        self.clock = clock
        self.backend = backend
        self.default_region = default_region
        self.max_request_s = max_request_s  # the hosting invocation's own limit (Lambda timeout), if any
        self.budgets = budgets or BudgetGuard(None)
        self.sampler = sampler or Sampler(None)  # label sampling (router.sampling); off without a label queue
        self._breaker_version: str | None = None
        self._lock = threading.Lock()  # guards the breaker: requests run concurrently in the app's threads

    # --- configuration and health -------------------------------------------------------------

    def snapshot(self) -> Snapshot[Engine]:
        try:
            snap = self.routing.get()
        except ConfigUnavailable as exc:
            raise RouterFailure(FailureKind.CONFIG_UNAVAILABLE, "config_unavailable", str(exc)) from None
        if snap.version != self._breaker_version:  # breaker settings follow the configuration
            res = snap.value.config.resilience
            with self._lock:
                self.health.configure(BreakerSettings.from_resilience(res))
                self._breaker_version = snap.version
        return snap

    def flags_now(self) -> tuple[dict[str, str], frozenset[str]]:
        """(models flagged down, with why; models an operator forced up)."""
        if self.flags is None:
            return {}, frozenset()
        flags = self.flags.get().value
        down = {
            key: f"failover flag down ({flag.source}: {flag.reason or 'no reason given'})"
            for key, flag in flags.models.items()
            if flag.state == "down"
        }
        return down, frozenset(key for key, flag in flags.models.items() if flag.state == "up")

    def current_health(self) -> Health:
        with self._lock:
            unavailable = self.health.unavailable()
            cooldowns = self.health.cooldowns()
            latency = self.health.latency_ms()
        down, forced_up = self.flags_now()
        if forced_up:  # an operator's "up" overrides this instance's circuit breaker
            unavailable = {k: v for k, v in unavailable.items() if k not in forced_up}
            cooldowns = {k: v for k, v in cooldowns.items() if k not in forced_up}
        if down:
            unavailable = {**unavailable, **down}
        return Health(unavailable=unavailable, latency_ms=latency, forced_up=forced_up, retry_after_s=cooldowns)

    def observed(self) -> dict[str, dict]:
        """What this instance has seen of each model (calls, errors, latency, breaker state)."""
        with self._lock:
            return self.health.snapshot()

    def retry_after_s(self, models) -> float | None:
        """The shortest real wait until one of `models` may be tried again by this instance's breaker."""
        with self._lock:
            waits = [w for w in (self.health.retry_after_s(m) for m in models) if w is not None]
        return min(waits) if waits else None

    def usage(self, caller: str | None) -> dict:
        """GET /v1/usage: this caller's own spend and budgets, and its tier's, read from the spend table now."""
        snap = self.snapshot()
        engine = snap.value
        try:
            return self.budgets.usage(engine.config, caller, engine.tier_of(caller))
        except SpendStoreError as exc:
            raise RouterFailure(
                FailureKind.UNAVAILABLE,
                "spend_store_unavailable",
                f"the spend table cannot be read right now; requests are still served ({exc})",
                retry_after_s=5.0,
            ) from None

    # --- the decision -------------------------------------------------------------------------

    def decide(
        self, request: ChatRequest, *, caller: str | None, snapshot: Snapshot[Engine] | None = None
    ) -> tuple[RouteResult, Health]:
        snap = snapshot or self.snapshot()
        engine = snap.value
        tier = engine.tier_of(caller)
        # the budget comes first: a spent budget refuses before any other work (a dry run says the same)
        check = self.budgets.check(engine.config, caller, tier)
        rejection = check.rejection()
        if rejection is not None:
            rejection.log.update(_budget_log(check, check.store_errors), tier=tier)
            raise rejection
        try:
            return self._decide(request, caller, snap, tier, check)
        except RouterFailure as failure:
            failure.log.update(_budget_log(check, check.store_errors), tier=tier)
            raise

    def _decide(
        self, request: ChatRequest, caller: str | None, snap: Snapshot[Engine], tier: str, check: BudgetCheck
    ) -> tuple[RouteResult, Health]:
        engine = snap.value
        pressure = check.pressure(engine.config)
        features = extract_features(
            request.messages, system=request.system, uses_tools=request.uses_tools, risk=engine.risk
        )
        if request.dry_run or engine.needs_complexity(request.name):  # scored by the scorer the route names
            features = engine.with_complexity(request.name, features, request.messages, request.system)
        health = self.current_health()
        try:
            decision = engine.decide(
                request.name,
                features,
                tier=tier,
                max_cost_usd=request.max_cost_usd,
                max_output_tokens=request.max_tokens,
                health=health,
                explain=request.dry_run,
                budget=pressure,
            )
        except RoutingError as exc:
            failure = None
            if isinstance(exc, NoCapableModel) and pressure is not None and pressure.fallback_model is not None:
                failure = check.rejection(include_fallback=True, why=exc.message)  # over budget, no cheap way out
            failure = failure or routing_failure(exc)
            failure.log["features"] = features.as_dict()  # so a replay can tell "refused then, served now"
            raise failure from None
        if decision.trace is not None:  # a dry run reports the budget state beside the decision
            decision.trace["budget"] = {
                "enforcement": self.budgets.describe(engine.config),
                "budgets": check.as_dict(),
                "pressure": pressure.why if pressure else None,
            }
        if request.structured is not None and not decision.is_prompt_router:
            spec = engine.config.models[decision.model]
            if not spec.supports_tools:
                raise RouterFailure(
                    FailureKind.UNSUPPORTED,
                    "response_format_unsupported",
                    f"{decision.model} (chosen by {decision.reason}) cannot produce structured output: it has no "
                    "tool use, which the router needs for response_format; route this request to a model with "
                    "supports_tools",
                    param="response_format",
                )
        return RouteResult(
            decision,
            snap.version,
            snap.source,
            tier,
            features.as_dict(),
            request_features=features,
            caller=caller,
            budget=check,
            spend_store_errors=check.store_errors,
        ), health

    def settle(self, engine: Engine, result: RouteResult, input_tokens: int, output_tokens: int) -> None:
        """An answer is complete: price the model that answered at its actual tokens, the shadow choice at the same
        tokens (like with like), and record the spend."""
        spec = engine.config.models.get(result.answered_by or "")
        if spec is not None:
            result.cost_usd = estimate_cost(spec, input_tokens, output_tokens)
        shadow_at_served_tokens(engine, result.decision, input_tokens, output_tokens)
        self.account(result)

    def account(self, result: RouteResult, cost_usd: float | None = None) -> None:
        """Add an answered request's cost to its caller's and tier's spend, once (never fails the request)."""
        cost = result.cost_usd if cost_usd is None else cost_usd
        if cost is None or result.budget is None or not result.budget.statuses:
            return  # no budget governs this caller or its tier: nothing to enforce, so no DynamoDB write either
        with self._lock:  # a stream's end and its client's disconnect may race to account for it
            if result.spend_recorded:
                return
            result.spend_recorded = True
        result.spend_store_errors += self.budgets.record(result.caller, result.tier, cost)

    # --- buffered ----------------------------------------------------------------------------

    def complete(
        self,
        request: ChatRequest,
        *,
        caller: str | None,
        remaining_s: Callable[[], float] | None = None,
        snapshot: Snapshot[Engine] | None = None,
    ) -> RouteResult:
        started = self.clock()
        snap = snapshot or self.snapshot()
        result, health = self.decide(request, caller=caller, snapshot=snap)
        if request.dry_run:
            result.latency_ms = (self.clock() - started) * 1000
            return result
        engine = snap.value
        deadline = self._deadline(started, engine.config.resilience.total_deadline_ms, remaining_s)
        for key, model_id, region, is_router, timeout in self._chain(engine, request, result, health, deadline):
            call = self._model_call(engine, key, model_id, region, result.decision, request)
            try:
                reply = self.invoker.converse(call, timeout)
            except ModelCallError as exc:
                self._failed(key, model_id, exc, result)
                continue
            except BaseException:
                self._release(key)  # never leave a breaker probe claimed by a call that blew up
                raise
            answered = (engine.model_key_for(reply.invoked_model_id) if is_router else key) or key
            self._succeeded(key, reply.latency_ms)
            result.attempts.append(
                Attempt(answered, reply.invoked_model_id or model_id, "ok", latency_ms=reply.latency_ms)
            )
            result.reply = reply
            result.answered_by = answered
            result.answered_model_id = reply.invoked_model_id or model_id
            self.settle(engine, result, reply.input_tokens, reply.output_tokens)  # once the answer is complete
            result.latency_ms = (self.clock() - started) * 1000
            return result
        raise self._exhausted(result)

    # --- streamed ----------------------------------------------------------------------------

    def open_stream(
        self,
        request: ChatRequest,
        *,
        caller: str | None,
        remaining_s: Callable[[], float] | None = None,
        snapshot: Snapshot[Engine] | None = None,
    ) -> AnswerStream:
        """Route and open a stream, failing over until a model has sent its first content event. From then on
        the answer belongs to that model: `AnswerStream.events()` yields the rest, and a later failure ends the
        stream with `StreamFailed` instead of switching models."""
        started = self.clock()
        snap = snapshot or self.snapshot()
        result, health = self.decide(request, caller=caller, snapshot=snap)
        result.streamed = True
        engine = snap.value
        deadline = self._deadline(started, engine.config.resilience.stream_deadline_ms, remaining_s)
        for key, model_id, region, is_router, timeout in self._chain(engine, request, result, health, deadline):
            call = self._model_call(engine, key, model_id, region, result.decision, request)
            stream: ModelStream | None = None
            try:
                # Reads may pause up to STREAM_SILENCE_MAX_S once the answer flows; the first token gets only this
                # attempt's budget (a multiple of the model's SLO when a fallback may follow), by a watchdog.
                stream = self.invoker.converse_stream(call, STREAM_SILENCE_MAX_S)
                first_token = stream.watchdog(timeout)
                try:
                    events = stream.events()
                    head = []
                    for event in events:  # up to the first content: failures so far move on to the next model
                        head.append(event)
                        if "messageStart" not in event:
                            break
                finally:
                    first_token.cancel()
                if stream.expired:
                    raise ModelCallError(
                        "Timeout", f"no first token within {timeout:.1f} s", latency_ms=stream.elapsed_ms()
                    )
            except ModelCallError as exc:
                if stream is not None:
                    stream.close()  # the next model answers: this one must stop generating
                self._failed(key, model_id, exc, result)
                continue
            except BaseException:
                if stream is not None:
                    stream.close()
                self._release(key)
                raise
            ttft = stream.elapsed_ms()
            self._succeeded(key, ttft)  # a stream is "answered" at its first token: that is what the SLO measures
            result.attempts.append(Attempt(key, model_id, "ok", latency_ms=ttft))
            result.answered_by = key
            result.answered_model_id = model_id
            result.ttft_ms = (self.clock() - started) * 1000
            return AnswerStream(self, engine, request, result, stream, head, events, started, deadline, is_router)
        raise self._exhausted(result)

    # --- shared by both -----------------------------------------------------------------------

    def _deadline(self, started: float, configured_ms: int, remaining_s: Callable[[], float] | None) -> float:
        deadline = started + configured_ms / 1000
        if self.max_request_s is not None:
            deadline = min(deadline, started + self.max_request_s - DEADLINE_MARGIN_S)
        if remaining_s is not None:  # never outlive the invocation itself
            deadline = min(deadline, self.clock() + max(0.0, remaining_s() - DEADLINE_MARGIN_S))
        return deadline

    def _chain(
        self, engine: Engine, request: ChatRequest, result: RouteResult, health: Health, deadline: float
    ) -> Iterator[tuple[str, str, str | None, bool, float]]:
        """The models to call in order, each with its timeout: the choice, then (only once it is in trouble) its
        fallbacks. Skipped models are recorded in `result.attempts`. A first attempt that may be followed by a
        fallback gets at most `attempt_slo_multiple` times its model's latency SLO, so a slow primary costs a
        bounded, model-specific time before the fallback starts."""
        decision = result.decision
        res = engine.config.resilience
        chain: list[str] = [decision.model]
        extended = False

        def extend() -> None:
            nonlocal extended
            if not extended:
                extended = True
                # Unhealthy models stay in the chain, to be listed as skipped (with their wait), not silently dropped
                everyone = Health(latency_ms=health.latency_ms, forced_up=health.forced_up)
                fallbacks = engine.fallbacks(
                    decision, result.request_features, result.tier, request.max_cost_usd, everyone
                )
                chain.extend(m for m in fallbacks if m not in chain)

        calls = 0
        i = 0
        while i < len(chain):
            key = chain[i]
            i += 1
            model_id, region, is_router = self._target(engine, key, decision)
            if key in health.unavailable:
                result.attempts.append(
                    Attempt(
                        key,
                        model_id,
                        "skipped",
                        detail=health.unavailable[key],
                        retry_after_s=self.retry_after_s([key]),
                    )
                )
                extend()
                continue
            if calls >= res.max_attempts:
                result.attempts.append(
                    Attempt(key, model_id, "skipped", detail=f"max attempts ({res.max_attempts}) reached")
                )
                break
            left = deadline - self.clock()
            if left < MIN_ATTEMPT_S:
                result.attempts.append(Attempt(key, model_id, "skipped", detail="request deadline reached"))
                break
            if key not in health.forced_up and not self._allow(key):  # may claim this call as the probe
                result.attempts.append(
                    Attempt(
                        key,
                        model_id,
                        "skipped",
                        detail="circuit open: probe in flight",
                        retry_after_s=self.retry_after_s([key]),
                    )
                )
                extend()
                continue
            may_follow = calls + 1 < res.max_attempts and (i < len(chain) or not extended)
            timeout = left
            if may_follow:
                slo_s = self._slo_s(engine, key, decision)
                timeout = max(MIN_ATTEMPT_S, min(left - MIN_ATTEMPT_S, res.attempt_slo_multiple * slo_s))
            calls += 1
            before = len(result.attempts)
            yield key, model_id, region, is_router, timeout
            last = result.attempts[-1] if len(result.attempts) > before else None
            if last is not None and last.outcome == "error":
                if not last.retryable:
                    return
                extend()

    @staticmethod
    def _slo_s(engine: Engine, key: str, decision: Decision) -> float:
        models = engine.config.models
        if decision.is_prompt_router and key == decision.model:
            return max(models[m].latency_slo_ms for m in engine.config.prompt_routers[key].models) / 1000
        return models[key].latency_slo_ms / 1000

    def _allow(self, key: str) -> bool:
        with self._lock:
            return self.health.allow(key)

    def _release(self, key: str) -> None:
        with self._lock:
            self.health.release(key)

    def _succeeded(self, key: str, latency_ms: float) -> None:
        with self._lock:
            self.health.record_success(key, latency_ms)

    def _failed(self, key: str, model_id: str, exc: ModelCallError, result: RouteResult) -> None:
        result.attempts.append(
            Attempt(key, model_id, "error", exc.error_class, exc.message[:300], exc.latency_ms, exc.retryable)
        )
        with self._lock:
            if exc.retryable:
                self.health.record_failure(key, exc.latency_ms)
            else:
                self.health.release(key)  # the request was bad, which says nothing about the model

    def _model_call(
        self, engine: Engine, key: str, model_id: str, region: str | None, decision: Decision, request: ChatRequest
    ) -> ModelCall:
        route = engine.config.routes.get(decision.route)
        system = route.system_prompt if route is not None else None
        if request.system:
            system = f"{system}\n\n{request.system}" if system else request.system
        temperature = request.temperature_on(route)
        tool_config = self._tool_config(request)
        if request.no_tools and tool_config is not None:
            system = f"{system}\n\n{NO_TOOLS_NOTE}" if system else NO_TOOLS_NOTE
        spec = engine.config.models.get(key)
        max_tokens = min(decision.out_tokens, spec.max_output_tokens) if spec is not None else decision.out_tokens
        return ModelCall(
            model_id=model_id,
            region=region or self.default_region,
            messages=request.converse_messages,
            system=system,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=request.top_p,
            stop=request.stop,
            tool_config=tool_config,
        )

    @staticmethod
    def _tool_config(request: ChatRequest) -> dict | None:
        tools = list(request.tools)
        structured = request.structured
        if structured is not None:
            spec: dict = {"name": structured.name, "inputSchema": {"json": structured.schema}}
            spec["description"] = structured.description or "Reply by calling this tool: its input is your answer."
            tools.append({"toolSpec": spec})
        if not tools:
            return None
        if request.no_tools and not _has_tool_blocks(request.converse_messages):
            return None  # Converse has no "none": leave the tools out (they may stay only when the history needs them)
        config: dict = {"tools": tools}
        if structured is not None:
            config["toolChoice"] = {"tool": {"name": structured.name}} if not request.tools else {"any": {}}
        elif request.tool_choice is not None and not request.no_tools:
            config["toolChoice"] = request.tool_choice
        return config

    @staticmethod
    def _target(engine: Engine, key: str, decision: Decision) -> tuple[str, str | None, bool]:
        if decision.is_prompt_router and key == decision.model:
            return decision.model_id, None, True
        spec = engine.config.models[key]
        return spec.model_id, spec.region, False

    def _exhausted(self, result: RouteResult) -> RouterFailure:
        """No model answered: one failure whose kind says why, with every attempt in its details."""
        failure = self._exhausted_failure(result)
        failure.log.update(result.log_fields())
        failure.attempts = result.attempts
        return failure

    def _exhausted_failure(self, result: RouteResult) -> RouterFailure:
        attempts = result.attempts
        details = {"attempts": [a.as_dict() for a in attempts]}
        errors = [a for a in attempts if a.outcome == "error"]
        last = errors[-1] if errors else None
        if last is not None and not last.retryable:
            _, kind, code, hint = classify(last.error_class or "")
            return RouterFailure(kind, code, f"{hint}: {last.detail or ''}".rstrip(": "), details=details)
        skipped = [a.model for a in attempts if a.outcome == "skipped"]
        retry_after = self.retry_after_s(skipped + [a.model for a in errors]) if skipped or errors else None
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


def _budget_log(check: BudgetCheck | None, store_errors: int) -> dict:
    """The budget state a request was checked against, and the spend-table errors it met, for its log line."""
    out: dict = {}
    if check is not None and check.statuses:
        out["budget"] = check.as_dict()
        if check.action:
            out["budget_action"] = check.action
    if store_errors:
        out["spend_store_errors"] = store_errors
    return out


def shadow_at_served_tokens(engine: Engine, decision: Decision, input_tokens: int, output_tokens: int) -> None:
    """A shadow route's dynamic choice, priced like with like: the tokens the served answer actually used, at the
    shadow model's prices (`cost_usd_at_served_tokens`). Its `estimated_cost_usd` assumes every allowed output
    token, which made a cheaper model read as many times dearer than the served answer's real cost."""
    shadow = decision.shadow
    if not shadow or not shadow.get("model"):
        return
    cost = engine.cost_at(shadow["model"], input_tokens, output_tokens)  # a prompt router: at its dearest member
    if cost is not None:
        shadow["cost_usd_at_served_tokens"] = cost


def _has_tool_blocks(messages: list) -> bool:
    return any("toolUse" in block or "toolResult" in block for m in messages for block in m["content"])


class AnswerStream:
    """A stream that has its first content: iterate `events()` for the answer; `close()` stops the model."""

    def __init__(
        self,
        service: RouterService,
        engine: Engine,
        request: ChatRequest,
        result: RouteResult,
        stream: ModelStream,
        head: list[dict],
        rest: Iterator[dict],
        started: float,
        deadline: float,
        is_router: bool,
    ):
        self.service = service
        self.engine = engine
        self.request = request
        self.result = result
        self._stream = stream
        self._head = head
        self._rest = rest
        self._started = started
        self._deadline = deadline
        self._is_router = is_router
        self.failure: RouterFailure | None = None
        self._out_chars = 0  # text and tool input sent so far: what a stream cut short is billed for, roughly
        self._client_closed = False
        self.keep_text = False  # set for a stream drawn for label sampling: its answer's text is kept
        self._text: list[str] = []

    def answer_text(self) -> str:
        """The answer's text, for a stream that kept it (`keep_text`)."""
        return "".join(self._text)

    def close(self) -> None:
        """Stop the model's stream. Called when the response ends, normally or because the client left."""
        self._client_closed = True  # from here on events() bills nothing itself: only the estimate below counts
        self._stream.close()
        if not self.result.spend_recorded and self._out_chars:
            # The client left before the end: Bedrock bills what was generated, so count an estimate of it, now,
            # while the invocation is still running (a write left to a thread could be frozen with the Lambda
            # environment); an instance serves one request at a time there, and locally the store is in memory.
            self.service.account(self.result, self._estimated_cost())

    def _estimated_cost(self) -> float | None:
        models = self.engine.config.models
        key = self.result.answered_by or ""
        spec = models.get(key)
        if spec is None and key in self.engine.config.prompt_routers:  # who answered is only known at the end
            spec = max(
                (models[m] for m in self.engine.config.prompt_routers[key].models),
                key=lambda s: s.price.output_per_million,
            )  # bill as the dearest member, as the estimate does
        features = self.result.request_features
        if spec is None or features is None:
            return None
        return estimate_cost(spec, features.estimated_tokens, self._out_chars // 4)

    def _raw(self) -> Iterator[dict]:
        yield from self._head
        yield from self._rest

    def events(self) -> Iterator[StreamEvent]:
        result, clock = self.result, self.service.clock
        structured = self.request.structured.name if self.request.structured is not None else None
        tools: dict[int, tuple[int, bool]] = {}  # content block index -> (tool call index, is the structured tool)
        usage: dict = {}
        metrics: dict = {}
        stop_reason = "end_turn"
        invoked: str | None = None
        deadline = self._stream.watchdog(self._deadline - clock())
        try:
            for event in self._raw():
                if clock() > self._deadline:
                    self._stream.expire()
                    break
                if "contentBlockDelta" in event:
                    body = event["contentBlockDelta"]
                    delta = body.get("delta", {})
                    if "text" in delta:
                        if delta["text"]:
                            self._out_chars += len(delta["text"])
                            if self.keep_text:
                                self._text.append(delta["text"])
                            yield TextDelta(delta["text"])
                    elif "toolUse" in delta:
                        index, is_structured = tools.get(body.get("contentBlockIndex", 0), (0, False))
                        self._out_chars += len(delta["toolUse"].get("input", ""))
                        yield ToolCallDelta(index, delta["toolUse"].get("input", ""), is_structured)
                elif "contentBlockStart" in event:
                    body = event["contentBlockStart"]
                    tool = body.get("start", {}).get("toolUse")
                    if tool is not None:
                        is_structured = tool.get("name") == structured
                        index = sum(1 for _, s in tools.values() if not s) if not is_structured else 0
                        tools[body.get("contentBlockIndex", 0)] = (index, is_structured)
                        yield ToolCallStart(index, tool.get("toolUseId", ""), tool.get("name", ""), is_structured)
                elif "messageStop" in event:
                    stop_reason = event["messageStop"].get("stopReason", "end_turn")
                elif "metadata" in event:
                    meta = event["metadata"]
                    usage = meta.get("usage", {})
                    metrics = meta.get("metrics", {})
                    invoked = meta.get("trace", {}).get("promptRouter", {}).get("invokedModelId")
            if self._stream.expired and not self._client_closed:
                raise ModelCallError(
                    "DeadlineExceeded",
                    f"the stream ran past the request's deadline ({self._deadline - self._started:.0f} s)",
                    latency_ms=self._stream.elapsed_ms(),
                )
        except ModelCallError as exc:
            key = result.answered_by or result.decision.model
            self.service._failed(key, result.answered_model_id or "", exc, result)
            result.latency_ms = (clock() - self._started) * 1000
            self.failure = RouterFailure(
                exc.kind,
                exc.code,
                f"{exc.hint} after the answer had started ({key}): {exc.message}",
                details={"attempts": [a.as_dict() for a in result.attempts]},
            )
            if self._out_chars:  # what was generated before the failure is billed
                self.service.account(result, self._estimated_cost())
            yield StreamFailed(self.failure)
            return
        finally:
            deadline.cancel()
            self._stream.close()
        if self._client_closed:
            return  # the client left mid-answer: close() billed an estimate; there is no end to report
        if self._is_router and invoked:
            result.answered_by = self.engine.model_key_for(invoked) or result.answered_by
            result.answered_model_id = invoked
            result.attempts[-1].model = result.answered_by or result.attempts[-1].model
            result.attempts[-1].model_id = invoked
        input_tokens, output_tokens = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
        self.service.settle(self.engine, result, input_tokens, output_tokens)  # at the end, with the exact usage
        result.latency_ms = (clock() - self._started) * 1000
        result.reply = ModelReply(
            text="",
            content=[],
            stop_reason=stop_reason,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=float(metrics.get("latencyMs", 0.0)),
            invoked_model_id=invoked,
        )
        yield Finished(
            stop_reason, input_tokens, output_tokens, result.cost_usd, result.ttft_ms or 0.0, result.latency_ms
        )


__all__ = [
    "STRUCTURED_TOOL",
    "AnswerStream",
    "Attempt",
    "RouteResult",
    "RouterService",
    "routing_failure",
    "shadow_at_served_tokens",
]
