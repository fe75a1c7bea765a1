"""Failover drill through the HTTP app (the Starlette app `local.server` serves, driven by raw ASGI calls; the
simulated backend with injected faults, latency scale 0). Checks behaviour, not speed:

    python -m benchmarks.failover_drill [--requests 1000]

1. The primary of the `faq` route (claude-haiku) fails every call with a retryable error and its fallback is
   healthy: how many of N requests does a client see fail (buffered and streamed, both APIs), who answered, and
   how many calls still reach the sick model once its breaker is open?
2. Every model fails: the status, the error code, Retry-After, the attempts listed, and how long it took.
3. The circuit breaker on a fake clock: after how many requests does it open, how many requests reach the sick
   model during its cool-down (expected 0), and after the cool-down (expected: one probe, then open again).
Prints one table per scenario; exits 1 if a client saw an error in scenario 1 or the breaker misbehaved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from benchmarks._common import PROMPT, ROOT, percentile, quiet_stdout, table
from benchmarks.app_overhead import asgi_scope

ALL_MODELS = ("claude-haiku", "claude-sonnet", "claude-opus", "nova-pro", "nova-lite")
MESSAGES = [{"role": "user", "content": PROMPT}]
CASES: dict[str, tuple[str, dict]] = {
    "route": ("/v1/route", {"task": "faq", "messages": MESSAGES}),
    "route stream": ("/v1/route", {"task": "faq", "messages": MESSAGES, "stream": True}),
    "chat": ("/v1/chat/completions", {"model": "faq", "messages": MESSAGES}),
    "chat stream": ("/v1/chat/completions", {"model": "faq", "messages": MESSAGES, "stream": True}),
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def build(faults: str, clock: FakeClock | None = None):
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from local.server import build as build_local

    with quiet_stdout():
        app, service, backend = build_local(
            str(ROOT / "config" / "routing.json"), None, bedrock=False, faults=faults, latency_scale=0.0
        )
    if clock is not None:
        service.health._clock = clock
    return app, service, backend


async def _call(app, path: str, body: dict) -> tuple[int, dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    out: dict[str, Any] = {"status": 0, "headers": {}, "body": []}
    sent = [False]
    never = asyncio.Event()

    async def receive():
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await never.wait()

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            out["body"].append(message.get("body", b""))

    await app(asgi_scope(path, raw), receive, send)
    return out["status"], out["headers"], b"".join(out["body"])


def call(app, case: str) -> tuple[int, dict[str, str], bytes, float]:
    path, body = CASES[case]
    started = time.perf_counter()
    with quiet_stdout():
        status, headers, payload = asyncio.run(_call(app, path, body))
    return status, headers, payload, (time.perf_counter() - started) * 1000


def stream_failed(case: str, payload: bytes) -> bool:
    """A 200 stream that ended with an error event (after the first byte) is still a failure the client sees."""
    if case == "route stream":
        return b"event: error" in payload or b"event: done" not in payload
    if case == "chat stream":
        return b'data: {"error":' in payload or b"data: [DONE]" not in payload
    return False


def primary_failing(requests: int) -> list[list[object]]:
    rows = []
    for case in CASES:
        app, service, backend = build("claude-haiku=ModelNotReadyException:1.0")
        errors, latencies = 0, []
        answered: dict[str, int] = {}
        for _ in range(requests):
            status, headers, payload, ms = call(app, case)
            latencies.append(ms)
            if status != 200 or stream_failed(case, payload):
                errors += 1
            model = headers.get("x-router-model", "?")
            answered[model] = answered.get(model, 0) + 1
        sick = backend.calls.count("claude-haiku")
        rows.append(
            [
                case,
                requests,
                errors,
                ", ".join(f"{k} {v}" for k, v in sorted(answered.items())),
                sick,
                f"{percentile(latencies, 0.5):.2f}",
                f"{percentile(latencies, 0.99):.2f}",
            ]
        )
    return rows


def all_failing() -> list[list[object]]:
    rows = []
    for case in ("route", "chat", "chat stream"):
        app, _, _ = build(",".join(f"{m}=ServiceUnavailableException:1.0" for m in ALL_MODELS))
        status, headers, payload, ms = call(app, case)
        try:
            error = json.loads(payload)["error"]
        except (ValueError, KeyError):
            error = {"code": payload[:60].decode(errors="replace")}
        attempts = (error.get("details") or {}).get("attempts") or error.get("attempts") or []
        listed = ", ".join(f"{a.get('model')}:{a.get('outcome')}" for a in attempts) if attempts else "-"
        rows.append([case, status, error.get("code"), headers.get("retry-after", "-"), listed, f"{ms:.2f}"])
    return rows


def breaker(requests_during_cooldown: int) -> tuple[list[list[object]], bool]:
    clock = FakeClock()
    app, service, backend = build("claude-haiku=ThrottlingException:1.0", clock=clock)
    res = service.routing.get().value.config.resilience
    opened_after = None
    for i in range(1, 200):
        call(app, "route")
        clock.now += 0.1
        if "claude-haiku" in service.health.unavailable():
            opened_after = i
            break
    calls_at_open = backend.calls.count("claude-haiku")
    step = res.breaker_cooldown_s * 0.9 / requests_during_cooldown
    errors = 0
    for _ in range(requests_during_cooldown):
        status, _, _, _ = call(app, "route")
        errors += status != 200
        clock.now += step
    during = backend.calls.count("claude-haiku") - calls_at_open
    clock.now += res.breaker_cooldown_s
    for _ in range(10):
        status, _, _, _ = call(app, "route")
        errors += status != 200
    after = backend.calls.count("claude-haiku") - calls_at_open - during
    rows: list[list[object]] = [
        [
            "failure rate / min calls / window / cool-down",
            f"{res.breaker_failure_rate:g} / {res.breaker_min_calls} / {res.breaker_window_s:g} s / "
            f"{res.breaker_cooldown_s:g} s",
        ],
        ["opened after requests", opened_after],
        [f"requests during cool-down ({requests_during_cooldown})", f"{during} reached the sick model"],
        ["10 requests after cool-down", f"{after} reached the sick model (1 probe expected)"],
        ["client-visible errors in all of the above", errors],
    ]
    return rows, opened_after is not None and during == 0 and after == 1 and errors == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests per case in scenario 1")
    args = parser.parse_args(argv)
    rows1 = primary_failing(args.requests)
    print(
        table(
            "1. Primary (claude-haiku) fails every call, fallback healthy (latencies ms, in process)",
            ["case", "requests", "client errors", "answered by", "calls to sick model", "p50", "p99"],
            rows1,
        )
    )
    print()
    print(table("2. Every model fails", ["case", "status", "code", "retry-after", "attempts", "ms"], all_failing()))
    print()
    rows3, breaker_ok = breaker(200)
    print(table("3. Circuit breaker (fake clock)", ["what", "value"], rows3))
    ok = breaker_ok and all(row[2] == 0 for row in rows1)
    print(f"\ndrill: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
