"""Why a request could not be served, in the core's own terms: a kind, never an HTTP status.

The HTTP layer owns the one table that turns a kind into a status, an error code default,
an OpenAI error type and a `Retry-After` (router.http.errors). The routing engine raises
`RoutingError`s that carry the same kinds; the Bedrock adapter classifies each Converse error
into a kind as well. Nothing below the HTTP layer knows about HTTP.
"""

from __future__ import annotations

from routing_engine.failures import FailureKind


class RouterFailure(Exception):
    """A request the core could not serve. `code` is machine-readable; `retry_after_s` is the real wait, if any."""

    def __init__(
        self,
        kind: FailureKind,
        code: str,
        message: str,
        *,
        details: dict | None = None,
        param: str | None = None,
        retry_after_s: float | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.details = details or {}
        self.param = param
        self.retry_after_s = retry_after_s
        self.log: dict = {}  # facts for the request's log line only (budget state, spend-store errors): never sent
        self.attempts: list = []  # the model calls tried (router.result.Attempt), for the log line and metrics


def invalid(code: str, message: str, *, param: str | None = None, details: dict | None = None) -> RouterFailure:
    """The common case: a 4xx-class refusal of what the caller sent."""
    return RouterFailure(FailureKind.INVALID_REQUEST, code, message, param=param, details=details)
