"""The core: one request, end to end: decide, call the model (buffered or streamed), fail over, account for it.

It knows no wire format, no HTTP and no Converse: it takes a `ChatRequest` and returns a `RouteResult` (buffered)
or an `AnswerStream` (streamed), and every failure is a `RouterFailure` with a kind. The steps live beside it:
`failover.FailoverPlan` (which model next, and why it stopped), `streaming.AnswerStream` (a stream after its first
content), `accounting.Ledger` (cost and spend), `breakers.Breakers` (this instance's view of each model's health),
`sampling.Sampler` (label samples). Where configuration and models come from is injected: AppConfig and Bedrock in
Lambda, files and the simulated backend locally, fakes in tests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from aws_adapters.bedrock import BedrockConverse, ModelCallError, ModelStream
from aws_adapters.conversation import ModelCall, Text, Thinking
from router import caching
from router.accounting import Ledger
from router.adapters.config_store import ConfigUnavailable, LastGoodStore, Snapshot
from router.adapters.spend_store import SpendStoreError
from router.breakers import Breakers
from router.budgets import BudgetCheck, BudgetGuard
from router.chat import ChatRequest
from router.engine_store import EngineStore
from router.failover import Candidate, FailoverPlan
from router.failures import FailureKind, RouterFailure
from router.result import RouteResult, TokenCount, budget_log
from router.sampling import Sampler
from router.streaming import AnswerStream
from routing_engine.config import FailoverFlags
from routing_engine.config.catalog import accepted_sampling
from routing_engine.config.geography import base_model_id, is_foundation_model_id
from routing_engine.engine import Engine, Health, NoCapableModel, RoutingError
from routing_engine.features import CHARS_PER_TOKEN, RequestFeatures, extract_features
from routing_engine.health import HealthTracker

DEADLINE_MARGIN_S = 0.5  # kept back from the invocation's own deadline to answer with an error in time
# A stream's read timeout is the longest silence allowed between two bytes from Bedrock (the first included): kept
# under API Gateway's 5-minute idle timeout for regional endpoints, which no keep-alive can cover before the first
# byte (the response's headers name the answering model, so nothing is sent before it answers).
STREAM_SILENCE_MAX_S = 240.0
MIN_THINKING_BUDGET = 1024  # Anthropic's least budget_tokens
COUNT_TOKENS_TIMEOUT_S = 5.0
# CountTokens errors that say this model cannot be counted here (not a passing fault): remembered per instance
COUNT_UNSUPPORTED = frozenset({"ValidationException", "AccessDeniedException", "ResourceNotFoundException"})


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
        routing: LastGoodStore[Engine] | EngineStore,
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
        self.breakers = Breakers(health or HealthTracker())
        self.clock = clock
        self.backend = backend
        self.default_region = default_region
        self.max_request_s = max_request_s  # the hosting invocation's own limit (Lambda timeout), if any
        self.ledger = Ledger(budgets or BudgetGuard(None))
        self.sampler = sampler or Sampler(None)  # label sampling (router.sampling); off without a label queue
        self._uncountable: dict[str, str] = {}  # model id -> why Bedrock's CountTokens cannot count it

    @property
    def health(self) -> HealthTracker:
        return self.breakers.tracker

    @property
    def budgets(self) -> BudgetGuard:
        return self.ledger.budgets

    @budgets.setter
    def budgets(self, guard: BudgetGuard) -> None:
        self.ledger.budgets = guard

    # --- configuration and health -------------------------------------------------------------

    def snapshot(self) -> Snapshot[Engine]:
        try:
            snap = self.routing.get()
        except ConfigUnavailable as exc:
            raise RouterFailure(FailureKind.CONFIG_UNAVAILABLE, "config_unavailable", str(exc)) from None
        self.breakers.configure(snap.version, snap.value.config.resilience)
        return snap

    def current_health(self) -> Health:
        """What the engine decides with: this instance's breakers, under the fleet's failover flags."""
        return self.breakers.health(self.flags.get().value if self.flags is not None else None)

    def observed(self) -> dict[str, dict]:
        """What this instance has seen of each model (calls, errors, latency, breaker state)."""
        return self.breakers.observed()

    def health_report(self) -> tuple[dict, str]:
        """GET /v1/health: (the report, its configuration version). Each model's availability (with why not, and
        what this instance has seen of it), the routes, and whether budgets are enforced."""
        snap = self.snapshot()
        config = snap.value.config
        health = self.current_health()
        seen = self.observed()
        models = {
            key: {
                "model_id": spec.model_id,
                "available": key not in health.unavailable,
                **({"reason": health.unavailable[key]} if key in health.unavailable else {}),
                **({"observed": seen[key]} if key in seen else {}),
            }
            for key, spec in config.models.items()
        }
        down = len(health.unavailable.keys() & models.keys())
        report = {
            "status": "ok" if not down else ("degraded" if down < len(models) else "unavailable"),
            "config_version": snap.version,
            "config_label": config.version,
            "config_source": snap.source,
            "backend": self.backend,
            "routes": {name: {"mode": r.mode, "model": r.model} for name, r in config.routes.items()},
            "models": models,
            "budgets": self.budgets.describe(config),
        }
        return report, snap.version

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
        check = self.ledger.budgets.check(engine.config, caller, tier)
        rejection = check.rejection()
        if rejection is not None:
            rejection.log.update(budget_log(check, check.store_errors), tier=tier)
            raise rejection
        try:
            return self._decide(request, caller, snap, tier, check)
        except RouterFailure as failure:
            failure.log.update(budget_log(check, check.store_errors), tier=tier)
            raise

    def _decide(
        self, request: ChatRequest, caller: str | None, snap: Snapshot[Engine], tier: str, check: BudgetCheck
    ) -> tuple[RouteResult, Health]:
        engine = snap.value
        pressure = check.pressure(engine.config)
        features = extract_features(
            request.messages, system=request.system, uses_tools=request.uses_tools, risk=engine.risk
        )
        continuation = request.is_continuation
        task = None
        if continuation and engine.holds_conversations(request.name):
            task = self.task_features(engine, request)  # what its rules read: every turn decided as the first
        if request.dry_run or (task is None and engine.needs_complexity(request.name)):
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
                continuation=continuation,
                task=task,
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
            notes = list(request.notes)
            if request.thinking is not None:  # how the chosen model would take the caller's thinking
                spec = engine.config.models.get(decision.model)
                out = min(decision.out_tokens, spec.max_output_tokens) if spec is not None else decision.out_tokens
                note = fit_thinking(
                    request.thinking, spec, decision.model, out, structured=request.structured is not None
                )[1]
                if note is not None:
                    notes.append(note)
            if notes:
                decision.trace["notes"] = notes
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
        result = RouteResult(
            decision,
            snap.version,
            snap.source,
            tier,
            features.as_dict(),
            request_features=features,
            caller=caller,
            budget=check,
            spend_store_errors=check.store_errors,
            notes=request.notes,
            task_features=task.as_dict() if task is not None else None,
        )
        if request.dry_run:  # a served request says it for the model that answers (complete, open_stream)
            self._note_sampling(engine, result, decision.model, request)
        return result, health

    @staticmethod
    def task_features(engine: Engine, request: ChatRequest) -> RequestFeatures:
        """The features of a continuing conversation's task (system prompt and first user turn), with its complexity
        by the route's scorer: the same features its first turn was decided on."""
        messages = request.task_messages()
        features = extract_features(messages, system=request.system, uses_tools=request.uses_tools, risk=engine.risk)
        return engine.with_complexity(request.name, features, messages, request.system)

    # --- buffered ----------------------------------------------------------------------------

    def complete(
        self,
        request: ChatRequest,
        *,
        caller: str | None,
        request_id: str | None = None,
        remaining_s: Callable[[], float] | None = None,
        snapshot: Snapshot[Engine] | None = None,
    ) -> RouteResult:
        """Decide and call, failing over until a model answers. An answer is offered to label sampling
        (`result.label_sample`) under `request_id`, the id its response and log line carry."""
        started = self.clock()
        snap = snapshot or self.snapshot()
        result, health = self.decide(request, caller=caller, snapshot=snap)
        if request.dry_run:
            result.latency_ms = (self.clock() - started) * 1000
            return result
        engine = snap.value
        plan = self._plan(
            engine, request, result, health, started, engine.config.resilience.total_deadline_ms, remaining_s
        )
        while (candidate := plan.next()) is not None:
            call = self._model_call(engine, candidate, result, request)
            try:
                reply = self.invoker.converse(call, candidate.timeout_s)
            except ModelCallError as exc:
                plan.failed(candidate, exc)
                continue
            except BaseException:
                plan.abandoned(candidate)  # never leave a breaker probe claimed by a call that blew up
                raise
            answered = (engine.model_key_for(reply.invoked_model_id) if candidate.is_router else None) or candidate.key
            result.answered_by = answered
            result.answered_model_id = reply.invoked_model_id or candidate.model_id
            self._note_sampling(engine, result, candidate.key, request)
            plan.succeeded(candidate, reply.latency_ms, answered_by=answered, model_id=result.answered_model_id)
            result.reply = reply
            self.ledger.settle(engine, result, reply)  # once the answer is complete
            result.latency_ms = (self.clock() - started) * 1000
            result.label_sample = self.sampler.consider(
                engine, request, result, request_id=request_id or uuid.uuid4().hex, answer_text=reply.text
            )
            return result
        raise plan.exhausted()

    # --- streamed ----------------------------------------------------------------------------

    def open_stream(
        self,
        request: ChatRequest,
        *,
        caller: str | None,
        request_id: str | None = None,
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
        plan = self._plan(
            engine, request, result, health, started, engine.config.resilience.stream_deadline_ms, remaining_s
        )
        while (candidate := plan.next()) is not None:
            call = self._model_call(engine, candidate, result, request)
            stream: ModelStream | None = None
            try:
                # Reads may pause up to STREAM_SILENCE_MAX_S once the answer flows; the first token gets only this
                # attempt's budget (a multiple of the model's SLO when a fallback may follow), by a watchdog.
                stream = self.invoker.converse_stream(call, STREAM_SILENCE_MAX_S)
                first_token = stream.watchdog(candidate.timeout_s)
                try:
                    stream.begin()  # failures up to the first content move on to the next model
                finally:
                    first_token.cancel()
                if stream.expired:
                    raise ModelCallError(
                        "Timeout", f"no first token within {candidate.timeout_s:.1f} s", latency_ms=stream.elapsed_ms()
                    )
            except ModelCallError as exc:
                if stream is not None:
                    stream.close()  # the next model answers: this one must stop generating
                plan.failed(candidate, exc)
                continue
            except BaseException:
                if stream is not None:
                    stream.close()
                plan.abandoned(candidate)
                raise
            # a stream is "answered" at its first token: that is what the SLO measures
            plan.succeeded(candidate, stream.elapsed_ms(), answered_by=candidate.key, model_id=candidate.model_id)
            result.answered_by = candidate.key
            result.answered_model_id = candidate.model_id
            self._note_sampling(engine, result, candidate.key, request)
            result.ttft_ms = (self.clock() - started) * 1000
            return AnswerStream(
                engine=engine,
                request=request,
                result=result,
                stream=stream,
                is_router=candidate.is_router,
                started=started,
                deadline=plan.deadline,
                clock=self.clock,
                breakers=self.breakers,
                ledger=self.ledger,
                sampler=self.sampler,
                request_id=request_id or uuid.uuid4().hex,
            )
        raise plan.exhausted()

    # --- shared by both -----------------------------------------------------------------------

    def _plan(
        self,
        engine: Engine,
        request: ChatRequest,
        result: RouteResult,
        health: Health,
        started: float,
        configured_ms: int,
        remaining_s: Callable[[], float] | None,
    ) -> FailoverPlan:
        """The fail-over plan within the request's deadline: the configured one, capped by the hosting invocation's
        own limit and the time it has left."""
        deadline = started + configured_ms / 1000
        if self.max_request_s is not None:
            deadline = min(deadline, started + self.max_request_s - DEADLINE_MARGIN_S)
        if remaining_s is not None:  # never outlive the invocation itself
            deadline = min(deadline, self.clock() + max(0.0, remaining_s() - DEADLINE_MARGIN_S))
        return FailoverPlan(
            engine,
            result,
            health,
            self.breakers,
            max_cost_usd=request.max_cost_usd,
            deadline=deadline,
            clock=self.clock,
        )

    def _model_call(self, engine: Engine, candidate: Candidate, result: RouteResult, request: ChatRequest) -> ModelCall:
        decision = result.decision
        route = engine.config.routes.get(decision.route)
        route_system = route.system_prompt if route is not None else None
        system = route_system
        if request.system:
            system = f"{system}\n\n{request.system}" if system else request.system
        spec = engine.config.models.get(candidate.key)
        max_tokens = min(decision.out_tokens, spec.max_output_tokens) if spec is not None else decision.out_tokens
        thinking = None
        temperature = request.temperature_on(route)
        if request.thinking is not None:
            thinking, note = fit_thinking(
                request.thinking, spec, candidate.key, max_tokens, structured=request.structured is not None
            )
            if note is not None and note not in result.notes:
                result.notes += (note,)
            if thinking is not None:
                temperature = request.temperature  # a route's default temperature does not go with thinking
        system_blocks = request.system_blocks
        if system_blocks and route_system:
            system_blocks = (Text(route_system), *system_blocks)
        auto = route is not None and route.auto_cache_points
        cache = caching.fit(request.turns, system, system_blocks, request.tools, spec, candidate.key, auto=auto)
        result.notes += tuple(note for note in cache.notes if note not in result.notes)
        return ModelCall(
            model_id=candidate.model_id,
            region=candidate.region or self.default_region,
            messages=cache.turns,
            system=system,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=request.top_p,
            stop=request.stop,
            tools=cache.tools,
            tool_choice=request.tool_choice,
            no_tools=request.no_tools,
            structured=request.structured,
            top_k=request.top_k,
            thinking=thinking,
            system_blocks=cache.system_blocks,
            sampling=_sampling_rule(engine, candidate.key),
        )

    # --- counting tokens ----------------------------------------------------------------------

    def count_tokens(self, request: ChatRequest) -> TokenCount:
        """How many input tokens `request` is for the model its name resolves to (a route's configured model; a
        dynamic route may choose another when served): Bedrock's CountTokens when that model can count, otherwise
        the router's own estimate, which the answer says. Counting calls no model and spends no budget."""
        snap = self.snapshot()
        engine = snap.value
        try:
            route, direct = engine.resolve(request.name)
        except RoutingError as exc:
            raise routing_failure(exc) from None
        key = direct or engine.config.routes[route].model
        spec = engine.config.models.get(key)
        features = extract_features(request.messages, system=request.system, uses_tools=request.uses_tools)
        tool_chars = sum(len(t.name) + len(t.description or "") + len(str(t.schema)) for t in request.tools)
        estimate = features.estimated_tokens + -(-tool_chars // CHARS_PER_TOKEN)
        base = base_model_id(spec.model_id) if spec is not None else None
        counted = TokenCount(estimate, True, route or key, key, base or key, snap.version, None)
        if spec is None or base is None or not is_foundation_model_id(base):
            return counted._replace(reason=f"{key} is not a foundation model Bedrock can count tokens for")
        why = self._uncountable.get(base)
        if why is not None:
            return counted._replace(reason=why)
        route_system = engine.config.routes[route].system_prompt if route else None
        system = f"{route_system}\n\n{request.system}" if route_system and request.system else route_system
        thinking = None
        if request.thinking is not None:
            out_tokens = engine.output_tokens(engine.config.routes.get(route), request.max_tokens)
            out_tokens = min(out_tokens, spec.max_output_tokens)
            thinking = fit_thinking(request.thinking, spec, key, out_tokens, structured=request.structured is not None)[
                0
            ]
        call = ModelCall(
            model_id=base,
            region=spec.region or self.default_region,
            messages=request.turns,
            system=system or request.system,
            tools=request.tools,
            tool_choice=request.tool_choice,
            no_tools=request.no_tools,
            structured=request.structured,
            thinking=thinking,
        )
        try:
            tokens = self.invoker.count_tokens(call, COUNT_TOKENS_TIMEOUT_S)
        except ModelCallError as exc:
            why = f"Bedrock CountTokens could not count for {base} ({exc.error_class}: {exc.message[:200]})"
            if exc.error_class in COUNT_UNSUPPORTED:
                self._uncountable[base] = why
            return counted._replace(reason=why)
        return counted._replace(input_tokens=tokens, estimated=False)

    def _note_sampling(self, engine: Engine, result: RouteResult, key: str, request: ChatRequest) -> None:
        """Say in the result's routing facts which sampling setting won when model `key` takes fewer than asked."""
        route = engine.config.routes.get(result.decision.route)
        rule = _sampling_rule(engine, key)
        sampling = accepted_sampling(rule, request.temperature_on(route), request.top_p)
        result.sampling = None
        if sampling.dropped:
            sent = {
                k: v for k, v in (("temperature", sampling.temperature), ("top_p", sampling.top_p)) if v is not None
            }
            result.sampling = {"model": key, "rule": rule, "sent": sent, "dropped": sampling.dropped}


def fit_thinking(
    thinking: Thinking, spec, key: str, max_tokens: int, *, structured: bool = False
) -> tuple[Thinking | None, str | None]:
    """The caller's extended thinking as the model `key` (catalog entry `spec`) can take it within `max_tokens`, and
    a note when it was changed or left out. A budget must be at least 1,024 tokens and below max_tokens; structured
    output is a forced tool call, which Claude refuses with thinking."""
    kinds = spec.thinking if spec is not None else ()
    if structured:
        return None, "thinking left out: structured output is a forced tool call, which thinking does not allow"
    if not kinds:
        return None, f"thinking left out: {key} has no extended thinking"
    if thinking.mode == "adaptive" and "adaptive" in kinds:
        return thinking, None
    if thinking.mode == "enabled" and "enabled" not in kinds:  # adaptive only (Claude Opus 4.7 and later)
        return Thinking("adaptive", display=thinking.display), f"thinking sent as adaptive: {key} takes no budget"
    budget = thinking.budget_tokens
    note = None
    if thinking.mode == "adaptive":
        budget = max_tokens // 2
        note = f"adaptive thinking sent to {key} as a budget of {budget} tokens (half of max_tokens)"
    elif budget is None or budget >= max_tokens:
        budget = max_tokens // 2
        note = f"thinking budget lowered to {budget} tokens, half of the {max_tokens} max_tokens {key} is called with"
    if budget < MIN_THINKING_BUDGET:
        return None, f"thinking left out: max_tokens {max_tokens} leaves {key} no room for a thinking budget"
    return Thinking("enabled", budget, display=thinking.display), note


_STRICTNESS = {"temperature_and_top_p": 0, "temperature_or_top_p": 1, "none": 2}


def _sampling_rule(engine: Engine, key: str) -> str:
    """The catalog's sampling rule of model `key`; for a prompt router, the strictest of its members' (any of them
    may answer)."""
    models = engine.config.models
    if key in models:
        return models[key].sampling
    router = engine.config.prompt_routers.get(key)
    rules = [models[m].sampling for m in router.models if m in models] if router is not None else []
    return max(rules, key=_STRICTNESS.__getitem__, default="temperature_and_top_p")
