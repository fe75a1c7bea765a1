"""Per-request overhead of the router's HTTP app with a zero-latency backend, in process and over HTTP, side by side
with LiteLLM's proxy (also an ASGI server) on the same machine, interleaved in one run.

    python -m benchmarks.app_overhead [--rounds 3] [--requests 1000] [--seq 200] [--seconds 3] [--no-litellm]

1. In process: the Starlette app that `local.server` serves (simulated backend, latency scale 0), driven by a raw
   ASGI call loop (no client, no sockets), Powertools Logger and metrics on, output to /dev/null. The cases are
   interleaved request by request: POST /v1/chat/completions buffered and streamed, POST /v1/route buffered and
   streamed. p50/p99 per round; the table shows the median over rounds and the range.
2. Over HTTP: `python -m local.server --latency-scale 0` (uvicorn, one process) and `litellm --config` with mock
   deployments (`mock_response`, LITELLM_LOCAL_MODEL_COST_MAP=True: no network call; one process, its default),
   both on 127.0.0.1, started together and measured in alternating order each round:
   - latency one request at a time (p50/p99) for each case;
   - throughput at 16 concurrent keep-alive connections for --seconds (requests/s, p99 under load).
   The ratios (ours / LiteLLM's throughput, LiteLLM's p99 / ours) are computed per round, then the median taken.
   Both answer with about the same text: LiteLLM's mock streams in 3-character chunks, so its mock answer is as
   many chunks as the simulated model's tokens (~40 content chunks each).
The load client is a lean raw-socket HTTP/1.1 client (benchmarks/_common.py) in this process; the servers run in
their own processes. Targets (issue 7): throughput at 16 connections >= 10x the proxy's, p99 <= 1/10 of its.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import (
    LITELLM_MASTER_KEY,
    PROMPT,
    ROOT,
    Server,
    bench_env,
    free_port,
    litellm_config,
    litellm_server,
    load,
    median,
    percentile,
    quiet_stdout,
    request_bytes,
    running,
    spread,
    table,
)

MESSAGES = [{"role": "user", "content": PROMPT}]
CASES: dict[str, tuple[str, dict]] = {  # name: (path, body)
    "chat": ("/v1/chat/completions", {"model": "faq", "messages": MESSAGES}),
    "chat stream": ("/v1/chat/completions", {"model": "faq", "messages": MESSAGES, "stream": True}),
    "route": ("/v1/route", {"task": "faq", "messages": MESSAGES}),
    "route stream": ("/v1/route", {"task": "faq", "messages": MESSAGES, "stream": True}),
}
LITELLM_CASES = ("chat", "chat stream")  # LiteLLM has no /v1/route
CONCURRENCY = 16
# 117 characters: LiteLLM's mock streams 3 characters a chunk, so 39 content chunks, as the simulated model's 39
# tokens for PROMPT.
MOCK_ANSWER = (
    "[SIMULATED] This is a mock answer from LiteLLM's proxy; no model was called. It is about as long as ours, ok."
)[:117].ljust(117, ".")


# --- in process --------------------------------------------------------------------------------------


def build_app():
    """The very app `python -m local.server --latency-scale 0` serves, with Lambda's metrics setting (on)."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from local.server import build

    with quiet_stdout():
        app, service, _ = build(
            str(ROOT / "config" / "routing.json"), None, bedrock=False, faults=None, latency_scale=0.0
        )
    return app


