"""Handler overhead per request and import time, measured the way the issue states its targets.

    python -m benchmarks.handler_overhead [--requests 5000] [--imports 7]

- Overhead: `router.handler.lambda_handler` on API Gateway events for POST /v1/route (static route
  `faq`) and POST /v1/chat/completions, with a zero-latency fake Converse client, Powertools Logger
  and Metrics on (their output goes to /dev/null). Reports p50/p99 in milliseconds.
- Import: median over fresh interpreters of `import router.handler` and of `import boto3`, and of
  the cold path to a first answer (import + first request, configuration load included).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"

FAKE_RESPONSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
    "metrics": {"latencyMs": 0},
}


class ZeroLatencyBedrock:
    def converse(self, **request):
        return FAKE_RESPONSE


def event(path: str, body: dict) -> dict:
    return {
        "resource": path, "path": path, "httpMethod": "POST", "headers": {"content-type": "application/json"},
        "multiValueHeaders": {}, "queryStringParameters": None, "pathParameters": None, "stageVariables": None,
        "body": json.dumps(body), "isBase64Encoded": False,
        "requestContext": {"requestId": "bench", "stage": "bench", "resourcePath": path, "httpMethod": "POST",
                           "identity": {"apiKeyId": "bench-key", "sourceIp": "127.0.0.1"}},
    }


class Context:
    function_name = "bench"
    function_version = "1"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self):
        return 28_000


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def _quiet_stdout():
    """Send fd 1 to /dev/null: Powertools' handlers hold the original sys.stdout, so redirect_stdout is not enough."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


def measure_overhead(requests: int) -> dict:
    sys.path.insert(0, str(LAMBDAS))
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ["ROUTER_CONFIG_FILE"] = str(ROOT / "config" / "routing.json")
    from router import api, wiring
    from router.handler import lambda_handler

    client = ZeroLatencyBedrock()
    service = wiring.service_from_env(client_factory=lambda region, timeout: client, backend="bench")
    api.use_service(service)
    cases = {
        "route_static": event("/v1/route", {"task": "faq", "messages": [
            {"role": "user", "content": "What are your opening hours on public holidays?"}]}),
        "openai_static": event("/v1/chat/completions", {"model": "faq", "messages": [
            {"role": "user", "content": "What are your opening hours on public holidays?"}]}),
        "route_dynamic": event("/v1/route", {"task": "auto", "messages": [
            {"role": "user", "content": "What are your opening hours on public holidays?"}]}),
    }
    out = {}
    ctx = Context()
    with _quiet_stdout():
        for name, ev in cases.items():
            for _ in range(200):  # warm-up: caches, first config load, branch paths
                lambda_handler(ev, ctx)
            samples = []
            for _ in range(requests):
                t = time.perf_counter_ns()
                response = lambda_handler(ev, ctx)
                samples.append((time.perf_counter_ns() - t) / 1e6)
                if response["statusCode"] != 200:
                    raise SystemExit(f"{name}: unexpected status {response['statusCode']}: {response['body']}")
            out[name] = {"p50_ms": round(percentile(samples, 0.50), 4), "p99_ms": round(percentile(samples, 0.99), 4),
                         "requests": requests}
    return out


IMPORT_SNIPPET = "import time,sys; t=time.perf_counter(); import {mod}; print((time.perf_counter()-t)*1000)"
COLD_SNIPPET = """
import time, sys, json, contextlib, os
t = time.perf_counter()
import router.handler as h
from router import api, wiring
from benchmarks.handler_overhead import ZeroLatencyBedrock, event, Context
c = ZeroLatencyBedrock()
api.use_service(wiring.service_from_env(client_factory=lambda r, s: c, backend="bench"))
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
    r = h.lambda_handler(event("/v1/route", {"task": "faq", "prompt": "hi"}), Context())
assert r["statusCode"] == 200, r
print((time.perf_counter() - t) * 1000)
"""


def run_python(code: str) -> float:
    # The Lambda's own environment (set by the stack): Powertools names, pydantic plugins off.
    env = {**os.environ, "PYTHONPATH": f"{LAMBDAS}{os.pathsep}{ROOT}", "POWERTOOLS_TRACE_DISABLED": "false",
           "ROUTER_CONFIG_FILE": str(ROOT / "config" / "routing.json"), "PYDANTIC_DISABLE_PLUGINS": "__all__",
           "POWERTOOLS_SERVICE_NAME": "model-router", "POWERTOOLS_METRICS_NAMESPACE": "ModelRouter"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def measure_imports(runs: int) -> dict:
    run_python(IMPORT_SNIPPET.format(mod="router.handler"))  # compile .pyc files once
    handler, boto3, cold = [], [], []
    for _ in range(runs):  # interleaved, so machine noise hits both alike
        boto3.append(run_python(IMPORT_SNIPPET.format(mod="boto3")))
        handler.append(run_python(IMPORT_SNIPPET.format(mod="router.handler")))
        cold.append(run_python(COLD_SNIPPET))
    h, b = statistics.median(handler), statistics.median(boto3)
    return {"import_handler_ms": round(h, 1), "import_boto3_ms": round(b, 1), "ratio": round(h / b, 2),
            "cold_first_response_ms": round(statistics.median(cold), 1), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--imports", type=int, default=7)
    args = parser.parse_args(argv)
    result = {"overhead": measure_overhead(args.requests), "imports": measure_imports(args.imports),
              "targets": {"p50_ms": 0.5, "p99_ms": 2.0, "import_ratio": 1.5}}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
