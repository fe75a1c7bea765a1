"""The router's HTTP surface: one Starlette (ASGI) app for both homes.

In Lambda it runs under uvicorn behind the AWS Lambda Web Adapter (response-stream mode), which passes API
Gateway's request context (caller identity, request id) and the invocation's deadline in headers. Locally
(`make local`) the very same app runs under uvicorn with the simulated backend. `create_app(service)` builds it
around an injected `RouterService`; `create_app_from_env()` is the zero-argument factory uvicorn calls.

The request path reads one way: wire format in (route_api / openai_api), `RouterService` core, wire format out.
Blocking work (configuration fetches, Bedrock calls) runs in worker threads, one hop per request.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType

import anyio.to_thread
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from router import observability as obs
from router.chat import ChatRequest
from router.failures import FailureKind, RouterFailure
from router.http import errors, openai_api, route_api
from router.http.parsing import decode_body, dumps
from router.http.sse import relay
from router.sampling import Ticket
from router.service import AnswerStream, RouteResult, RouterService
from router.settings import RouterSettings
from routing_engine.engine import BUDGET_SOFT_RULE

JSON = "application/json"
ENDPOINTS = "POST /v1/route, POST /v1/chat/completions, GET /v1/models, GET /v1/usage, GET /v1/health"
MS, COUNT, NONE = obs.MS, obs.COUNT, obs.NONE


# --- who is calling, and how long this invocation may run -------------------------------------------


@dataclass(frozen=True, slots=True)
class CallContext:
    request_id: str
    caller: str | None
    deadline_epoch_s: float | None  # the Lambda invocation's deadline, if any
    trace_id: str | None = None  # X-Ray, behind the adapter

    def remaining_s(self) -> Callable[[], float] | None:
        if self.deadline_epoch_s is None:
            return None
        deadline = self.deadline_epoch_s
        return lambda: deadline - time.time()


def _json_header(request: Request, name: str) -> dict:
    raw = request.headers.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def apigateway_context(request: Request) -> CallContext:
    """Behind the Lambda Web Adapter: API Gateway's request context and the Lambda context arrive as JSON headers
    (the adapter sets them itself, replacing any a client sent). The caller is the API key id or the IAM
    principal API Gateway authenticated: never a value the client chose."""
    context = _json_header(request, "x-amzn-request-context")
    identity = context.get("identity") or {}
    lambda_context = _json_header(request, "x-amzn-lambda-context")
    deadline_ms = lambda_context.get("deadline") or lambda_context.get("deadline_ms")
    return CallContext(
        request_id=str(context.get("requestId") or lambda_context.get("request_id") or uuid.uuid4()),
        caller=identity.get("apiKeyId") or identity.get("userArn") or None,
        deadline_epoch_s=float(deadline_ms) / 1000 if isinstance(deadline_ms, (int, float)) else None,
        trace_id=lambda_context.get("xray_trace_id") or request.headers.get("x-amzn-trace-id"),
    )


def api_key_header_context(request: Request) -> CallContext:
    """Local mode (and hosts without API Gateway in front): the key the client sends names the caller, so
    `callers` in the routing configuration can map it to a tier. Never use this behind API Gateway."""
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()  # the openai SDK sends its api_key this way
    # A client's own well-formed x-request-id is kept (correlation in local mode and repeatable local runs);
    # behind API Gateway the id is always API Gateway's.
    given = request.headers.get("x-request-id", "")
    request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    return CallContext(request_id=request_id, caller=key or None, deadline_epoch_s=None)


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


IDENTITIES: dict[str, Callable[[Request], CallContext]] = {
    "apigateway": apigateway_context,
    "api_key_header": api_key_header_context,
}


# --- the app -------------------------------------------------------------------------------------


def create_app(service: RouterService, *, identity: str = "apigateway", keepalive_s: float = 15.0) -> Starlette:
    """`identity`: who a caller is: API Gateway's request context (behind the Lambda Web Adapter) or the key the
    client sends (local mode). `keepalive_s`: the longest silence in a stream before a comment line keeps it open."""
    if identity not in IDENTITIES:
        raise ValueError(f"identity must be one of {', '.join(IDENTITIES)}, not {identity!r}")
    endpoints = _Endpoints(service, IDENTITIES[identity], keepalive_s)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        # Lambda sends SIGTERM before it shuts an environment down (the Web Adapter registers an extension, which
        # turns graceful shutdown on); uvicorn then ends the lifespan: give label samples still waiting a moment.
        await anyio.to_thread.run_sync(service.sampler.flush)

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/v1/route", endpoints.route, methods=["POST"]),
            Route("/v1/chat/completions", endpoints.chat_completions, methods=["POST"]),
            Route("/v1/models", endpoints.models, methods=["GET"]),
            Route("/v1/usage", endpoints.usage, methods=["GET"]),
            Route("/v1/health", endpoints.health, methods=["GET"]),
            Route("/ready", endpoints.ready, methods=["GET"]),
        ],
        exception_handlers={HTTPException: endpoints.http_exception},
    )
    app.state.service = service
    return app


def create_app_from_env() -> Starlette:
    """uvicorn's factory (`--factory router.http.app:create_app_from_env`): the service wired from the environment
    (AppConfig and Bedrock in Lambda). In Lambda the caller comes from API Gateway's request context; elsewhere
    from the key the client sends."""
    from router import wiring

    settings = RouterSettings.from_env(os.environ)
    return create_app(
        wiring.service_from_settings(settings), identity="apigateway" if settings.in_lambda else "api_key_header"
    )


def _released(ticket: Ticket):
    async def release() -> None:  # inline on the event loop, after the response's last byte was sent
        ticket.release()

    return release


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type=JSON, headers=headers)


def _safely(endpoint):
    """The last line of defence: a bug still produces a JSON 500, logged with its stack."""

    @functools.wraps(endpoint)
    async def wrapper(self, request: Request) -> Response:
        try:
            return await endpoint(self, request)
        except Exception:  # noqa: BLE001 - turned into a JSON 500 and logged with its stack
            obs.logger.exception("unhandled error", extra={"path": request.url.path})
            failure = RouterFailure(
                FailureKind.INTERNAL, "internal_error", "the router hit an unexpected error; it has been logged"
            )
            return _json(500, openai_api.error_body(failure, "unknown"))

    return wrapper


class _Endpoints:
    def __init__(self, service: RouterService, context_of: Callable[[Request], CallContext], keepalive_s: float):
        self.service = service
        self.context_of = context_of
        self.keepalive_s = keepalive_s

    # --- chat ----------------------------------------------------------------------------------

    @_safely
    async def route(self, request: Request) -> Response:
        return await self._serve(request, route_api, "route")

    @_safely
    async def chat_completions(self, request: Request) -> Response:
        return await self._serve(request, openai_api, "openai")

    async def _serve(self, request: Request, wire: ModuleType, api: str) -> Response:
        started = time.perf_counter()
        ctx = self.context_of(request)
        try:
            raw = await request.body()
        except ClientDisconnect:  # the client gave up while sending its body: nobody is left to answer
            return Response(status_code=400)
        outcome = await anyio.to_thread.run_sync(self._handle, wire, api, raw, ctx, started)
        if isinstance(outcome, Response):
            return outcome
        chat, answer = outcome
        return self._stream_response(wire, api, chat, answer, ctx, started)

    def _handle(self, wire: ModuleType, api: str, raw: bytes, ctx: CallContext, started: float):
        """Everything blocking, in one worker thread: configuration, parse, decide, the model call (buffered) or
        opening the stream up to its first content (streamed)."""
        with obs.traced(f"## {api}", ctx.trace_id):
            return self._handle_traced(wire, api, raw, ctx, started)

    def _handle_traced(self, wire: ModuleType, api: str, raw: bytes, ctx: CallContext, started: float):
        svc = self.service
        chat: ChatRequest | None = None
        try:
            snap = svc.snapshot()
            limits = snap.value.config.limits
            chat = wire.parse(decode_body(raw, limits.max_body_bytes), max_messages=limits.max_messages)
            if chat.stream and not chat.dry_run:
                answer = svc.open_stream(chat, caller=ctx.caller, remaining_s=ctx.remaining_s(), snapshot=snap)
                return chat, answer
            result = svc.complete(chat, caller=ctx.caller, remaining_s=ctx.remaining_s(), snapshot=snap)
        except RouterFailure as failure:
            self._record(api, chat, None, failure, started, ctx)
            return self._error(wire, failure, ctx)
        if chat.stream:  # a dry run a streaming client asked for: the decision, as a stream
            self._record(api, chat, result, None, started, ctx)
            frames = wire.dry_run_frames(chat, result, request_id=ctx.request_id, backend=svc.backend)
            return Response(
                b"".join(frames),
                media_type="text/event-stream",
                headers={**self._routing_headers(result, ctx), "cache-control": "no-cache"},
            )
        body = wire.render(chat, result, request_id=ctx.request_id, backend=svc.backend)
        # The answer is ready: a sampled request is handed to the sender, which builds and sends its message only
        # once this response's last byte is out (released by the response's background step).
        ticket = None
        if result.reply is not None:
            ticket = svc.sampler.consider(
                snap.value, chat, result, request_id=ctx.request_id, answer_text=result.reply.text
            )
        self._record(api, chat, result, None, started, ctx, ticket=ticket)
        response = _json(200, body, self._routing_headers(result, ctx))
        if ticket is not None and ticket.job is not None:
            response.background = BackgroundTask(_released(ticket))
        return response

    def _stream_response(
        self, wire: ModuleType, api: str, chat: ChatRequest, answer: AnswerStream, ctx: CallContext, started: float
    ) -> StreamingResponse:
        result = answer.result
        frames = wire.stream_frames(
            answer.events(), chat, result, request_id=ctx.request_id, backend=self.service.backend
        )
        state = {"ended": False}
        sampler = self.service.sampler
        answer.keep_text = sampler.predraw(answer.engine, result)  # only a drawn stream keeps its answer's text
        tickets: list[Ticket] = []

        def tracked() -> Iterator[bytes]:
            yield from frames
            state["ended"] = True

        def on_close() -> None:
            answer.close()
            ticket = None
            if state["ended"] and answer.failure is None and result.reply is not None:  # after the last event
                ticket = sampler.consider(
                    answer.engine,
                    chat,
                    result,
                    request_id=ctx.request_id,
                    answer_text=answer.answer_text(),
                    drawn=answer.keep_text,
                )
                if ticket is not None:
                    tickets.append(ticket)
            self._record(
                api, chat, result, answer.failure, started, ctx, disconnected=not state["ended"], ticket=ticket
            )

        async def release() -> None:  # after the stream's last byte: the sender may build the sample now
            for ticket in tickets:
                ticket.release()

        headers = {**self._routing_headers(result, ctx), "cache-control": "no-cache", "x-accel-buffering": "no"}
        return StreamingResponse(
            relay(tracked(), keepalive_s=self.keepalive_s, on_close=on_close),
            media_type="text/event-stream",
            headers=headers,
            background=BackgroundTask(release) if sampler.enabled else None,
        )

    def _error(self, wire: ModuleType, failure: RouterFailure, ctx: CallContext) -> Response:
        return _json(
            errors.status_of(failure),
            wire.error_body(failure, ctx.request_id),
            {**errors.headers_of(failure), "x-request-id": ctx.request_id},
        )

    def _routing_headers(self, result: RouteResult, ctx: CallContext) -> dict[str, str]:
        return {
            "x-router-route": result.decision.route,
            "x-router-model": result.model,
            "x-router-config-version": result.config_version,
            "x-router-backend": self.service.backend,
            "x-request-id": ctx.request_id,
        }

    # --- one log line and metrics document per request --------------------------------------------

    def _record(
        self,
        api: str,
        chat: ChatRequest | None,
        result: RouteResult | None,
        failure: RouterFailure | None,
        started: float,
        ctx: CallContext,
        *,
        disconnected: bool = False,
        ticket: Ticket | None = None,
    ) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        status = errors.status_of(failure) if failure is not None else 200
        line: dict = {"api": api, "status": status, "latency_ms": round(elapsed, 2), "request_id": ctx.request_id}
        values: dict[str, tuple[str, float]] = {}
        if chat is not None:
            line["requested"] = chat.name
            if chat.max_tokens is not None:  # what the caller asked for: a replay re-decides with the same inputs
                line["max_tokens"] = chat.max_tokens
            if chat.max_cost_usd is not None:
                line["max_cost_usd"] = chat.max_cost_usd
            if chat.dry_run:
                line["dry_run"] = True
            if chat.stream:
                line["stream"] = True
        if ctx.caller is not None:
            line["caller"] = ctx.caller
        attempts = result.attempts if result is not None else failure.attempts if failure is not None else []
        if result is not None:
            d = result.decision
            line.update(
                route=d.route,
                model=result.model,
                mode=d.mode,
                rule=d.rule,
                reason=d.reason,
                config_version=result.config_version,
                config_source=result.config_source,
                tier=result.tier,
                features=result.features,
            )
            if d.scorer_version is not None:
                line["scorer_version"] = d.scorer_version
            if result.answered_by is not None and result.answered_by != d.model:
                line["chosen"] = d.model
            if d.shadow is not None:
                line["shadow"] = d.shadow
                values["ShadowAgreement"] = (COUNT, 1 if d.shadow.get("agrees") else 0)
                # like with like: the shadow model at the served answer's tokens, against the served answer's cost
                at_served = d.shadow.get("cost_usd_at_served_tokens")
                if at_served is not None and result.cost_usd is not None:
                    values["ShadowCostDeltaUSD"] = (NONE, at_served - result.cost_usd)
            if ticket is not None:
                line["label_sample"] = ticket.status
        failed_calls = []
        for a in attempts:
            if a.outcome == "ok":  # the answering call shares the request's document: Model is its model
                values.update(obs.attempt_values(error_class=None, retryable=True, latency_ms=a.latency_ms))
            elif a.outcome == "error":
                failed_calls.append(
                    (
                        a.model,
                        obs.attempt_values(error_class=a.error_class, retryable=a.retryable, latency_ms=a.latency_ms),
                    )
                )
        if len(attempts) > 1 or (attempts and attempts[0].outcome != "ok"):
            line["attempts"] = [a.as_dict() for a in attempts]
        # budgets: the state checked before the call, spend-table errors (served anyway: fail open), the action
        budget_log = result.log_fields() if result is not None else dict(failure.log) if failure is not None else {}
        if result is None and "tier" in budget_log:
            line["tier"] = budget_log.pop("tier")
        line.update(budget_log)
        spend_store_errors = budget_log.get("spend_store_errors") or 0
        if failure is not None and failure.kind is FailureKind.BUDGET_EXCEEDED:
            line["budget_action"] = "rejected"
            values["BudgetRejected"] = (COUNT, 1)
        if result is not None and result.decision.rule == BUDGET_SOFT_RULE:
            values["BudgetSoftLimited"] = (COUNT, 1)
        route = result.decision.route if result is not None else "none"
        model = result.model if result is not None else "none"
        if failure is not None:
            line["error_code"] = failure.code
            values["RequestErrors"] = (COUNT, 1)
        else:
            values["Requests"] = (COUNT, 1)
            values["RequestLatency"] = (MS, elapsed)
        if result is not None and result.reply is not None:
            reply, cost = result.reply, result.cost_usd
            line.update(
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                model_latency_ms=round(reply.latency_ms, 1),
                cost_usd=route_api.round_cost(cost),
            )
            values["InputTokens"] = (COUNT, reply.input_tokens)
            values["OutputTokens"] = (COUNT, reply.output_tokens)
            if cost is not None:
                values["EstimatedCostUSD"] = (NONE, cost)
        if result is not None and result.fell_back:
            values["Fallbacks"] = (COUNT, 1)
        if result is not None and result.streamed and result.ttft_ms is not None:
            line["ttft_ms"] = round(result.ttft_ms, 1)
            values["TimeToFirstToken"] = (MS, result.ttft_ms)
        if disconnected:
            line["client_disconnected"] = True
            values["ClientDisconnects"] = (COUNT, 1)
        obs.record_request(
            line,
            values,
            route=route,
            model=model,
            error_code=failure.code if failure is not None else None,
            failed_calls=failed_calls,
            spend_store_errors=spend_store_errors,
        )

    # --- usage, catalog and health --------------------------------------------------------------

    @_safely
    async def usage(self, request: Request) -> Response:
        """The caller's own spend and budgets. Who the caller is comes only from the call's identity (API Gateway's
        context, or the local key header): no query parameter or body can name another caller. A request without
        identity is served under the default tier, so it is shown that tier's budget (`own` is null)."""
        ctx = self.context_of(request)
        try:
            body = await anyio.to_thread.run_sync(self.service.usage, ctx.caller)
        except RouterFailure as failure:
            return self._error(openai_api, failure, ctx)
        return _json(200, body, {"x-request-id": ctx.request_id, "cache-control": "no-store"})

    @_safely
    async def models(self, request: Request) -> Response:
        try:
            snap = await anyio.to_thread.run_sync(self.service.snapshot)
        except RouterFailure as failure:
            return self._error(openai_api, failure, self.context_of(request))
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "model-router", "kind": kind}
            for name, kind in snap.value.callable_names()
        ]
        return _json(200, {"object": "list", "data": data}, {"x-router-config-version": snap.version})

    @_safely
    async def health(self, request: Request) -> Response:
        try:
            body, version = await anyio.to_thread.run_sync(self._health_body)
        except RouterFailure as failure:
            return self._error(openai_api, failure, self.context_of(request))
        return _json(200, body, {"x-router-config-version": version})

    def _health_body(self) -> tuple[dict, str]:
        svc = self.service
        snap = svc.snapshot()
        health = svc.current_health()
        seen = svc.observed()
        models = {
            key: {
                "model_id": spec.model_id,
                "available": key not in health.unavailable,
                **({"reason": health.unavailable[key]} if key in health.unavailable else {}),
                **({"observed": seen[key]} if key in seen else {}),
            }
            for key, spec in snap.value.config.models.items()
        }
        down = len(health.unavailable.keys() & models.keys())
        body = {
            "status": "ok" if not down else ("degraded" if down < len(models) else "unavailable"),
            "config_version": snap.version,
            "config_label": snap.value.config.version,
            "config_source": snap.source,
            "backend": svc.backend,
            "routes": {name: {"mode": r.mode, "model": r.model} for name, r in snap.value.config.routes.items()},
            "models": models,
            "budgets": svc.budgets.describe(snap.value.config),
        }
        return body, snap.version

    async def ready(self, request: Request) -> Response:
        """For the Lambda Web Adapter's readiness check: the app is up; it loads no configuration."""
        return _json(200, {"status": "ready"})

    async def http_exception(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        kind = FailureKind.METHOD_NOT_ALLOWED if status == 405 else FailureKind.NO_SUCH_ENDPOINT
        failure = RouterFailure(
            kind,
            "method_not_allowed" if status == 405 else "not_found",
            f"no endpoint {request.method} {request.url.path}; try {ENDPOINTS}",
        )
        return _json(errors.status_of(failure), openai_api.error_body(failure, "none"))