def asgi_scope(path: str, body: bytes, method: str = "POST") -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def asgi_call(app, path: str, body: bytes, marker: bytes | None = None) -> tuple[int, float | None, float]:
    """One request straight into the ASGI app: (status, seconds to the first body chunk holding `marker`, total)."""
    clock = time.perf_counter
    started = clock()
    state: dict[str, Any] = {"sent": False, "status": 0, "first": None}
    never = asyncio.Event()

    async def receive():
        if not state["sent"]:
            state["sent"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never.wait()  # spec 2.4: the app only asks again to learn of a disconnect, which never comes

    async def send(message):
        kind = message["type"]
        if kind == "http.response.start":
            state["status"] = message["status"]
        elif (
            kind == "http.response.body"
            and state["first"] is None
            and marker is not None
            and marker in message.get("body", b"")
        ):
            state["first"] = clock() - started

    await app(asgi_scope(path, body), receive, send)
    return state["status"], state["first"], clock() - started


def in_process(rounds: int, requests: int) -> dict[str, dict[str, list[float]]]:
    import json

    app = build_app()
    bodies = {name: (path, json.dumps(body).encode()) for name, (path, body) in CASES.items()}
    per_round: dict[str, dict[str, list[float]]] = {name: {"p50": [], "p99": []} for name in CASES}

    async def run() -> None:
        for name, (path, body) in bodies.items():  # warm-up: configuration load, caches, first thread
            for _ in range(200):
                status, _, _ = await asgi_call(app, path, body)
                if status != 200:
                    raise SystemExit(f"in process {name}: status {status}")
        for r in range(rounds):
            samples: dict[str, list[float]] = {name: [] for name in bodies}
            order = list(bodies.items())
            if r % 2:
                order.reverse()
            for _ in range(requests):
                for name, (path, body) in order:  # interleaved request by request
                    status, _, total = await asgi_call(app, path, body)
                    if status != 200:
                        raise SystemExit(f"in process {name}: status {status}")
                    samples[name].append(total * 1000)
            for name, values in samples.items():
                per_round[name]["p50"].append(percentile(values, 0.5))
                per_round[name]["p99"].append(percentile(values, 0.99))

    with quiet_stdout():
        asyncio.run(run())
    return per_round


# --- over HTTP -----------------------------------------------------------------------------------------


def over_http(rounds: int, seq: int, seconds: float, with_litellm: bool) -> tuple[dict, dict, str | None]:
    ours_port = free_port()
    ours = Server(
        "router (local.server)",
        [sys.executable, "-m", "local.server", "--port", str(ours_port), "--latency-scale", "0"],
        ours_port,
        bench_env(),
    )
    servers = [ours]
    skipped = None
    tmp = tempfile.TemporaryDirectory(prefix="bench-litellm-")
    proxy = None
    if with_litellm:
        proxy = litellm_server(litellm_config(Path(tmp.name) / "cfg.yaml", {"faq": MOCK_ANSWER}), free_port())
        if proxy is None:
            skipped = (
                "LiteLLM's proxy is not installed: run `make bench` (it makes benchmarks/.venv-litellm) or "
                "set LITELLM_BIN"
            )
        else:
            servers.append(proxy)
    auth = {"authorization": f"Bearer {LITELLM_MASTER_KEY}"}
    targets = {ours.name: {name: request_bytes(path, body, port=ours.port) for name, (path, body) in CASES.items()}}
    if proxy is not None:
        targets[proxy.name] = {
            name: request_bytes(*CASES[name], headers=auth, port=proxy.port) for name in LITELLM_CASES
        }
    by_name = {s.name: s for s in servers}
    results: dict[str, dict[str, dict[str, list[float]]]] = {
        s: {c: {"p50": [], "p99": [], "rps": [], "load_p99": [], "errors": []} for c in cases}
        for s, cases in targets.items()
    }
    ratios: dict[str, dict[str, list[float]]] = {c: {"rps": [], "load_p99": [], "p99": []} for c in LITELLM_CASES}
    try:
        with running(*servers):
            for s in servers:
                s.wait_ready(
                    "/v1/chat/completions", timeout_s=120, body=CASES["chat"][1], headers=auth if s is proxy else None
                )
            for name, cases in targets.items():  # warm-up
                for raw in cases.values():
                    load(by_name[name].port, raw, concurrency=CONCURRENCY, requests=400, duration_s=2)
            for r in range(rounds):
                order = list(targets.items())
                if r % 2:
                    order.reverse()
                for name, cases in order:
                    port = by_name[name].port
                    for case, raw in cases.items():
                        one = load(port, raw, concurrency=1, requests=seq, duration_s=30)
                        many = load(port, raw, concurrency=CONCURRENCY, requests=10**7, duration_s=seconds)
                        cell = results[name][case]
                        cell["p50"].append(percentile(one.latencies_ms, 0.5))
                        cell["p99"].append(percentile(one.latencies_ms, 0.99))
                        cell["rps"].append(many.rps)
                        cell["load_p99"].append(percentile(many.latencies_ms, 0.99))
                        cell["errors"].append(one.failed + many.failed)
                if proxy is not None:
                    for case in LITELLM_CASES:
                        a, b = results[ours.name][case], results[proxy.name][case]
                        ratios[case]["rps"].append(a["rps"][-1] / b["rps"][-1] if b["rps"][-1] else float("inf"))
                        ratios[case]["load_p99"].append(b["load_p99"][-1] / a["load_p99"][-1])
                        ratios[case]["p99"].append(b["p99"][-1] / a["p99"][-1])
    finally:
        tmp.cleanup()
    return results, ratios if proxy is not None else {}, skipped


# --- report ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000, help="in process: requests per case per round")
    parser.add_argument("--seq", type=int, default=200, help="over HTTP: sequential requests per case per round")
    parser.add_argument("--seconds", type=float, default=3.0, help="over HTTP: seconds of load per case per round")
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM's proxy")
    parser.add_argument("--skip-in-process", action="store_true")
    args = parser.parse_args(argv)

    if not args.skip_in_process:
        ip = in_process(args.rounds, args.requests)
        rows = [
            [name, f"{median(v['p50']):.3f}", spread(v["p50"], 3), f"{median(v['p99']):.3f}", spread(v["p99"], 3)]
            for name, v in ip.items()
        ]
        print(
            table(
                f"In process (raw ASGI calls, zero-latency simulated backend), ms; median of {args.rounds} "
                f"rounds x {args.requests} requests per case, interleaved",
                ["case", "p50", "p50 range", "p99", "p99 range"],
                rows,
            )
        )
        print()
        sys.stdout.flush()

    results, ratios, skipped = over_http(args.rounds, args.seq, args.seconds, not args.no_litellm)
    rows = []
    for server, cases in results.items():
        for case, v in cases.items():
            rows.append(
                [
                    f"{server}: {case}",
                    f"{median(v['p50']):.2f}",
                    f"{median(v['p99']):.2f}",
                    f"{median(v['rps']):.0f}",
                    spread(v["rps"], 0),
                    f"{median(v['load_p99']):.2f}",
                    f"{sum(v['errors'])}",
                ]
            )
    print(
        table(
            f"Over HTTP on 127.0.0.1, median of {args.rounds} rounds (servers interleaved); latency ms "
            f"one at a time ({args.seq}/round); throughput at {CONCURRENCY} connections ({args.seconds:g} s/round)",
            ["server: case", "p50", "p99", "req/s", "req/s range", "p99@16", "errors"],
            rows,
        )
    )
    if skipped:
        print(f"\nLiteLLM comparison skipped: {skipped}")
    if ratios:
        print()
        rows = []
        for case, v in ratios.items():
            rows.append(
                [
                    case,
                    f"{median(v['rps']):.1f}x",
                    spread(v["rps"], 1),
                    f"{median(v['load_p99']):.1f}x",
                    spread(v["load_p99"], 1),
                    f"{median(v['p99']):.1f}x",
                    "met" if median(v["rps"]) >= 10 and median(v["load_p99"]) >= 10 else "MISSED",
                ]
            )
        print(
            table(
                "Ours vs LiteLLM's proxy, same run (per-round ratios, median and range); target >= 10x both",
                ["case", "throughput", "range", "p99@16 (theirs/ours)", "range", "p99 1-at-a-time", "target"],
                rows,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
