"""The production path against the Portkey AI gateway (and LiteLLM's proxy), each in front of a fast local mock,
interleaved round by round: requests/s, p50/p99 latency, added latency and added time to first token.

    python -m benchmarks.production_path [--rounds 5] [--seconds 2] [--connections 1,16,64] [--no-litellm]
        [--json benchmarks/results/production_path.json] [--baseline /path/to/another/checkout]

Servers (each its own process on 127.0.0.1; the load client is this process, on uvloop):
- mock: `benchmarks.mock_upstreams`, one process answering OpenAI chat completions and Bedrock Converse /
  ConverseStream (AWS event-stream framing) with the same 20-piece answer, no delay.
- ours: uvicorn with the Lambda's app factory, exactly as lambdas/router/run.sh starts it (`--factory
  router.http.app:create_app_from_env --log-level warning --no-access-log`, uvicorn's default loop) with the
  Lambda's environment: AWS_LAMBDA_FUNCTION_NAME set (callers from API Gateway's context), the bundled routing
  file, Powertools metrics ON (EMF lines), the request log line on, stdout to /dev/null. The REAL boto3
  bedrock-runtime client (SigV4 signing, botocore serialization and event-stream parsing, urllib3) reaches the
  mock through `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (botocore's service-specific endpoint variable; the router's
  code is unchanged). Each request carries the two headers the Lambda Web Adapter adds
  (`x-amzn-request-context`, `x-amzn-lambda-context`, as tests/web_adapter.py builds them).
  Its numbers include: HTTP and the adapter headers, the configuration snapshot, parsing, the routing decision,
  the budget check (no spend table: reported, not enforced), the Converse call through botocore, the
  translation to OpenAI's wire format, the per-request log line and metrics, one worker-thread hop per request
  (and the stream relay's hops per frame).
- Portkey: `@portkey-ai/gateway` 1.15.2 (benchmarks/portkey, `@hono/node-server` pinned to 1.13.8), `--headless`,
  provider `openai` with `x-portkey-custom-host` = the mock. Its numbers include: HTTP, the provider headers,
  its OpenAI-to-OpenAI request and response transforms, one fetch to the mock; no logging, cache or retries.
- LiteLLM's proxy (benchmarks/.venv-litellm) with an `openai/` deployment whose api_base is the mock (a real
  upstream call, not `mock_response`), master-key auth. Its numbers include its auth, router and the OpenAI
  client call; no database (no spend logs).
- the mock alone, both wires: the floor; "added" = a server's figure minus the mock's figure for its own wire in
  the same round (ours vs the Bedrock wire, the peers vs the OpenAI wire).
- with --baseline TREE: the same production path from another checkout's `lambdas/` (same interpreter and
  packages, same mock), as one more server in the same rounds, so a change is measured before/after interleaved
  ("ours / baseline" ratios; below 1 CPU per request means this checkout is cheaper).
Cells (server x buffered/streamed x connections) run --seconds each; the order of cells and of servers alternates
every round. Ratios ours / Portkey are taken per round; the table shows their median and range. CPU ms per
request = the server process's user+system CPU during the cell / its answered requests (ours feeds
benchmarks/router_cost.py). The machine's load average (os.getloadavg) is printed beside the figures: on a shared
machine, figures move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks._common import (
    LITELLM_MASTER_KEY,
    PROMPT,
    ROOT,
    Server,
    _load,
    bench_env,
    free_port,
    litellm_server,
    median,
    percentile,
    request_bytes,
    running,
    spread,
    table,
)
from benchmarks.mock_upstreams import FIRST_TOKEN

PORTKEY_DIR = ROOT / "benchmarks" / "portkey"
PORTKEY_ENTRY = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
MARKER = FIRST_TOKEN.encode()
MESSAGES = [{"role": "user", "content": PROMPT}]
BEDROCK_MODEL_PATH = "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0"
MODES = ("buffered", "streamed")
OURS, PORTKEY, LITELLM, MOCK_BEDROCK, MOCK_OPENAI = (
    "ours (production path)",
    "Portkey",
    "LiteLLM proxy",
    "mock alone (Bedrock wire)",
    "mock alone (OpenAI wire)",
)
BASELINE = "ours, baseline checkout"


# --- the servers --------------------------------------------------------------------------------------------


def lwa_headers() -> dict[str, str]:
    """The two headers the Lambda Web Adapter adds (tests/web_adapter.py), with a deadline an hour away."""
    request_context = {
        "accountId": "123456789012",
        "stage": "prod",
        "requestId": str(uuid.uuid4()),
        "httpMethod": "POST",
        "resourcePath": "/v1/chat/completions",
        "identity": {"apiKeyId": "bench-key-id", "sourceIp": "203.0.113.7", "userArn": None},
    }
    lambda_context = {
        "request_id": str(uuid.uuid4()),
        "deadline": int((time.time() + 3600) * 1000),
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:model-router",
        "xray_trace_id": None,
        "env_config": {"function_name": "model-router", "memory": 1024, "version": "$LATEST"},
    }
    return {
        "x-amzn-request-context": json.dumps(request_context, separators=(",", ":")),
        "x-amzn-lambda-context": json.dumps(lambda_context, separators=(",", ":")),
    }


def ours_env(mock_port: int, root: Path = ROOT, **extra: str) -> dict[str, str]:
    return bench_env(
        PYTHONPATH=str(root / "lambdas"),
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=f"http://127.0.0.1:{mock_port}",
        AWS_ACCESS_KEY_ID="AKIDBENCHMARK",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_LAMBDA_FUNCTION_NAME="model-router",
        AWS_EC2_METADATA_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="false",
        **extra,
    )


def ours_argv(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "router.http.app:create_app_from_env",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-keep-alive",
        "86400",
    ]


def mock_server(port: int) -> Server:
    return Server("mock", [sys.executable, "-m", "benchmarks.mock_upstreams", "--port", str(port)], port, bench_env())


def ours_server(port: int, mock_port: int, root: Path = ROOT, name: str = OURS) -> Server:
    return Server(name, ours_argv(port), port, ours_env(mock_port, root))


def portkey_missing() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed (Portkey runs on Node.js): install node and npm, then `make bench`"
    if not PORTKEY_ENTRY.is_file():
        return "the Portkey gateway is not installed: `cd benchmarks/portkey && npm ci` (make bench does it)"
    return None


def portkey_server(port: int) -> Server:
    return Server(
        PORTKEY,
        ["node", str(PORTKEY_ENTRY), f"--port={port}", "--headless"],
        port,
        {**os.environ, "NODE_ENV": "production"},
        cwd=str(PORTKEY_DIR),
    )


def litellm_upstream_config(path: Path, mock_port: int) -> Path:
    path.write_text(
        "\n".join(
            [
                "model_list:",
                "  - model_name: faq",
                "    litellm_params:",
                "      model: openai/mock",
                "      api_key: sk-mock",
                f"      api_base: http://127.0.0.1:{mock_port}/v1",
                "litellm_settings:",
                "  telemetry: false",
                "general_settings:",
                f"  master_key: {LITELLM_MASTER_KEY}",
            ]
        )
        + "\n"
    )
    return path


# --- measuring -------------------------------------------------------------------------------------------------


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process (Linux /proc), (0.0, 0.0) where that is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, 0.0 where that is not readable."""
    return sum(cpu_times(pid))


