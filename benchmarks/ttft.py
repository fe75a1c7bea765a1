"""Added time to first token: what the router adds to the backend's own first-token delay, streamed.

    python -m benchmarks.ttft [--rounds 3] [--requests 100] [--delay-ms 20]

The simulated backend is told to hold its first token for exactly D ms (LOCAL_FAULTS
`claude-haiku=first_token_latency:D`, latency scale 0 otherwise: no other sleeping), and the client measures the
time from sending the request to receiving the first frame that carries content (the first `delta.content` chunk
on /v1/chat/completions, the first `event: delta` on /v1/route). Added TTFT = client-observed TTFT - D. The
backend's own wait (threading.Event.wait) overshoots D by a few tens of microseconds; that is counted against us.

- In process: raw ASGI calls into the app `local.server` serves (no sockets).
- Over HTTP: `python -m local.server --latency-scale 0` with that fault, a lean keep-alive client on 127.0.0.1.
Requests go one at a time; the cases are interleaved request by request; the table shows the median over rounds of
each round's p50/p99 and their range. Target (issue 7): under 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from benchmarks._common import (
    PROMPT,
    ROOT,
    Connection,
    Server,
    bench_env,
    free_port,
    median,
    percentile,
    quiet_stdout,
    request_bytes,
    running,
    spread,
    table,
)
from benchmarks.app_overhead import asgi_call

MESSAGES = [{"role": "user", "content": PROMPT}]
CASES = {  # name: (path, body, marker of the first content frame)
    "chat stream": (
        "/v1/chat/completions",
        {"model": "faq", "messages": MESSAGES, "stream": True},
        b'"delta":{"content":',
    ),
    "route stream": ("/v1/route", {"task": "faq", "messages": MESSAGES, "stream": True}, b"event: delta"),
}
TARGET_MS = 2.0


def faults(delay_ms: float) -> str:
    return f"claude-haiku=first_token_latency:{delay_ms:g}"  # the faq route's model


def in_process(rounds: int, requests: int, delay_ms: float) -> dict[str, dict[str, list[float]]]:
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from local.server import build

    with quiet_stdout():
        app = build(
            str(ROOT / "config" / "routing.json"), None, bedrock=False, faults=faults(delay_ms), latency_scale=0.0
        )[0]
    cases = {name: (path, json.dumps(body).encode(), marker) for name, (path, body, marker) in CASES.items()}
    out: dict[str, dict[str, list[float]]] = {name: {"p50": [], "p99": []} for name in cases}

    async def run() -> None:
        for path, body, marker in cases.values():
            for _ in range(20):
                await asgi_call(app, path, body, marker)
        for r in range(rounds):
            samples: dict[str, list[float]] = {name: [] for name in cases}
            order = list(cases.items())[:: -1 if r % 2 else 1]
            for _ in range(requests):
                for name, (path, body, marker) in order:
                    status, first, _ = await asgi_call(app, path, body, marker)
                    if status != 200 or first is None:
                        raise SystemExit(f"in process {name}: status {status}, first content {first}")
                    samples[name].append(first * 1000 - delay_ms)
            for name, values in samples.items():
                out[name]["p50"].append(percentile(values, 0.5))
                out[name]["p99"].append(percentile(values, 0.99))

    with quiet_stdout():
        asyncio.run(run())
    return out


def over_http(rounds: int, requests: int, delay_ms: float) -> dict[str, dict[str, list[float]]]:
    port = free_port()
    server = Server(
        "router (local.server)",
        [sys.executable, "-m", "local.server", "--port", str(port), "--latency-scale", "0"],
        port,
        bench_env(LOCAL_FAULTS=faults(delay_ms)),
    )
    cases = {name: (request_bytes(path, body, port=port), marker) for name, (path, body, marker) in CASES.items()}
    out: dict[str, dict[str, list[float]]] = {name: {"p50": [], "p99": []} for name in cases}

    async def run() -> None:
        conn = await Connection.open(port)
        try:
            for raw, marker in cases.values():
                for _ in range(20):
                    await conn.request(raw, marker)
            for r in range(rounds):
                samples: dict[str, list[float]] = {name: [] for name in cases}
                order = list(cases.items())[:: -1 if r % 2 else 1]
                for _ in range(requests):
                    for name, (raw, marker) in order:
                        status, first, _ = await asyncio.wait_for(conn.request(raw, marker), 30)
                        if status != 200 or first is None:
                            raise SystemExit(f"over HTTP {name}: status {status}, first content {first}")
                        samples[name].append(first * 1000 - delay_ms)
                for name, values in samples.items():
                    out[name]["p50"].append(percentile(values, 0.5))
                    out[name]["p99"].append(percentile(values, 0.99))
        finally:
            conn.close()

    with running(server):
        server.wait_ready("/ready", timeout_s=60)
        asyncio.run(run())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="requests per case per round")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="the backend's own first-token delay D")
    args = parser.parse_args(argv)
    results = {
        "in process": in_process(args.rounds, args.requests, args.delay_ms),
        "over HTTP": over_http(args.rounds, args.requests, args.delay_ms),
    }
    rows = []
    for where, cases in results.items():
        for name, v in cases.items():
            p99 = median(v["p99"])
            rows.append(
                [
                    f"{where}: {name}",
                    f"{median(v['p50']):.3f}",
                    spread(v["p50"], 3),
                    f"{p99:.3f}",
                    spread(v["p99"], 3),
                    "met" if p99 < TARGET_MS else "MISSED",
                ]
            )
    print(
        table(
            f"Added time to first token (client-observed TTFT - backend's D={args.delay_ms:g} ms), ms; median of "
            f"{args.rounds} rounds x {args.requests} requests per case; target p99 < {TARGET_MS:g} ms",
            ["where: case", "p50", "p50 range", "p99", "p99 range", "target"],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
