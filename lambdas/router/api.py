"""HTTP surface of the router: our JSON API and the OpenAI-compatible one, on Powertools' REST resolver."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit

from router import observability as obs
from router.adapters.config_store import ConfigUnavailable
from router.requests import ApiError, ChatRequest, parse_openai_body, parse_route_body
from router.service import RouteResult, RouterService
from routing_engine.engine import RoutingError

app = APIGatewayRestResolver()

_service: RouterService | None = None
_service_factory: Callable[[], RouterService] | None = None

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}
OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                      404: "not_found_error", 413: "invalid_request_error", 422: "invalid_request_error",
                      429: "rate_limit_error"}


def use_service(service: RouterService | None = None, *, factory: Callable[[], RouterService] | None = None) -> None:
    """Inject the service (tests, local server) or a factory for it (the Lambda: built on first request)."""
    global _service, _service_factory
    _service = service
    if factory is not None:
        _service_factory = factory


def service() -> RouterService:
    global _service
    if _service is None:
        if _service_factory is None:
            raise ConfigUnavailable("the router is not wired to a configuration source")
        _service = _service_factory()
    return _service


# --- endpoints -------------------------------------------------------------------------------


@app.post("/v1/route")
def route_endpoint():
    return _serve("route", parse_route_body, _route_body)


@app.post("/v1/chat/completions")
def chat_completions_endpoint():
    return _serve("openai", parse_openai_body, _openai_body)


@app.get("/v1/models")
def models_endpoint():
    svc = service()
    snap = svc.snapshot()
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "model-router", "kind": kind}
        for name, kind in snap.value.callable_names()
    ]
    return _json(200, {"object": "list", "data": data}, {"x-router-config-version": snap.version})


@app.get("/v1/health")
def health_endpoint():
    svc = service()
    snap = svc.snapshot()
    health = svc.current_health()
    seen = svc.health.snapshot()
    models = {
        key: {
            "model_id": spec.model_id,
            "available": key not in health.unavailable,
            **({"reason": health.unavailable[key]} if key in health.unavailable else {}),
            **({"observed": seen[key]} if key in seen else {}),
        }
        for key, spec in snap.value.config.models.items()
    }
    body = {
        "status": "ok" if not health.unavailable else ("degraded" if len(health.unavailable) < len(models)
                                                         else "unavailable"),
        "config_version": snap.version,
        "config_label": snap.value.config.version,
        "config_source": snap.source,
        "backend": svc.backend,
        "routes": {name: {"mode": r.mode, "model": r.model} for name, r in snap.value.config.routes.items()},
        "models": models,
    }
    return _json(200, body, {"x-router-config-version": snap.version})


@app.not_found
def not_found(_: NotFoundError):
    event = app.current_event
    return _error_response(ApiError(404, "not_found", f"no endpoint {event.http_method} {event.path}; "
                                    "try POST /v1/route, POST /v1/chat/completions, GET /v1/models, GET /v1/health"))


@app.exception_handler(ConfigUnavailable)
def config_unavailable(exc: ConfigUnavailable):
    obs.logger.error("no routing configuration available", extra={"error": str(exc)})
    return _error_response(ApiError(503, "config_unavailable", str(exc)))


@app.exception_handler(Exception)
def unexpected(exc: Exception):
    # The last line of defence: a bug must still produce a JSON error, logged with its stack.
    obs.logger.exception("unhandled error")
    obs.metrics.add_metric(name="RequestErrors", unit=MetricUnit.Count, value=1)
    return _error_response(ApiError(500, "internal_error", "the router hit an unexpected error; it has been logged"))


# --- the request path --------------------------------------------------------------------------


def _serve(api: str, parse, render) -> Response:
    started = time.perf_counter()
    event = app.current_event
    svc = service()
    snap = svc.snapshot()
    result: RouteResult | None = None
    request: ChatRequest | None = None
    try:
        body = _body(event.body, event.is_base64_encoded, snap.value.config.limits.max_body_bytes)
        request = parse(body, max_messages=snap.value.config.limits.max_messages)
        result = svc.handle(request, caller=_caller(event), remaining_ms=_remaining_ms(), snapshot=snap)
    except (ApiError, RoutingError) as exc:
        error = exc if isinstance(exc, ApiError) else ApiError(exc.status, exc.code, exc.message, details=exc.details)
        _observe(api, request, None, error, started, getattr(exc, "attempts", None))
        return _error_response(error)
    _observe(api, request, result, None, started, None)
    return render(request, result)


def _body(raw: str | None, is_base64: bool, limit: int) -> str | bytes:
    if raw is None:
        raise ApiError(400, "invalid_json", "the request body is empty; send a JSON object")
    # The limit is in bytes: a str body of multi-byte UTF-8 characters is larger than its len().
    size = len(raw) * 3 // 4 if is_base64 else len(raw.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ApiError(413, "body_too_large", f"the request body is {size} bytes; the limit is {limit}")
    if is_base64:
        try:
            return base64.b64decode(raw)
        except ValueError:
            raise ApiError(400, "invalid_json", "the request body is not valid base64") from None
    return raw


def _caller(event) -> str | None:
    """The caller's identity as API Gateway authenticated it: the API key id, or the IAM principal."""
    identity = event.get("requestContext", {}).get("identity") or {}
    return identity.get("apiKeyId") or identity.get("userArn") or None


