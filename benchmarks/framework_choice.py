"""Starlette or FastAPI for the router's ASGI app: import time and per-request overhead, measured the same way.

    python -m benchmarks.framework_choice [--rounds 5] [--requests 5000]

Import: median over fresh interpreters of importing each framework's application class (plus what a JSON
POST endpoint needs), interleaved, against `import boto3` in the same run. Overhead: the same JSON POST
endpoint (read the body, answer a small JSON object) driven by raw ASGI calls in process (no client, no
network), so only the framework's own routing, request and response code is timed. Rounds interleave the two.
FastAPI is measured with a plain Starlette-style endpoint (`request: Request`, the cheapest it offers) and with
a pydantic body model (the way FastAPI is usually written).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

IMPORTS = {
    "starlette": "from starlette.applications import Starlette; from starlette.responses import Response",
    "fastapi": "from fastapi import FastAPI, Request; from fastapi.responses import Response",
    "boto3": "import boto3",
}
BODY = json.dumps({"model": "faq", "messages": [{"role": "user", "content": "What is S3?"}]}).encode()


def import_ms(snippet: str) -> float:
    code = f"import time; t = time.perf_counter(); {snippet}; print((time.perf_counter() - t) * 1000)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def starlette_app():
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request):
        data = json.loads(await request.body())
        return Response(json.dumps({"ok": data["model"]}), media_type="application/json")

    return Starlette(routes=[Route("/v1/chat/completions", endpoint, methods=["POST"])])


def fastapi_plain_app():
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/v1/chat/completions")
    async def endpoint(request: Request):
        data = json.loads(await request.body())
        return Response(json.dumps({"ok": data["model"]}), media_type="application/json")

    return app


def fastapi_model_app():
    from fastapi import FastAPI
    from pydantic import BaseModel

    class Body(BaseModel):
        model: str
        messages: list[dict]

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/v1/chat/completions")
    async def endpoint(body: Body):
        return {"ok": body.model}

    return app


async def drive(app, n: int) -> list[float]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    out = []
    for _ in range(n):
        sent = False

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": BODY, "more_body": False}
            await asyncio.sleep(3600)

        async def send(message):
            pass

        t = time.perf_counter()
        await app(dict(scope), receive, send)
        out.append((time.perf_counter() - t) * 1e6)
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args(argv)

    for snippet in IMPORTS.values():  # compile .pyc files once
        import_ms(snippet)
    imports: dict[str, list[float]] = {k: [] for k in IMPORTS}
    for _ in range(max(args.rounds, 5)):
        for name, snippet in IMPORTS.items():
            imports[name].append(import_ms(snippet))
    print("import time, median of fresh interpreters (ms):")
    for name, values in imports.items():
        print(f"  {name:10s} {statistics.median(values):7.1f}  (min {min(values):.1f}, max {max(values):.1f})")
    print(
        f"  ratio fastapi/starlette: {statistics.median(imports['fastapi']) / statistics.median(imports['starlette']):.2f}"
    )

    apps = {
        "starlette": starlette_app(),
        "fastapi (Request)": fastapi_plain_app(),
        "fastapi (pydantic body)": fastapi_model_app(),
    }
    samples: dict[str, list[float]] = {k: [] for k in apps}
    loop = asyncio.new_event_loop()
    for app in apps.values():
        loop.run_until_complete(drive(app, 200))  # warm up
    for _ in range(args.rounds):
        for name, app in apps.items():
            samples[name] += loop.run_until_complete(drive(app, args.requests))
    print(f"per-request overhead, raw ASGI in process, {args.rounds} interleaved rounds x {args.requests} (µs):")
    base = statistics.median(samples["starlette"])
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"  {name:24s} p50 {med:6.1f}  p99 {pct(values, 0.99):6.1f}  ratio to starlette {med / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