def run_load(port: int, raw: bytes, concurrency: int, seconds: float, marker: bytes | None):
    coro = _load(
        port,
        raw,
        concurrency=concurrency,
        requests=10**8,
        duration_s=seconds,
        marker=marker,
        per_request_timeout_s=30,
    )
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def bodies(name: str, mode: str, port: int) -> bytes:
    stream = mode == "streamed"
    if name == MOCK_BEDROCK:
        body = {"messages": [{"role": "user", "content": [{"text": PROMPT}]}], "inferenceConfig": {"maxTokens": 512}}
        path = f"{BEDROCK_MODEL_PATH}/converse-stream" if stream else f"{BEDROCK_MODEL_PATH}/converse"
        return request_bytes(path, body, port=port)
    chat: dict[str, Any] = {"model": "faq", "messages": MESSAGES}
    if stream:
        chat["stream"] = True
    headers: dict[str, str] = {}
    if name in (OURS, BASELINE):
        headers = lwa_headers()
    elif name == PORTKEY:
        headers = {
            "x-portkey-provider": "openai",
            "x-portkey-custom-host": f"http://127.0.0.1:{PORTKEY_UPSTREAM[0]}/v1",
            "authorization": "Bearer sk-mock",
        }
    elif name == LITELLM:
        headers = {"authorization": f"Bearer {LITELLM_MASTER_KEY}"}
    return request_bytes("/v1/chat/completions", chat, headers=headers, port=port)