def _remaining_ms():
    context = app.lambda_context
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter if callable(getter) else None


def _routing(result: RouteResult) -> dict:
    d = result.decision
    out = {
        "route": d.route,
        "model": result.answered_by or d.model,
        "model_id": result.answered_model_id or d.model_id,
        "mode": d.mode,
        "rule": d.rule,
        "reason": d.reason,
        "config_version": result.config_version,
        "tier": result.tier,
    }
    if d.is_prompt_router:
        out["prompt_router"] = d.model
    if result.attempts and (len(result.attempts) > 1 or result.attempts[0].outcome != "ok"):
        out["fallback"] = True
        out["attempts"] = [a.as_dict() for a in result.attempts]
    if d.shadow is not None:
        out["shadow"] = d.shadow
    return out


def _headers(result: RouteResult) -> dict[str, str]:
    return {
        "x-router-route": result.decision.route,
        "x-router-model": result.answered_by or result.decision.model,
        "x-router-config-version": result.config_version,
        "x-router-backend": service().backend,
    }


def _dry_run_body(result: RouteResult) -> dict:
    return {
        "dry_run": True,
        "routing": _routing(result),
        "estimated_cost_usd": result.decision.estimated_cost_usd,
        "decision": result.decision.trace,
        "backend": service().backend,
    }


def _route_body(request: ChatRequest, result: RouteResult) -> Response:
    if request.dry_run:
        return _json(200, _dry_run_body(result), _headers(result))
    reply = result.reply
    assert reply is not None
    body = {
        "id": _request_id(),
        "output": {"role": "assistant", "content": reply.text},
        "stop_reason": reply.stop_reason,
        "routing": _routing(result),
        "usage": {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        },
        "cost": {"estimated_usd": _round_cost(result.cost_usd), "currency": "USD"},
        "latency_ms": {"total": round(result.latency_ms, 1), "model": round(reply.latency_ms, 1)},
        "backend": service().backend,
    }
    return _json(200, body, _headers(result))


def _openai_body(request: ChatRequest, result: RouteResult) -> Response:
    reply = result.reply
    assert reply is not None
    message: dict = {"role": "assistant", "content": reply.text or None}
    tool_calls = [
        {
            "id": block["toolUse"]["toolUseId"],
            "type": "function",
            "function": {"name": block["toolUse"]["name"], "arguments": json.dumps(block["toolUse"].get("input", {}))},
        }
        for block in reply.content
        if "toolUse" in block
    ]
    if tool_calls:
        message["tool_calls"] = tool_calls
    elif message["content"] is None:
        message["content"] = ""
    body = {
        "id": f"chatcmpl-{_request_id()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.name,
        "system_fingerprint": result.config_version,
        "choices": [
            {"index": 0, "message": message, "finish_reason": FINISH_REASONS.get(reply.stop_reason, "stop"),
             "logprobs": None}
        ],
        "usage": {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        },
        "x_router": {**_routing(result), "estimated_cost_usd": _round_cost(result.cost_usd),
                     "backend": service().backend},
    }
    return _json(200, body, _headers(result))


def _round_cost(value: float | None) -> float | None:
    return None if value is None else round(value, 8)


