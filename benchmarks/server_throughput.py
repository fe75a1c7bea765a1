"""Local server throughput with zero simulated latency at 32 and 128 concurrent connections, with the error count.

    python -m benchmarks.server_throughput [--rounds 3] [--seconds 3]

`python -m local.server --latency-scale 0` (uvicorn, one process) on 127.0.0.1; each connection is opened at once
and kept alive, sending POST /v1/chat/completions (buffered and streamed) for --seconds per case per round; the
cases are interleaved round by round. Errors = connection failures (resets, refusals, timeouts) + non-200 answers.
Target (issue 7): zero errors at 128 connections. The client shares the machine's 2 cores with the server.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from benchmarks._common import (
    PROMPT,
    Server,
    bench_env,
    free_port,
    load,
    median,
    percentile,
    request_bytes,
    running,
    spread,
    table,
)

MESSAGES = [{"role": "user", "content": PROMPT}]
CASES: dict[str, tuple[str, dict]] = {
    "chat": ("/v1/chat/completions", {"model": "faq", "messages": MESSAGES}),
    "chat stream": ("/v1/chat/completions", {"model": "faq", "messages": MESSAGES, "stream": True}),
}
CONCURRENCY = (32, 128)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    port = free_port()
    server = Server(
        "local.server",
        [sys.executable, "-m", "local.server", "--port", str(port), "--latency-scale", "0"],
        port,
        bench_env(),
    )
    raws = {name: request_bytes(path, body, port=port) for name, (path, body) in CASES.items()}
    combos = [(name, c) for c in CONCURRENCY for name in CASES]
    cells: dict[tuple[str, int], dict[str, Any]] = {
        combo: {"rps": [], "p50": [], "p99": [], "errors": 0, "requests": 0} for combo in combos
    }
    with running(server):
        server.wait_ready("/v1/chat/completions", timeout_s=60, body=CASES["chat"][1])
        for raw in raws.values():  # warm-up
            load(port, raw, concurrency=32, requests=500, duration_s=2)
        for r in range(args.rounds):
            for name, c in combos[:: -1 if r % 2 else 1]:
                result = load(
                    port, raws[name], concurrency=c, requests=10**7, duration_s=args.seconds, per_request_timeout_s=30
                )
                cell = cells[(name, c)]
                cell["rps"].append(result.rps)
                cell["p50"].append(percentile(result.latencies_ms, 0.5))
                cell["p99"].append(percentile(result.latencies_ms, 0.99))
                cell["errors"] += result.failed
                cell["requests"] += result.ok + result.failed
    rows = [
        [
            f"{name} @ {c}",
            f"{median(v['rps']):.0f}",
            spread(v["rps"], 0),
            f"{median(v['p50']):.1f}",
            f"{median(v['p99']):.1f}",
            f"{v['errors']}/{v['requests']}",
        ]
        for (name, c), v in cells.items()
    ]
    print(
        table(
            f"local.server, zero simulated latency, {args.rounds} rounds x {args.seconds:g} s per case "
            "(median req/s and its range; latency ms)",
            ["case @ connections", "req/s", "range", "p50", "p99", "errors/requests"],
            rows,
        )
    )
    total_errors = sum(v["errors"] for v in cells.values())
    print(f"errors in total: {total_errors} (target 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
