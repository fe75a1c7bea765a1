"""Why a request could not be served, in the core's own terms: a kind, never an HTTP status.

One enum for the whole request path: the routing engine's RoutingErrors carry a kind, the router's own
failures (router.failures.RouterFailure) and the Bedrock adapter's error classification use the same kinds,
and the HTTP layer owns the one table that turns a kind into a status, an error type and a `Retry-After`
(router.http.errors). Nothing below the HTTP layer knows about HTTP.
"""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    INVALID_REQUEST = "invalid_request"  # the caller sent something we cannot accept
    BODY_TOO_LARGE = "body_too_large"
    UNKNOWN_ROUTE = "unknown_route"  # no route, alias or model by that name
    UNSUPPORTED = "unsupported"  # a feature the chosen model cannot do (e.g. structured output without tools)
    RISK_REJECTED = "risk_rejected"
    NO_CAPABLE_MODEL = "no_capable_model"
    MODEL_REJECTED = "model_rejected"  # the model refused the request as invalid (Converse ValidationException)
    MODEL_ACCESS_DENIED = "model_access_denied"
    THROTTLED = "throttled"
    BUDGET_EXCEEDED = "budget_exceeded"  # the caller's or its tier's budget for the day or month is spent
    UNAVAILABLE = "unavailable"  # every model is down, open or out of attempts
    TIMEOUT = "timeout"
    MODEL_FAILED = "model_failed"  # the model or Bedrock broke
    CONFIG_UNAVAILABLE = "config_unavailable"
    NO_SUCH_ENDPOINT = "no_such_endpoint"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL = "internal"