def _request_id() -> str:
    context = app.lambda_context
    rid = getattr(context, "aws_request_id", None)
    if rid:
        return str(rid)
    return str(app.current_event.get("requestContext", {}).get("requestId") or "local")


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type="application/json",
                    body=json.dumps(body, separators=(",", ":"), default=str), headers=headers)


def _error_response(error: ApiError) -> Response:
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "type": OPENAI_ERROR_TYPES.get(error.status, "api_error" if error.status >= 500 else "invalid_request_error"),
            "param": error.param,
            **({"details": error.details} if error.details else {}),
        },
        "request_id": _request_id(),
    }
    headers = {"Retry-After": "1"} if error.status in (429, 503) else None
    return _json(error.status, body, headers)


# --- one log line and the metrics per request -----------------------------------------------------


def _observe(api: str, request: ChatRequest | None, result: RouteResult | None, error: ApiError | None,
             started: float, failed_attempts) -> None:
    """One log line and one EMF document per request (plus one per failed model call, off the happy path)."""
    elapsed = (time.perf_counter() - started) * 1000
    attempts = result.attempts if result is not None else (failed_attempts or [])
    line: dict = {"api": api, "status": 200 if error is None else error.status, "latency_ms": round(elapsed, 2)}
    if request is not None:
        line["requested"] = request.name
        if request.dry_run:
            line["dry_run"] = True
    if result is not None:
        d = result.decision
        line.update(route=d.route, model=result.answered_by or d.model, mode=d.mode, rule=d.rule,
                    reason=d.reason, config_version=result.config_version, config_source=result.config_source,
                    tier=result.tier, features=result.features)
        if result.answered_by is not None and result.answered_by != d.model:
            line["chosen"] = d.model
        if d.shadow is not None:
            line["shadow"] = d.shadow
    # The log line stays short on the happy path (every field costs time); any failure lists every attempt.
    if attempts and (len(attempts) > 1 or attempts[0].outcome != "ok"):
        line["attempts"] = [a.as_dict() for a in attempts]
    route = result.decision.route if result is not None else "none"
    model = (result.answered_by or result.decision.model) if result is not None else "none"
    m = obs.metrics
    m.add_dimension("Route", route)
    m.add_dimension("Model", model)
    m.add_dimensions(service=obs.SERVICE, Route=route)
    m.add_dimensions(service=obs.SERVICE, Model=model)
    for attempt in attempts:
        if attempt.outcome == "ok":  # the answering call shares the request's document: Model is its model
            obs.add_attempt_metrics(m, error_class=None, retryable=True, latency_ms=attempt.latency_ms)
        elif attempt.outcome == "error":
            obs.model_attempt(attempt.model, error_class=attempt.error_class, retryable=attempt.retryable,
                              latency_ms=attempt.latency_ms)
    if error is not None:
        line["error_code"] = error.code
        m.add_dimensions(service=obs.SERVICE, ErrorCode=error.code)
        m.add_metric(name="RequestErrors", unit=MetricUnit.Count, value=1)
        obs.logger.info("request failed", extra=line)
        return
    assert result is not None
    m.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    m.add_metric(name="RequestLatency", unit=MetricUnit.Milliseconds, value=elapsed)
    reply = result.reply
    if reply is not None:
        line.update(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens,
                    model_latency_ms=round(reply.latency_ms, 1), cost_usd=_round_cost(result.cost_usd))
        m.add_metric(name="InputTokens", unit=MetricUnit.Count, value=reply.input_tokens)
        m.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=reply.output_tokens)
        if result.cost_usd is not None:
            m.add_metric(name="EstimatedCostUSD", unit=MetricUnit.NoUnit, value=result.cost_usd)
        if result.fell_back:
            m.add_metric(name="Fallbacks", unit=MetricUnit.Count, value=1)
    shadow = result.decision.shadow
    if shadow is not None:
        m.add_metric(name="ShadowAgreement", unit=MetricUnit.Count, value=1 if shadow.get("agrees") else 0)
        if shadow.get("estimated_cost_usd") is not None:
            served_cost = result.decision.estimated_cost_usd or 0.0
            m.add_metric(name="ShadowCostDeltaUSD", unit=MetricUnit.NoUnit,
                         value=shadow["estimated_cost_usd"] - served_cost)
    obs.logger.info("request routed", extra=line)
