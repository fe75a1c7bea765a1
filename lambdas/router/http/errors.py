"""The one table from a failure's kind to what HTTP says about it.

Status, OpenAI error type, Anthropic error type (and the status the Anthropic API gives it, where that differs: 529
for an overloaded model) and whether to send `Retry-After` live here and nowhere else. The code in the body is
the failure's own (`model_throttled`, `all_models_failed`, ...); the `Retry-After` value is the failure's real
wait (a breaker's remaining cool-down) when it has one, else the kind's default.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from router.failures import FailureKind as K
from router.failures import RouterFailure


class HttpError(NamedTuple):
    status: int
    openai_type: str
    retry_after_s: float | None  # default Retry-After for this kind; None: send none
    anthropic_type: str = "api_error"  # the Anthropic Messages API's error type (docs.claude.com/en/api/errors)
    anthropic_status: int | None = None  # the Anthropic API's status, where it differs from `status`


TABLE: dict[K, HttpError] = {
    K.INVALID_REQUEST: HttpError(400, "invalid_request_error", None, "invalid_request_error"),
    K.BODY_TOO_LARGE: HttpError(413, "invalid_request_error", None, "request_too_large"),
    K.UNKNOWN_ROUTE: HttpError(404, "invalid_request_error", None, "not_found_error"),
    K.UNSUPPORTED: HttpError(400, "invalid_request_error", None, "invalid_request_error"),
    K.RISK_REJECTED: HttpError(403, "permission_error", None, "permission_error"),
    K.NO_CAPABLE_MODEL: HttpError(422, "invalid_request_error", None, "invalid_request_error"),
    K.MODEL_REJECTED: HttpError(400, "invalid_request_error", None, "invalid_request_error"),
    K.MODEL_ACCESS_DENIED: HttpError(502, "api_error", None),
    K.THROTTLED: HttpError(429, "rate_limit_error", 1.0, "rate_limit_error"),
    # its own wait: until the spent period resets
    K.BUDGET_EXCEEDED: HttpError(429, "rate_limit_error", 60.0, "rate_limit_error"),
    K.UNAVAILABLE: HttpError(503, "api_error", 1.0, "overloaded_error", 529),  # 529: Anthropic's "overloaded"
    K.TIMEOUT: HttpError(504, "api_error", None),
    K.MODEL_FAILED: HttpError(502, "api_error", None),
    K.CONFIG_UNAVAILABLE: HttpError(503, "api_error", 5.0),
    K.NO_SUCH_ENDPOINT: HttpError(404, "invalid_request_error", None, "not_found_error"),
    K.METHOD_NOT_ALLOWED: HttpError(405, "invalid_request_error", None, "invalid_request_error"),
    K.INTERNAL: HttpError(500, "api_error", None),
}


def status_of(failure: RouterFailure) -> int:
    return TABLE[failure.kind].status


def openai_type(failure: RouterFailure) -> str:
    return TABLE[failure.kind].openai_type


def anthropic_type(failure: RouterFailure) -> str:
    return TABLE[failure.kind].anthropic_type


def anthropic_status(failure: RouterFailure) -> int:
    row = TABLE[failure.kind]
    return row.anthropic_status or row.status


def headers_of(failure: RouterFailure) -> dict[str, str]:
    default = TABLE[failure.kind].retry_after_s
    if default is None:
        return {}
    wait = failure.retry_after_s if failure.retry_after_s is not None else default
    return {"retry-after": str(max(1, math.ceil(wait)))}
