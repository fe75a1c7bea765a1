"""The router's HTTP surface: one Starlette (ASGI) app for both homes.

In Lambda it runs under uvicorn behind the AWS Lambda Web Adapter (response-stream mode), which passes API
Gateway's request context (caller identity, request id) and the invocation's deadline in headers
(router.http.context). Locally (`make local`) the very same app runs under uvicorn with the simulated backend.
`create_app(service)` builds it around an injected `RouterService`; `create_app_from_env()` is the zero-argument
factory uvicorn calls.

A chat request reads one way: its body is read up to the size limit, its API module (a `WireFormat`: route_api,
openai_api, anthropic_api) parses it, `parsing.check_request` checks what every API shares, the `RouterService`
serves it, the API module renders the answer or its stream; `observability.log_request` writes the request's
line. Blocking work (configuration fetches, Bedrock calls) runs in worker threads, one hop per request.

Every response that is an error, from any endpoint (404, 405 and a bug's 500 included), carries the request's id in
its body and its `x-request-id` header, and writes the request's log line, so it counts in `RequestErrors`.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import time
from collections.abc import Awaitable, Callable, Iterator

import anyio.to_thread
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from router import observability as obs
from router.chat import ChatRequest
from router.failures import FailureKind, RouterFailure, invalid
from router.http import anthropic_api, errors, openai_api, route_api
from router.http.context import IDENTITIES, CallContext, Identity
from router.http.parsing import body_too_large, check_request, decode_body, dumps
from router.http.sse import relay
from router.http.wire import WireFormat, conversation_header
from router.result import RouteResult
from router.sampling import Ticket
from router.service import RouterService
from router.settings import RouterSettings
from router.streaming import AnswerStream
from routing_engine.config.limits import MAX_BODY_BYTES

JSON = "application/json"
# The chat APIs, by path: a new API is one module implementing WireFormat and one line here.
CHAT_APIS: dict[str, WireFormat] = {
    "/v1/route": route_api,
    "/v1/chat/completions": openai_api,
    "/v1/messages": anthropic_api,
}
COUNT_TOKENS = "/v1/messages/count_tokens"  # the Anthropic API's token counting, beside its chat path
DEFAULT_WIRE: WireFormat = openai_api  # the error shape of the endpoints that are not a chat API
ENDPOINTS = ", ".join(
    [
        *(f"POST {path}" for path in CHAT_APIS),
        f"POST {COUNT_TOKENS}",
        "GET /v1/models",
        "GET /v1/models/{model}",
        "GET /v1/usage",
        "GET /v1/health",
    ]
)
NO_API = "none"  # the log line's `api` for a request no endpoint took (404, 405)

# An endpoint as the app calls it: the request, its call context (id, caller, deadline) and when it started.
Endpoint = Callable[[Request, CallContext, float], Awaitable[Response]]


def create_app(
    service: RouterService,
    *,
    identity: Identity = "apigateway",
    keepalive_s: float = 15.0,
    freeze_after_first_answer: bool = False,
) -> Starlette:
    """`identity`: who a caller is: API Gateway's request context (behind the Lambda Web Adapter) or the key the
    client sends (local mode). `keepalive_s`: the longest silence in a stream before a comment line keeps it open.
    `freeze_after_first_answer`: once the first request that called a model has ended, move every object alive then
    (boto3's service model and client, the configuration, the modules) out of the cyclic collector's reach
    (`gc.freeze`), for a long-lived server process (see `tune_gc`)."""
    if identity not in IDENTITIES:
        raise ValueError(f"identity must be one of {', '.join(IDENTITIES)}, not {identity!r}")
    endpoints = _Endpoints(service, IDENTITIES[identity], keepalive_s, freeze_after_first_answer)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        # Lambda sends SIGTERM before it shuts an environment down (the Web Adapter registers an extension, which
        # turns graceful shutdown on); uvicorn then ends the lifespan: give label samples still waiting a moment.
        await anyio.to_thread.run_sync(service.sampler.flush)

    guarded = endpoints.guarded
    app = Starlette(
        lifespan=lifespan,
        routes=[
            *(
                Route(path, guarded(endpoints.chat(wire), wire.API_NAME, wire), methods=["POST"])
                for path, wire in CHAT_APIS.items()
            ),
            Route(COUNT_TOKENS, guarded(endpoints.count_tokens, "count_tokens", anthropic_api), methods=["POST"]),
            Route("/v1/models", guarded(endpoints.models, "models"), methods=["GET"]),
            Route("/v1/models/{model:path}", guarded(endpoints.model, "models"), methods=["GET"]),
            Route("/v1/usage", guarded(endpoints.usage, "usage"), methods=["GET"]),
            Route("/v1/health", guarded(endpoints.health, "health"), methods=["GET"]),
            Route("/ready", guarded(endpoints.ready, "ready"), methods=["GET"]),
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
    app = create_app(
        wiring.service_from_settings(settings),
        identity="apigateway" if settings.in_lambda else "api_key_header",
        freeze_after_first_answer=True,
    )
    tune_gc()
    return app


# Allocations (net of frees) between two young-generation collections; CPython's default is 700.
GC_GEN0_THRESHOLD = 10_000


def tune_gc() -> None:
    """The cyclic garbage collector for a server process (docs/decisions.md, issue 18; `python -m
    benchmarks.server_gc`). What is alive once the app is built (the modules, the configuration's models;
    `freeze_after_first_answer` adds boto3's client and service model) is frozen out of its reach: a warm process
    tracked ~70,000 objects, and the full collection that walked them, about twice per 1,000 requests under load,
    paused the request that met it (140 ms at load 5). The young generation is collected every 10,000 net allocations
    instead of 700: a request leaves almost no cyclic garbage (a botocore response parser, a few objects), but the
    objects of requests in flight counted against the default threshold, so it collected every 5-25 requests and
    promoted what was in flight towards those full collections."""
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type=JSON, headers=headers)


def _model_object(name: str, kind: str) -> dict:
    """A name a caller may use, as OpenAI's model object (with what kind of name it is)."""
    return {"id": name, "object": "model", "created": 0, "owned_by": "model-router", "kind": kind}


def _released(ticket: Ticket | None) -> Callable[[], Awaitable[None]]:
    async def release() -> None:  # inline on the event loop, after the response's last byte was sent
        if ticket is not None:
            ticket.release()

    return release


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (BODY_TOO_LARGE) as soon as it is known to be over `limit` bytes: by its Content-Length
    before a byte is read, else while it arrives, so an oversized body is never held whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise body_too_large(int(declared), limit)
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise body_too_large(None, limit)
    return bytes(received)


class _Endpoints:
    def __init__(
        self,
        service: RouterService,
        context_of: Callable[[Request], CallContext],
        keepalive_s: float,
        freeze_after_first_answer: bool = False,
    ):
        self.service = service
        self.context_of = context_of
        self.keepalive_s = keepalive_s
        self._to_freeze = freeze_after_first_answer

    def guarded(self, endpoint: Endpoint, api: str, wire: WireFormat = DEFAULT_WIRE) -> Callable:
        """`endpoint` with its call context, and the last line of defence: a bug is a JSON 500 in `wire`'s error
        shape, with the request's id, logged with its stack and counted like any failed request."""

        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            started = time.perf_counter()
            ctx = self.context_of(request)
            try:
                return await endpoint(request, ctx, started)
            except Exception:  # noqa: BLE001 - turned into a JSON 500 and logged with its stack
                obs.logger.exception("unhandled error", extra={"path": request.url.path, "request_id": ctx.request_id})
                failure = RouterFailure(
                    FailureKind.INTERNAL,
                    "internal_error",
                    f"the router hit an unexpected error; it has been logged under request id {ctx.request_id}",
                )
                return self._fail(api, wire, failure, ctx, started)

        return wrapper

    def _fail(
        self,
        api: str,
        wire: WireFormat,
        failure: RouterFailure,
        ctx: CallContext,
        started: float,
        chat: ChatRequest | None = None,
        *,
        disconnected: bool = False,
    ) -> Response:
        """An error response, and the request's log line that counts it."""
        self._record(api, ctx, started, chat, None, failure, wire=wire, disconnected=disconnected)
        return self._error(wire, failure, ctx)

    # --- chat ----------------------------------------------------------------------------------

    def chat(self, wire: WireFormat) -> Endpoint:
        """The endpoint of one chat API."""

        async def endpoint(request: Request, ctx: CallContext, started: float) -> Response:
            raw = await self._body(request, wire.API_NAME, wire, ctx, started)
            if isinstance(raw, Response):
                return raw
            outcome = await anyio.to_thread.run_sync(self._handle, wire, raw, ctx, started)
            if isinstance(outcome, Response):
                return outcome
            chat, answer = outcome
            return self._stream_response(wire, chat, answer, ctx, started)

        return endpoint

    async def _body(
        self, request: Request, api: str, wire: WireFormat, ctx: CallContext, started: float
    ) -> bytes | Response:
        """The request's body up to the size limit, or the error response (logged) when it is too large or the
        client gave up while sending it."""
        try:
            return await read_body(request, self._body_limit())
        except RouterFailure as failure:
            return self._fail(api, wire, failure, ctx, started)
        except ClientDisconnect:  # the client gave up while sending its body: nobody is left to read this
            gone = invalid("client_disconnected", "the client closed the connection while sending its body")
            return self._fail(api, wire, gone, ctx, started, disconnected=True)

    def _body_limit(self) -> int:
        """The size limit of the configuration last served (read without fetching: this runs on the event loop),
        else the largest any configuration may set; the request's own configuration checks it again."""
        snap = self.service.routing.current
        return snap.value.config.limits.max_body_bytes if snap is not None else MAX_BODY_BYTES

    def _handle(self, wire: WireFormat, raw: bytes, ctx: CallContext, started: float):
        """Everything blocking, in one worker thread: configuration, parse, decide, the model call (buffered) or
        opening the stream up to its first content (streamed)."""
        with obs.traced(f"## {wire.API_NAME}", ctx.trace_id):
            return self._handle_traced(wire, raw, ctx, started)

    def _handle_traced(
        self, wire: WireFormat, raw: bytes, ctx: CallContext, started: float
    ) -> Response | tuple[ChatRequest, AnswerStream]:
        svc = self.service
        chat: ChatRequest | None = None
        try:
            snap = svc.snapshot()
            limits = snap.value.config.limits
            chat = check_request(wire.parse(decode_body(raw, limits.max_body_bytes), max_messages=limits.max_messages))
            caller, request_id, remaining_s = ctx.caller, ctx.request_id, ctx.remaining_s()
            if chat.stream and not chat.dry_run:
                stream = svc.open_stream(
                    chat, caller=caller, request_id=request_id, remaining_s=remaining_s, snapshot=snap
                )
                return chat, stream
            result = svc.complete(chat, caller=caller, request_id=request_id, remaining_s=remaining_s, snapshot=snap)
        except RouterFailure as failure:
            return self._fail(wire.API_NAME, wire, failure, ctx, started, chat)
        if chat.stream:  # a dry run a streaming client asked for: the decision, as a stream
            self._record(wire.API_NAME, ctx, started, chat, result, None, wire=wire)
            frames = wire.dry_run_frames(chat, result, request_id=ctx.request_id, backend=svc.backend)
            return Response(
                b"".join(frames),
                media_type="text/event-stream",
                headers={**self._routing_headers(wire, result, ctx), "cache-control": "no-cache"},
            )
        body = wire.render(chat, result, request_id=ctx.request_id, backend=svc.backend)
        self._record(wire.API_NAME, ctx, started, chat, result, None, wire=wire)
        response = _json(200, body, self._routing_headers(wire, result, ctx))
        ticket = result.label_sample
        if ticket is not None and ticket.job is not None:
            # a sampled answer's message is built and sent only once this response's last byte is out
            response.background = BackgroundTask(_released(ticket))
        return response

    def _stream_response(
        self, wire: WireFormat, chat: ChatRequest, answer: AnswerStream, ctx: CallContext, started: float
    ) -> StreamingResponse:
        result = answer.result
        frames = wire.stream_frames(
            answer.events(), chat, result, request_id=ctx.request_id, backend=self.service.backend
        )
        state = {"ended": False}

        def tracked() -> Iterator[bytes]:
            yield from frames
            state["ended"] = True

        def on_close() -> None:
            answer.close(completed=state["ended"])
            self._record(
                wire.API_NAME, ctx, started, chat, result, answer.failure, wire=wire, disconnected=not state["ended"]
            )

        async def release() -> None:  # after the stream's last byte: the sender may build the sample now
            await _released(result.label_sample)()

        headers = {**self._routing_headers(wire, result, ctx), "cache-control": "no-cache", "x-accel-buffering": "no"}
        return StreamingResponse(
            relay(tracked(), keepalive_s=self.keepalive_s, on_close=on_close),
            media_type="text/event-stream",
            headers=headers,
            background=BackgroundTask(release) if answer.drawn else None,  # only a drawn stream may hand a sample
        )

    def _record(
        self,
        api: str,
        ctx: CallContext,
        started: float,
        chat: ChatRequest | None,
        result: RouteResult | None,
        failure: RouterFailure | None,
        *,
        wire: WireFormat = DEFAULT_WIRE,
        disconnected: bool = False,
    ) -> None:
        if self._to_freeze and result is not None and result.attempts:
            # the first request that called a model has loaded boto3, built its client and read the service model
            self._to_freeze = False
            gc.freeze()
        obs.log_request(
            api,
            request_id=ctx.request_id,
            caller=ctx.caller,
            status=wire.status_of(failure) if failure is not None else 200,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            chat=chat,
            result=result,
            failure=failure,
            disconnected=disconnected,
        )

    def _error(self, wire: WireFormat, failure: RouterFailure, ctx: CallContext) -> Response:
        return _json(
            wire.status_of(failure),
            wire.error_body(failure, ctx.request_id),
            {**errors.headers_of(failure), "x-request-id": ctx.request_id, wire.REQUEST_ID_HEADER: ctx.request_id},
        )

    def _routing_headers(self, wire: WireFormat, result: RouteResult, ctx: CallContext) -> dict[str, str]:
        headers = {
            "x-router-route": result.decision.route,
            "x-router-model": result.model,
            "x-router-config-version": result.config_version,
            "x-router-backend": self.service.backend,
            "x-request-id": ctx.request_id,
            wire.REQUEST_ID_HEADER: ctx.request_id,
        }
        conversation = conversation_header(result)
        if conversation is not None:
            headers["x-router-conversation"] = conversation
        return headers

    # --- Anthropic's token counting -------------------------------------------------------------

    async def count_tokens(self, request: Request, ctx: CallContext, started: float) -> Response:
        """POST /v1/messages/count_tokens: the request's input tokens for the model its name resolves to (Bedrock's
        CountTokens where that model can count, else the router's estimate, as the answer says). No model is called
        and no budget is spent: a count writes a debug line, and only a refused count writes a request line."""
        raw = await self._body(request, "count_tokens", anthropic_api, ctx, started)
        if isinstance(raw, Response):
            return raw

        def count():
            limits = self.service.snapshot().value.config.limits
            chat = anthropic_api.parse_count(decode_body(raw, limits.max_body_bytes), max_messages=limits.max_messages)
            return self.service.count_tokens(check_request(chat))

        try:
            counted = await anyio.to_thread.run_sync(count)
        except RouterFailure as failure:
            return self._fail("count_tokens", anthropic_api, failure, ctx, started)
        obs.logger.debug("count_tokens", extra={"request_id": ctx.request_id, **counted._asdict()})
        headers = {
            "x-router-route": counted.route,
            "x-router-model": counted.model,
            "x-router-config-version": counted.config_version,
            "x-request-id": ctx.request_id,
            anthropic_api.REQUEST_ID_HEADER: ctx.request_id,
        }
        return _json(200, anthropic_api.render_count(counted), headers)

    # --- usage, catalog and health --------------------------------------------------------------

    async def usage(self, _request: Request, ctx: CallContext, started: float) -> Response:
        """The caller's own spend and budgets. Who the caller is comes only from the call's identity (API Gateway's
        context, or the local key header): no query parameter or body can name another caller. A request without
        identity is served under the default tier, so it is shown that tier's budget (`own` is null)."""
        try:
            body = await anyio.to_thread.run_sync(self.service.usage, ctx.caller)
        except RouterFailure as failure:
            return self._fail("usage", DEFAULT_WIRE, failure, ctx, started)
        return _json(200, body, {"x-request-id": ctx.request_id, "cache-control": "no-store"})

    async def models(self, _request: Request, ctx: CallContext, started: float) -> Response:
        try:
            snap = await anyio.to_thread.run_sync(self.service.snapshot)
        except RouterFailure as failure:
            return self._fail("models", DEFAULT_WIRE, failure, ctx, started)
        data = [_model_object(name, kind) for name, kind in snap.value.callable_names()]
        return _json(
            200,
            {"object": "list", "data": data},
            {"x-router-config-version": snap.version, "x-request-id": ctx.request_id},
        )

    async def model(self, request: Request, ctx: CallContext, started: float) -> Response:
        """GET /v1/models/{model} (the openai SDK's models.retrieve): one of the names GET /v1/models lists, or a
        404 in OpenAI's `model_not_found` shape."""
        name = request.path_params["model"]
        try:
            snap = await anyio.to_thread.run_sync(self.service.snapshot)
        except RouterFailure as failure:
            return self._fail("models", DEFAULT_WIRE, failure, ctx, started)
        kind = dict(snap.value.callable_names()).get(name)
        if kind is None:
            unknown = RouterFailure(
                FailureKind.UNKNOWN_ROUTE,
                "model_not_found",
                f"The model `{name}` does not exist or you do not have access to it.",
                param="model",
            )
            return self._fail("models", DEFAULT_WIRE, unknown, ctx, started)
        return _json(
            200, _model_object(name, kind), {"x-router-config-version": snap.version, "x-request-id": ctx.request_id}
        )

    async def health(self, _request: Request, ctx: CallContext, started: float) -> Response:
        try:
            body, version = await anyio.to_thread.run_sync(self.service.health_report)
        except RouterFailure as failure:
            return self._fail("health", DEFAULT_WIRE, failure, ctx, started)
        return _json(200, body, {"x-router-config-version": version, "x-request-id": ctx.request_id})

    async def ready(self, _request: Request, _ctx: CallContext, _started: float) -> Response:
        """For the Lambda Web Adapter's readiness check: the app is up; it loads no configuration."""
        return _json(200, {"status": "ready"})

    async def http_exception(self, request: Request, exc: Exception) -> Response:
        """No endpoint took the request: a 404 (no such path) or a 405 (a known path, another method)."""
        started = time.perf_counter()
        status = getattr(exc, "status_code", 404)
        kind = FailureKind.METHOD_NOT_ALLOWED if status == 405 else FailureKind.NO_SUCH_ENDPOINT
        failure = RouterFailure(
            kind,
            "method_not_allowed" if status == 405 else "not_found",
            f"no endpoint {request.method} {request.url.path[:200]}; try {ENDPOINTS}",
        )
        return self._fail(NO_API, DEFAULT_WIRE, failure, self.context_of(request), started)