PORTKEY_UPSTREAM = [0]  # the mock's port, once known


def measure(args) -> dict[str, Any]:
    concurrencies = [int(c) for c in args.connections.split(",")]
    mock_port = free_port()
    PORTKEY_UPSTREAM[0] = mock_port
    mock = mock_server(mock_port)
    ours = ours_server(free_port(), mock_port)
    servers = [mock, ours]
    ports = {MOCK_BEDROCK: mock_port, MOCK_OPENAI: mock_port, OURS: ours.port}
    skipped: dict[str, str] = {}
    baseline = None
    if args.baseline:
        baseline = ours_server(free_port(), mock_port, Path(args.baseline).resolve(), BASELINE)
        servers.append(baseline)
        ports[BASELINE] = baseline.port
    missing = portkey_missing()
    if missing is None:
        pk = portkey_server(free_port())
        servers.append(pk)
        ports[PORTKEY] = pk.port
    else:
        skipped[PORTKEY] = missing
    tmp = tempfile.TemporaryDirectory(prefix="bench-litellm-")
    if not args.no_litellm:
        proxy = litellm_server(litellm_upstream_config(Path(tmp.name) / "cfg.yaml", mock_port), free_port(), LITELLM)
        if proxy is None:
            skipped[LITELLM] = (
                "LiteLLM's proxy is not installed: `make bench` makes benchmarks/.venv-litellm (or set LITELLM_BIN)"
            )
        else:
            servers.append(proxy)
            ports[LITELLM] = proxy.port
    else:
        skipped[LITELLM] = "--no-litellm"
    pids: dict[str, int] = {}
    names = [n for n in (OURS, BASELINE, PORTKEY, LITELLM, MOCK_BEDROCK, MOCK_OPENAI) if n in ports]
    raws = {(n, m): bodies(n, m, ports[n]) for n in names for m in MODES}
    cells = [(m, c) for m in MODES for c in concurrencies]
    results: dict[tuple[str, str, int], dict[str, list[float]]] = {
        (n, m, c): {k: [] for k in ("rps", "p50", "p99", "ttft50", "ttft99", "cpu_ms", "errors", "load")}
        for n in names
        for m, c in cells
    }
    loads: list[tuple[float, float, float]] = []
    try:
        with running(*servers):
            mock.wait_ready("/v1/chat/completions", timeout_s=30, body={"model": "m", "messages": MESSAGES})
            ours.wait_ready(
                "/v1/chat/completions", timeout_s=60, body={"model": "faq", "messages": MESSAGES}, headers=lwa_headers()
            )
            if baseline is not None:
                baseline.wait_ready(
                    "/v1/chat/completions",
                    timeout_s=60,
                    body={"model": "faq", "messages": MESSAGES},
                    headers=lwa_headers(),
                )
            for s in servers[2:]:
                if s is baseline:
                    continue
                hdrs = (
                    {"authorization": f"Bearer {LITELLM_MASTER_KEY}"}
                    if s.name == LITELLM
                    else {
                        "x-portkey-provider": "openai",
                        "x-portkey-custom-host": f"http://127.0.0.1:{mock_port}/v1",
                        "authorization": "Bearer sk-mock",
                    }
                )
                try:
                    s.wait_ready(
                        "/v1/chat/completions", timeout_s=120, body={"model": "faq", "messages": MESSAGES}, headers=hdrs
                    )
                except RuntimeError as exc:  # a peer that does not start is skipped, not the whole benchmark
                    s.stop()
                    skipped[s.name] = f"it did not answer: {exc}"
                    ports.pop(s.name, None)
            names = [n for n in names if n in ports]
            for s in servers:
                if s.proc is not None and (s.name in ports or s is mock):
                    pids[s.name] = s.proc.pid
            pids[MOCK_BEDROCK] = pids[MOCK_OPENAI] = pids.pop("mock")
            for n in names:  # warm-up: first connections, caches, the first worker threads
                for m in MODES:
                    run_load(ports[n], raws[(n, m)], 16, min(1.0, args.seconds), MARKER)
            for r in range(args.rounds):
                loads.append(os.getloadavg())
                order = cells if r % 2 == 0 else cells[::-1]
                for i, (m, c) in enumerate(order):
                    who = names if (r + i) % 2 == 0 else names[::-1]
                    for n in who:
                        cpu0 = cpu_seconds(pids[n])
                        res = run_load(ports[n], raws[(n, m)], c, args.seconds, MARKER if m == "streamed" else None)
                        cpu1 = cpu_seconds(pids[n])
                        cell = results[(n, m, c)]
                        cell["rps"].append(res.rps)
                        cell["p50"].append(percentile(res.latencies_ms, 0.5))
                        cell["p99"].append(percentile(res.latencies_ms, 0.99))
                        if res.first_ms:
                            cell["ttft50"].append(percentile(res.first_ms, 0.5))
                            cell["ttft99"].append(percentile(res.first_ms, 0.99))
                        cell["cpu_ms"].append((cpu1 - cpu0) * 1000 / res.ok if res.ok else float("nan"))
                        cell["errors"].append(res.failed)
                        cell["load"].append(os.getloadavg()[0])
                print(f"round {r + 1}/{args.rounds} done, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    finally:
        tmp.cleanup()
    return {"results": results, "skipped": skipped, "loads": loads, "names": names, "cells": cells}


# --- report -------------------------------------------------------------------------------------------------------


def _floor(name: str) -> str:
    return MOCK_BEDROCK if name in (OURS, BASELINE) else MOCK_OPENAI


def ratio_rows(results, cells, peer: str, mine: str = OURS) -> list[list[str]]:
    rows = []
    for m, c in cells:
        a, b = results[(mine, m, c)], results[(peer, m, c)]
        fa, fb = results[(_floor(mine), m, c)], results[(_floor(peer), m, c)]
        rps = [x / y for x, y in zip(a["rps"], b["rps"], strict=True) if y]
        added = [
            (x - fx) / (y - fy)
            for x, fx, y, fy in zip(a["p50"], fa["p50"], b["p50"], fb["p50"], strict=True)
            if (y - fy) > 0
        ]
        cpu = [x / y for x, y in zip(a["cpu_ms"], b["cpu_ms"], strict=True) if y]
        rows.append(
            [
                f"{m} @ {c}",
                f"{median(rps):.2f}",
                spread(rps, 2),
                f"{median(added):.2f}",
                spread(added, 2),
                f"{median(cpu):.2f}",
                spread(cpu, 2),
            ]
        )
    return rows


def report(data: dict[str, Any], args) -> str:
    results, names, cells, skipped = data["results"], data["names"], data["cells"], data["skipped"]
    out = []
    loads = data["loads"]
    load_text = ", ".join(f"{x[0]:.2f}" for x in loads)
    out.append(
        f"Machine: {os.cpu_count()} CPUs, 1-minute load average at the start of each round: {load_text} "
        "(other processes share this machine; figures move with the load)"
    )
    rows = []
    for n in names:
        for m, c in cells:
            v = results[(n, m, c)]
            floor = results[(_floor(n), m, c)]
            added = [x - y for x, y in zip(v["p50"], floor["p50"], strict=True)]
            ttft_added = [x - y for x, y in zip(v["ttft99"], floor["ttft99"], strict=False)]
            rows.append(
                [
                    f"{n}: {m} @ {c}",
                    f"{median(v['rps']):.0f}",
                    spread(v["rps"], 0),
                    f"{median(v['p50']):.2f}",
                    f"{median(v['p99']):.2f}",
                    "-" if n.startswith("mock") else f"{median(added):.2f}",
                    f"{median(v['ttft50']):.2f}" if v["ttft50"] else "-",
                    f"{median(v['ttft99']):.2f}" if v["ttft99"] else "-",
                    "-" if n.startswith("mock") or not ttft_added else f"{median(ttft_added):.2f}",
                    f"{median(v['cpu_ms']):.2f}",
                    f"{int(sum(v['errors']))}",
                    f"{median(v['load']):.1f}",
                ]
            )
    out.append(
        table(
            f"Production path vs peers, {args.rounds} rounds x {args.seconds:g} s per cell, interleaved; medians over "
            "rounds (ms; added = minus the mock alone on the same wire, same round; TTFT = to the first content piece)",
            [
                "server: mode @ connections",
                "req/s",
                "range",
                "p50",
                "p99",
                "added p50",
                "TTFT p50",
                "TTFT p99",
                "added TTFT p99",
                "CPU ms/req",
                "errors",
                "load",
            ],
            rows,
        )
    )
    pairs = [(OURS, peer) for peer in (BASELINE, PORTKEY, LITELLM)] + [(BASELINE, PORTKEY)]
    for mine, peer in pairs:
        if peer in names and mine in names:
            out.append("")
            title = "Ours" if mine == OURS else "The baseline checkout"
            out.append(
                table(
                    f"{title} / {peer}, per-round ratios (median and range over {args.rounds} rounds); "
                    "goal (issue 18): req/s >= 1.5, added p50 <= 0.7. CPU per request is the figure the machine's "
                    "load moves least: at saturation on a quiet machine, req/s ~ 1 / CPU per request",
                    [
                        "mode @ connections",
                        "req/s ratio",
                        "range",
                        "added p50 ratio",
                        "range",
                        "CPU/req ratio",
                        "range",
                    ],
                    ratio_rows(results, cells, peer, mine),
                )
            )
    for name, why in skipped.items():
        out.append(f"\n{name} skipped: {why}")
    return "\n".join(out)


def to_json(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "loads": data["loads"],
        "skipped": data["skipped"],
        "cells": [{"server": n, "mode": m, "connections": c, **v} for (n, m, c), v in data["results"].items()],
    }


def from_json(path: str) -> dict[str, Any]:
    """A run saved with --json, to print its report again."""
    saved = json.loads(Path(path).read_text())
    results = {(c["server"], c["mode"], c["connections"]): c for c in saved["cells"]}
    names = list(dict.fromkeys(c["server"] for c in saved["cells"]))
    cells = list(dict.fromkeys((c["mode"], c["connections"]) for c in saved["cells"]))
    return {"results": results, "skipped": saved["skipped"], "loads": saved["loads"], "names": names, "cells": cells}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--json", help="also write every round's figures here")
    parser.add_argument("--baseline", metavar="TREE", help="also run the production path from this checkout")
    parser.add_argument("--report", metavar="JSON", help="print the report of a run saved with --json; no measuring")
    args = parser.parse_args(argv)
    if args.report:
        data = from_json(args.report)
        args.rounds = len(data["loads"])
        print(report(data, args))
        return 0
    data = measure(args)
    print(report(data, args))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(to_json(data), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
