"""Instructions per request on the production path, counted by valgrind's callgrind: a figure that does not move
with the machine's load (CPU ms per request does, on a shared machine), for before/after comparisons.

    python -m benchmarks.request_instructions [--requests 200] [--connections 1] [--baseline /path/to/other/checkout]
        [--out FILE] [--first-answer]

The server is the production path as benchmarks/production_path.py starts it (uvicorn with the Lambda's app
factory, the real botocore client against benchmarks.mock_upstreams, the Lambda's environment, the request log
line and EMF metrics on), run under `valgrind --tool=callgrind`. After it has answered 30 warm-up requests of each
kind, its counters are zeroed (`callgrind_control --zero`), it answers --requests requests one at a time over one
keep-alive connection (or --connections at once), and its counters are dumped (`callgrind_control --dump`): the
instructions of the whole server process (every thread: event loop, worker threads, botocore) for those requests,
divided by their number. Only the server runs under valgrind; the mock and this client run natively. With one
connection the figures are per request without contention; with --connections N (as production_path.py's 16/64)
they include what concurrency adds in user space: the cyclic GC over more live objects, the event loop's batches,
more worker threads. Valgrind runs one thread at a time, so kernel work (futex waits, context switches) and cache
misses are not in them: CPU ms per request in production_path.py includes those. With --baseline, the same is measured for another checkout's `lambdas/` (same interpreter and
packages), and the ratio printed. Needs valgrind (`apt-get install valgrind`); slow (about 50x native).

--first-answer adds a cold start counted the same way: a fresh interpreter under callgrind, from its start to the
first answer of a buffered chat request through the real botocore client (import the app, `create_app_from_env()`,
the configuration load, boto3's import and first client, the Converse call, the log line), all of the process's
instructions. The request goes straight to the ASGI app (no uvicorn, the worker-thread hop inlined), so uvicorn's
own import is not in it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import ROOT, Server, free_port, load, request_bytes, running, table
from benchmarks.production_path import MARKER, MESSAGES, lwa_headers, mock_server, ours_argv, ours_env

MODES = ("buffered", "streamed")
TOTALS = re.compile(r"^(?:totals|summary):\s+(\d+)", re.M)


def chat_bytes(port: int, stream: bool) -> bytes:
    body: dict = {"model": "faq", "messages": MESSAGES}
    if stream:
        body["stream"] = True
    return request_bytes("/v1/chat/completions", body, headers=lwa_headers(), port=port)


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=120)


def measure_tree(root: Path, mock_port: int, requests: int, out_dir: Path, connections: int = 1) -> dict[str, float]:
    port = free_port()
    out_file = out_dir / f"callgrind.{root.name}.%p"
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", *ours_argv(port)]
    server = Server(f"ours under callgrind ({root})", argv, port, ours_env(mock_port, root))
    result: dict[str, float] = {}
    with running(server):
        server.wait_ready("/v1/models", timeout_s=300)
        assert server.proc is not None
        pid = str(server.proc.pid)
        for mode in MODES:
            raw = chat_bytes(port, mode == "streamed")
            warm = load(port, raw, concurrency=connections, requests=30, duration_s=600, per_request_timeout_s=120)
            if warm.ok != 30:
                raise RuntimeError(f"warm-up failed: {warm.statuses}, {warm.errors} errors")
            _control("--zero", pid)
            done = load(
                port,
                raw,
                concurrency=connections,
                requests=requests,
                duration_s=3600,
                marker=MARKER if mode == "streamed" else None,
                per_request_timeout_s=120,
            )
            if done.ok != requests:
                raise RuntimeError(f"{mode}: {done.ok}/{requests} answered 200 ({done.statuses})")
            before = set(out_dir.iterdir())
            _control("--dump", pid)
            time.sleep(0.5)
            dumps = sorted(set(out_dir.iterdir()) - before, key=lambda p: p.stat().st_mtime)
            total = sum(int(m[1]) for d in dumps for m in [TOTALS.search(d.read_text(errors="replace"))] if m)
            result[mode] = total / requests
    return result


FIRST_ANSWER = """
import asyncio, json, os, sys
import anyio.to_thread

async def inline(fn, *args):
    return fn(*args)

anyio.to_thread.run_sync = inline
from router.http.app import create_app_from_env

app = create_app_from_env()
body = json.dumps({"model": "faq", "messages": [{"role": "user", "content": "What are your opening hours?"}]}).encode()
headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
headers += [(k.encode(), v.encode()) for k, v in json.loads(os.environ["BENCH_LWA_HEADERS"]).items()]
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
         "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
         "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
sent = []

async def receive():
    return {"type": "http.request", "body": body, "more_body": False}

async def send(message):
    sent.append(message)

asyncio.run(app(scope, receive, send))
sys.exit(0 if sent[0]["status"] == 200 else 1)
"""


def first_answer_instructions(root: Path, mock_port: int, out_dir: Path) -> float:
    import json

    out_file = out_dir / f"first.{root.name}.out"
    env = ours_env(mock_port, root, BENCH_LWA_HEADERS=json.dumps(lwa_headers()))
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", sys.executable, "-c", FIRST_ANSWER],
        env=env,
        cwd=str(root),
        capture_output=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"first answer failed in {root}: {done.stderr.decode()[-2000:]}")
    found = TOTALS.search(out_file.read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"no totals in {out_file}")
    return int(found[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--connections", type=int, default=1, help="requests sent at once (keep-alive connections)")
    parser.add_argument("--baseline", help="another checkout, measured the same way")
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--first-answer", action="store_true", help="also count a cold start's first answer")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed: skipped (apt-get install valgrind)")
        return 0
    trees = [("this checkout", ROOT)]
    if args.baseline:
        trees.append(("baseline " + args.baseline, Path(args.baseline).resolve()))
    mock_port = free_port()
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, running(mock_server(mock_port)) as (mock,):
        mock.wait_ready("/v1/chat/completions", timeout_s=30, body={"model": "m", "messages": MESSAGES})
        for name, root in trees:
            figures[name] = measure_tree(root, mock_port, args.requests, Path(tmp), args.connections)
            if args.first_answer:
                figures[name]["first"] = first_answer_instructions(root, mock_port, Path(tmp))
    columns = [*MODES, "first"] if args.first_answer else list(MODES)
    scale = {"buffered": 1e6, "streamed": 1e6, "first": 1e9}
    rows = [[name, *(f"{figures[name][m] / scale[m]:.3f}" for m in columns)] for name, _ in trees]
    if args.baseline:
        mine, base = figures[trees[0][0]], figures[trees[1][0]]
        rows.append(["this / baseline", *(f"{mine[m] / base[m]:.3f}" for m in columns)])
    text = table(
        f"Instructions (callgrind, whole server process): per request, millions, {args.requests} requests "
        f"{'one at a time' if args.connections == 1 else f'over {args.connections} connections at once'} after 30 "
        f"warm-up; a cold start's first answer, billions (load average {os.getloadavg()[0]:.1f} does "
        "not affect these)",
        [
            "server",
            *(f"{m} (M/request)" for m in MODES),
            *(["first answer (G, from start)"] if args.first_answer else []),
        ],
        rows,
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
