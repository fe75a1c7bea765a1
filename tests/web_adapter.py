"""HTTP to the router's app as the AWS Lambda Web Adapter sends it in Lambda, in process.

Behind API Gateway (REST, Lambda proxy integration) the adapter turns each invocation back into the caller's own
HTTP request (method, path, query, headers, body: base64 bodies already decoded) and sends it to the app on
127.0.0.1:$AWS_LWA_PORT, adding two headers it sets itself, replacing any a client sent:

- `x-amzn-request-context`: API Gateway's request context, as JSON. For a REST API it is lambda_http's
  `RequestContext::ApiGatewayV1` (an untagged enum), i.e. aws_lambda_events' `ApiGatewayProxyRequestContext`
  serialized by serde: camelCase keys (`accountId`, `requestId`, `resourcePath`, `httpMethod`,
  `requestTimeEpoch`, `apiId`, ...), absent optional fields as null, `authorizer` left out when empty and
  `operationName` when absent; the caller in `identity` (`apiKeyId`, `userArn`, `sourceIp`, ..., camelCase too).
- `x-amzn-lambda-context`: lambda_runtime's `Context`, as JSON, snake_case: `request_id`, `deadline` (the
  invocation's deadline in epoch milliseconds), `invoked_function_arn`, `xray_trace_id`, `client_context`,
  `identity`, `env_config` (`function_name`, `memory`, `version`, `log_stream`, `log_group`), and `tenant_id`
  (lambda_runtime 1.x, which the adapter builds on).

Checked in the source: awslabs/aws-lambda-web-adapter `src/lib.rs`, `fetch_response` (it inserts both headers
with `serde_json::to_string(&request_context)` and `serde_json::to_string(&lambda_context)`); the structs in
awslabs/aws-lambda-rust-runtime, `lambda-http/src/request.rs` (`RequestContext`),
`lambda-events/src/event/apigw/mod.rs` (`ApiGatewayProxyRequestContext`, `ApiGatewayRequestIdentity`) and
`lambda-runtime/src/types.rs` (`Context`). The adapter's own guide reads `deadline_ms` in an example; the field
is `deadline`.

So the handler tests send HTTP to the ASGI app with these two headers: no API Gateway event, and no helper that
converts one back to HTTP, a path production never runs.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from starlette.testclient import TestClient

API_ID = "abc123"
API_HOST = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
STAGE = "prod"
ACCOUNT_ID = "123456789012"
FUNCTION_NAME = "model-router"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{FUNCTION_NAME}"
SOURCE_IP = "203.0.113.7"
DEFAULT_KEY_ID = "test-key-id"


def request_context(
    method: str,
    path: str,
    *,
    api_key_id: str | None = DEFAULT_KEY_ID,
    user_arn: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """`x-amzn-request-context` for a REST API request: the caller is the API key id (api_key auth) or the IAM
    principal (iam auth) API Gateway authenticated."""
    return {
        "accountId": ACCOUNT_ID,
        "resourceId": "r1",
        "stage": STAGE,
        "domainName": API_HOST,
        "domainPrefix": API_ID,
        "requestId": request_id or str(uuid.uuid4()),
        "protocol": "HTTP/1.1",
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "apiKey": None,
            "apiKeyId": api_key_id,
            "accessKey": None,
            "sourceIp": SOURCE_IP,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": user_arn,
            "userAgent": "pytest",
            "user": None,
        },
        "resourcePath": path.split("?", 1)[0],
        "path": f"/{STAGE}{path.split('?', 1)[0]}",
        "httpMethod": method,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "requestTimeEpoch": int(time.time() * 1000),
        "apiId": API_ID,
    }


def lambda_context(*, remaining_ms: int = 29_000, request_id: str | None = None) -> dict[str, Any]:
    """`x-amzn-lambda-context`: the invocation's id and deadline (now plus `remaining_ms`)."""
    return {
        "request_id": request_id or str(uuid.uuid4()),
        "deadline": int(time.time() * 1000) + remaining_ms,
        "invoked_function_arn": FUNCTION_ARN,
        "xray_trace_id": None,
        "client_context": None,
        "identity": None,
        "env_config": {
            "function_name": FUNCTION_NAME,
            "memory": 1024,
            "version": "$LATEST",
            "log_stream": "2026/01/01/[$LATEST]0123456789abcdef",
            "log_group": f"/aws/lambda/{FUNCTION_NAME}",
        },
        "tenant_id": None,
    }


class WebAdapter:
    """Sends requests to the app of the service it serves, with the headers API Gateway and the adapter add.

    `request(method, path, body=None, *, api_key_id=..., user_arn=None, request_id=None, headers=None,
    remaining_ms=29_000)` returns the app's `httpx.Response`. `body`: a dict or list is sent as JSON, a str as
    UTF-8 (lone surrogates kept, as a client could send them), bytes as they are.
    """

    def __init__(self) -> None:
        self._client: TestClient | None = None

    def serve(self, service: Any, *, identity: str = "apigateway", keepalive_s: float = 15.0) -> None:
        """Serve `service` from now on (the router_service fixture calls this for every service it builds)."""
        from router.http.app import create_app

        self.close()
        app = create_app(service, identity=identity, keepalive_s=keepalive_s)
        self._client = TestClient(app, base_url="http://127.0.0.1:8080", raise_server_exceptions=True)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        api_key_id: str | None = DEFAULT_KEY_ID,
        user_arn: str | None = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
        remaining_ms: int = 29_000,
    ) -> httpx.Response:
        if self._client is None:
            raise RuntimeError("no service to send to: build one with the router_service fixture first")
        sent = {
            "content-type": "application/json",
            "host": API_HOST,
            "user-agent": "pytest",
            "x-forwarded-proto": "https",
            **(headers or {}),
            "x-amzn-request-context": json.dumps(
                request_context(method, path, api_key_id=api_key_id, user_arn=user_arn, request_id=request_id)
            ),
            "x-amzn-lambda-context": json.dumps(lambda_context(remaining_ms=remaining_ms)),
        }
        return self._client.request(method, path, content=_content(body), headers=sent)

    def post(self, path: str, body: Any = None, **options: Any) -> httpx.Response:
        return self.request("POST", path, body, **options)

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _content(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    return json.dumps(body).encode()
