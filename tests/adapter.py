"""What the AWS Lambda Web Adapter does, in process: an API Gateway REST proxy event in, an HTTP request to the
router's ASGI app out, and the response back in the proxy-integration shape.

The adapter passes API Gateway's request context (which carries the caller's identity) in the
`x-amzn-request-context` header and the Lambda context (with the invocation's deadline) in
`x-amzn-lambda-context`; so does this. Tests that send events go through the same identity and deadline code
the Lambda runs, and assert on status, headers and JSON body as before.
"""

from __future__ import annotations

import base64
import json
import time

from starlette.testclient import TestClient

from router.http.app import create_app

_current: dict = {}


def serve(service, *, identity: str = "apigateway", keepalive_s: float = 15.0) -> TestClient:
    """Make `service` the one `lambda_handler` sends to (the router_service fixture calls this)."""
    client = TestClient(create_app(service, identity=identity, keepalive_s=keepalive_s), raise_server_exceptions=True)
    _current["client"] = client
    _current["service"] = service
    return client


def reset() -> None:
    client = _current.pop("client", None)
    _current.pop("service", None)
    if client is not None:
        client.close()


def lambda_handler(event: dict, context) -> dict:
    """The Lambda invocation as the adapter performs it, against the app of the current service."""
    client: TestClient = _current["client"]
    body = event.get("body")
    content = (
        base64.b64decode(body)
        if body is not None and event.get("isBase64Encoded")
        else (body.encode("utf-8", "surrogatepass") if isinstance(body, str) else b"")
    )
    headers = {k: v for k, v in (event.get("headers") or {}).items()}
    headers["x-amzn-request-context"] = json.dumps(event.get("requestContext") or {})
    remaining = context.get_remaining_time_in_millis() if context is not None else 29_000
    headers["x-amzn-lambda-context"] = json.dumps(
        {
            "request_id": getattr(context, "aws_request_id", "test"),
            "deadline": int(time.time() * 1000) + remaining,
            "invoked_function_arn": getattr(context, "invoked_function_arn", ""),
        }
    )
    response = client.request(event["httpMethod"], event["path"], content=content, headers=headers)
    return {"statusCode": response.status_code, "headers": dict(response.headers), "body": response.text}
