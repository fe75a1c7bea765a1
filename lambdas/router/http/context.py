"""Who is calling, and how long this invocation may run: a request's `CallContext`.

Behind the Lambda Web Adapter, API Gateway's request context and the Lambda context arrive as headers the adapter
sets itself; locally (and on hosts without API Gateway in front) the key the client sends names the caller.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request


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


Identity = Literal["apigateway", "api_key_header"]
IDENTITIES: dict[str, Callable[[Request], CallContext]] = {
    "apigateway": apigateway_context,
    "api_key_header": api_key_header_context,
}
