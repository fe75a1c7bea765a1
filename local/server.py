"""Run the router on this machine: a real HTTP server in front of the real Lambda handler.

Each HTTP request becomes an API Gateway REST proxy event for `router.handler.lambda_handler`.
Routing configuration comes from a file in the repository (reloaded when it changes; an invalid
edit is rejected and the last good one kept). Models are SIMULATED unless --bedrock is given.

    python -m local.server [--port 8080] [--config config/routing.json] [--flags FILE] [--bedrock]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambdas"))

MAX_BODY = 12 * 1024 * 1024  # above API Gateway's 10 MB: the router's own limit answers first
LAMBDA_TIMEOUT_MS = 29_000
LOCAL_PROMPT_ROUTER_ARN = "arn:aws:bedrock:us-east-1:000000000000:prompt-router/local-simulated"


class LocalContext:
    """The parts of the Lambda context object the handler and Powertools read."""

    function_name = "model-router-local"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:model-router-local"
    log_group_name = "local"
    log_stream_name = "local"

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + LAMBDA_TIMEOUT_MS / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def to_event(method: str, raw_path: str, headers: dict[str, str], body: bytes | None) -> dict:
    path, _, query = raw_path.partition("?")
    params = {}
    for pair in filter(None, query.split("&")):
        k, _, v = pair.partition("=")
        params[k] = v
    lower = {k.lower(): v for k, v in headers.items()}
    key = lower.get("x-api-key")
    auth = lower.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()  # the openai client sends its api_key this way
    text, is_b64 = None, False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode(), True
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": params or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in params.items()} or None,
        "pathParameters": None,
        "stageVariables": None,
        "body": text,
        "isBase64Encoded": is_b64,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "local",
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/local{path}",
            # Locally the key's value stands in for API Gateway's key id, so `callers` can map it to a tier.
            "identity": {"apiKeyId": key, "sourceIp": "127.0.0.1", "userAgent": lower.get("user-agent")},
        },
    }


def make_handler_class(invoke):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "model-router-local"

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, {"content-type": "application/json"},
                            json.dumps({"error": {"code": "body_too_large",
                                                  "message": f"the body is over {MAX_BODY} bytes"}}).encode())
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else None
            event = to_event(self.command, self.path, dict(self.headers.items()), body)
            result = invoke(event)
            headers = dict(result.get("headers") or {})
            for k, values in (result.get("multiValueHeaders") or {}).items():
                headers[k] = ", ".join(values)
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
            self._reply(result.get("statusCode", 500), headers, data)

        def _reply(self, status: int, headers: dict, data: bytes):
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() not in ("content-length", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, fmt, *args):  # the handler already logs one JSON line per request
            pass

    return Handler


def build(config_file: str, flags_file: str | None, *, bedrock: bool, faults: str | None, latency_scale: float):
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "model-router")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ModelRouter")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from local.simulated_backend import SimulatedBedrock, parse_faults, simulated_client_factory
    from router import api, wiring
    from router.handler import lambda_handler
    from router.observability import metrics

    from routing_engine.config import parse_routing_config

    try:  # say exactly what is wrong with the file before serving anything
        parse_routing_config(Path(config_file).read_bytes())
    except OSError as exc:
        raise RuntimeError(f"cannot read the routing configuration {config_file}: {exc.strerror}") from None
    except ValueError as exc:
        raise RuntimeError(f"invalid routing configuration {config_file}: {exc}") from None
    env = {**os.environ, "ROUTER_CONFIG_FILE": config_file}
    if flags_file:
        env["ROUTER_FLAGS_FILE"] = flags_file
    if bedrock:
        service = wiring.service_from_env(env=env)
        backend = None
    else:
        # Prompt routers without their own ARN use the stack's; locally the simulated backend plays that router.
        env.setdefault("PROMPT_ROUTER_ARN", LOCAL_PROMPT_ROUTER_ARN)
        holder: dict = {}
        backend = SimulatedBedrock(lambda: holder["service"].routing.get().value.config,
                                   faults=parse_faults(faults), latency_scale=latency_scale)
        service = wiring.service_from_env(env=env, client_factory=simulated_client_factory(backend),
                                          backend="simulated")
        holder["service"] = service
    service.routing.get()  # load (and validate) the configuration before the first request
    api.use_service(service)
    lock = threading.Lock()  # Powertools' resolver keeps the current event on a module-level app

    def invoke(event):
        with lock:
            try:
                return lambda_handler(event, LocalContext())
            finally:
                metrics.clear_metrics()  # with metrics disabled Powertools does not flush, so nothing clears them

    return invoke, service, backend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--config", default=os.environ.get("ROUTER_CONFIG_FILE", str(ROOT / "config/routing.json")))
    parser.add_argument("--flags", default=os.environ.get("LOCAL_FLAGS_FILE", str(ROOT / "config/local-flags.json")),
                        help="failover flags file, reloaded like the routing file (absent = no flags)")
    parser.add_argument("--bedrock", action="store_true", help="call real Amazon Bedrock (needs AWS credentials)")
    parser.add_argument("--latency-scale", type=float, default=float(os.environ.get("LOCAL_LATENCY_SCALE", "1")),
                        help="multiply the simulated models' latency (0 = instant)")
    args = parser.parse_args(argv)
    try:
        invoke, service, backend = build(args.config, args.flags, bedrock=args.bedrock,
                                         faults=os.environ.get("LOCAL_FAULTS"), latency_scale=args.latency_scale)
    except Exception as exc:  # a bad config file or LOCAL_FAULTS: say what, do not show a traceback
        print(f"model-router: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        server = ThreadingHTTPServer((args.host, args.port), make_handler_class(invoke))
    except OSError as exc:  # most often: the port is taken
        print(f"model-router: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    snap = service.routing.get()
    mode = "REAL Amazon Bedrock" if args.bedrock else "SIMULATED models (answers are not from real models)"
    print(f"model-router local mode on http://{args.host}:{server.server_address[1]}", file=sys.stderr)
    print(f"  backend: {mode}", file=sys.stderr)
    print(f"  config:  {args.config} (version {snap.version}, reloaded on change)", file=sys.stderr)
    print(f"  flags:   {args.flags}", file=sys.stderr)
    if backend is not None and backend.faults:
        print(f"  faults:  {os.environ.get('LOCAL_FAULTS')}", file=sys.stderr)
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
