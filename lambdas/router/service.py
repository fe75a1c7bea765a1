"""One request, end to end: decide, call the model, fail over, account for it.

The service is independent of the wire format and of where configuration and
models come from: the handler wires AppConfig and Bedrock in, the local server
wires a file and the simulated backend in, tests wire fakes in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from router.adapters.bedrock import BedrockConverse, ModelCall, ModelCallError, ModelReply, classify
from router.adapters.config_store import LastGoodStore, Snapshot
from router.requests import ApiError, ChatRequest
from routing_engine.config import FailoverFlags
from routing_engine.engine import Decision, Engine, Health, estimate_cost
from routing_engine.features import extract_features, with_complexity
from routing_engine.health import BreakerSettings, HealthTracker

MIN_ATTEMPT_S = 1.0  # do not start a model call with less time than this left
FIRST_ATTEMPT_SHARE = 0.6  # a call that may be followed by a fallback gets at most this share of the time left


@dataclass(slots=True)
class Attempt:
    model: str
    model_id: str
    outcome: str  # "ok", "error", "skipped"
    error_class: str | None = None
    detail: str | None = None
    latency_ms: float | None = None
    retryable: bool = True

    def as_dict(self) -> dict:
        out = {"model": self.model, "outcome": self.outcome}
        if self.error_class:
            out["error"] = self.error_class
        if self.detail:
            out["detail"] = self.detail
        if self.latency_ms is not None:
            out["latency_ms"] = round(self.latency_ms, 1)
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

    @property
    def fell_back(self) -> bool:
        return any(a.outcome != "ok" for a in self.attempts)


class AllModelsFailed(ApiError):
    def __init__(self, attempts: list[Attempt], status: int, code: str, message: str):
        super().__init__(status, code, message, details={"attempts": [a.as_dict() for a in attempts]})
        self.attempts = attempts


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
    ):
        self.routing = routing
        self.flags = flags
        self.invoker = invoker
        self.health = health or HealthTracker()
        self.clock = clock
        self.backend = backend
        self.default_region = default_region
        self._breaker_version: str | None = None

    def snapshot(self) -> Snapshot[Engine]:
        snap = self.routing.get()
        if snap.version != self._breaker_version:  # breaker settings follow the configuration
            res = snap.value.config.resilience
            self.health.configure(
                BreakerSettings(res.breaker_failure_threshold, res.breaker_window_s, res.breaker_cooldown_s))
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
        unavailable = self.health.unavailable()
        down, forced_up = self.flags_now()
        if forced_up:  # an operator's "up" overrides this instance's circuit breaker
            unavailable = {k: v for k, v in unavailable.items() if k not in forced_up}
        if down:
            unavailable = {**unavailable, **down}
        return Health(unavailable=unavailable, latency_ms=self.health.latency_ms(), forced_up=forced_up)

    def handle(self, request: ChatRequest, *, caller: str | None, remaining_ms: Callable[[], float] | None = None,
               snapshot: Snapshot[Engine] | None = None) -> RouteResult:
        started = self.clock()
        snap = snapshot or self.snapshot()
        engine = snap.value
        tier = engine.tier_of(caller)
        features = extract_features(
            request.messages,
            system=request.system,
            uses_tools=request.tool_config is not None,
            risk=engine.risk,
        )
        if request.dry_run or engine.needs_complexity(request.name):
            features = with_complexity(features, request.messages)
        health = self.current_health()
        decision = engine.decide(
            request.name,
            features,
            tier=tier,
            max_cost_usd=request.max_cost_usd,
            max_output_tokens=request.max_tokens,
            health=health,
            explain=request.dry_run,
        )
        result = RouteResult(decision, snap.version, snap.source, tier, features.as_dict())
        if request.dry_run:
            result.latency_ms = (self.clock() - started) * 1000
            return result
        deadline = started + engine.config.resilience.total_deadline_ms / 1000
        if remaining_ms is not None:  # never outlive the Lambda invocation itself
            deadline = min(deadline, self.clock() + max(0.0, remaining_ms() - 500) / 1000)
        self._invoke_with_fallback(engine, request, result, features, health, deadline)
        result.latency_ms = (self.clock() - started) * 1000
        return result

    def _invoke_with_fallback(self, engine: Engine, request, result: RouteResult, features, health: Health,
                              deadline: float) -> None:
        decision = result.decision
        max_attempts = engine.config.resilience.max_attempts
        chain: list[str] = [decision.model]
        extended = False
        system = self._system(engine, decision, request)  # the same for every model tried
        temperature = request.temperature if request.temperature is not None else self._route_temperature(
            engine, decision)

        def extend() -> None:  # fallbacks are derived only once the first choice is in trouble
            nonlocal extended
            if not extended:
                extended = True
                fallbacks = engine.fallbacks(decision, features, result.tier, request.max_cost_usd, health)
                chain.extend(m for m in fallbacks if m not in chain)

        calls = 0
        i = 0
        while i < len(chain):
            key = chain[i]
            i += 1
            model_id, region, is_router = self._target(engine, key, decision)
            if key in health.unavailable:
                result.attempts.append(Attempt(key, model_id, "skipped", detail=health.unavailable[key]))
                extend()
                continue
            if calls >= max_attempts:
                result.attempts.append(Attempt(key, model_id, "skipped", detail=f"max attempts ({max_attempts}) reached"))
                break
            left = deadline - self.clock()
            if left < MIN_ATTEMPT_S:
                result.attempts.append(Attempt(key, model_id, "skipped", detail="request deadline reached"))
                break
            if key not in health.forced_up and not self.health.allow(key):  # may claim this call as the probe
                result.attempts.append(Attempt(key, model_id, "skipped", detail="circuit open: probe in flight"))
                extend()
                continue
            may_follow = calls + 1 < max_attempts and (i < len(chain) or not extended)
            timeout = left * FIRST_ATTEMPT_SHARE if may_follow else left
            calls += 1
            call = ModelCall(
                model_id=model_id,
                region=region or self.default_region,
                messages=request.converse_messages,
                system=system,
                max_tokens=self._max_tokens(engine, key, decision),
                temperature=temperature,
                top_p=request.top_p,
                stop=request.stop,
                tool_config=request.tool_config,
            )
            try:
                reply = self.invoker.converse(call, timeout)
            except ModelCallError as exc:
                result.attempts.append(Attempt(key, model_id, "error", exc.error_class, exc.message[:300],
                                               exc.latency_ms, exc.retryable))
                if not exc.retryable:
                    self.health.release(key)  # the request was bad, which says nothing about the model
                    raise self._failure(result.attempts, exc) from exc
                self.health.record_failure(key, exc.latency_ms)
                extend()
                continue
            except BaseException:
                self.health.release(key)  # never leave a breaker probe claimed by a call that blew up
                raise
            answered = (engine.model_key_for(reply.invoked_model_id) if is_router else key) or key
            self.health.record_success(key, reply.latency_ms)
            result.attempts.append(Attempt(answered, reply.invoked_model_id or model_id, "ok",
                                           latency_ms=reply.latency_ms))
            result.reply = reply
            result.answered_by = answered
            result.answered_model_id = reply.invoked_model_id or model_id
            spec = engine.config.models.get(answered)
            if spec is not None:
                result.cost_usd = estimate_cost(spec, reply.input_tokens, reply.output_tokens)
            return
        raise self._failure(result.attempts, None)

    @staticmethod
    def _target(engine: Engine, key: str, decision: Decision) -> tuple[str, str | None, bool]:
        if decision.is_prompt_router and key == decision.model:
            return decision.model_id, None, True
        spec = engine.config.models[key]
        return spec.model_id, spec.region, False

    @staticmethod
    def _max_tokens(engine: Engine, key: str, decision: Decision) -> int:
        spec = engine.config.models.get(key)
        return min(decision.out_tokens, spec.max_output_tokens) if spec is not None else decision.out_tokens

    @staticmethod
    def _system(engine: Engine, decision: Decision, request: ChatRequest) -> str | None:
        route = engine.config.routes.get(decision.route)
        base = route.system_prompt if route is not None else None
        if base and request.system:
            return f"{base}\n\n{request.system}"
        return base or request.system

    @staticmethod
    def _route_temperature(engine: Engine, decision: Decision) -> float | None:
        route = engine.config.routes.get(decision.route)
        return route.temperature if route is not None else None

    @staticmethod
    def _failure(attempts: list[Attempt], last: ModelCallError | None) -> ApiError:
        called = [a for a in attempts if a.outcome == "error"]
        summary = "; ".join(
            f"{a.model}: {a.error_class or 'skipped'}{' (' + a.detail + ')' if a.detail and a.outcome == 'skipped' else ''}"
            for a in attempts
        )
        if last is not None and not last.retryable:
            return AllModelsFailed(attempts, last.status, last.code, f"{last.hint}: {last.message}")
        if len(called) == 1 and len(attempts) == 1 and last is None:
            only = called[0]
            _, status, code, hint = classify(only.error_class or "")
            return AllModelsFailed(attempts, status, code, f"{hint} ({only.model})")
        return AllModelsFailed(attempts, 503, "all_models_failed",
                               f"no model could answer this request; tried: {summary or 'none available'}")
