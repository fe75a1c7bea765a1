"""The production-path server's garbage collector and thread hand-offs, per request: counts that the machine's load
does not move (collections, context switches), beside the CPU it does.

    python -m benchmarks.server_gc [--seconds 2] [--connections 1,16,64] [--baseline /path/to/other/checkout]

The server is benchmarks/production_path.py's (uvicorn with the Lambda's app factory, the real botocore client
against benchmarks.mock_upstreams), started through a small wrapper that registers a `gc.callbacks` hook before
uvicorn runs. After a warm-up per mode, each cell (mode x connections) reads the server's counters before and after
--seconds of load and reports per 1,000 requests the collections of each generation, the microseconds per request
spent in them, voluntary and involuntary context switches per request (/proc, every thread: a thread hand-off is a
voluntary switch), and user/system CPU ms per request. At the end, the server times one full collection
(`gc.collect()`, the pause a request meets when a full collection falls on it) and says how many objects the
collector still tracks (`len(gc.get_objects())`) and how many are frozen. With --baseline, the same for another
checkout's `lambdas/`, one after the other (not interleaved: the counts are what to compare, the CPU moves with the
load).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import ROOT, Server, free_port, running, table
from benchmarks.production_path import (
    MARKER,
    MESSAGES,
    OURS,
    bodies,
    cpu_times,
    lwa_headers,
    mock_server,
    ours_argv,
    ours_env,
    run_load,
)

MODES = ("buffered", "streamed")
HOOK = """
import gc, json, os, signal, sys, time
stats = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
began = [0.0]
def on_gc(phase, info):
    if phase == "start":
        began[0] = time.perf_counter()
    else:
        s = stats[info["generation"]]
        s[0] += 1
        s[1] += time.perf_counter() - began[0]
gc.callbacks.append(on_gc)
def dump(*_):
    with open(os.environ["BENCH_GC_OUT"], "w") as f:
        json.dump({"stats": stats}, f)
def full(*_):
    t0 = time.perf_counter()
    gc.collect()
    ms = (time.perf_counter() - t0) * 1000
    with open(os.environ["BENCH_GC_OUT"], "w") as f:
        json.dump({"full_ms": ms, "tracked": len(gc.get_objects()), "frozen": gc.get_freeze_count()}, f)
signal.signal(signal.SIGUSR1, dump)
signal.signal(signal.SIGUSR2, full)
import uvicorn.main
sys.argv = ["uvicorn", *sys.argv[1:]]
uvicorn.main.main()
"""


def _proc(pid: int) -> tuple[float, float, int, int]:
    """User and system CPU seconds, voluntary and involuntary context switches (every thread)."""
    user, system = cpu_times(pid)
    voluntary = involuntary = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            status = Path(f"/proc/{pid}/task/{task}/status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        voluntary += int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])
        involuntary += int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
    return user, system, voluntary, involuntary


def _ask(pid: int, sig: int, out: Path) -> dict:
    out.unlink(missing_ok=True)
    os.kill(pid, sig)
    for _ in range(200):
        if out.exists() and out.stat().st_size:
            time.sleep(0.05)
            return json.loads(out.read_text())
        time.sleep(0.02)
    raise RuntimeError("the server did not answer the GC probe")


def measure(root: Path, mock_port: int, connections: list[int], seconds: float, tmp: Path) -> list[list[str]]:
    port = free_port()
    out = tmp / f"gc-{port}.json"
    argv = [sys.executable, "-c", HOOK, *ours_argv(port)[3:]]
    server = Server(f"ours ({root})", argv, port, ours_env(mock_port, root, BENCH_GC_OUT=str(out)))
    rows = []
    with running(server):
        server.wait_ready(
            "/v1/chat/completions", timeout_s=60, body={"model": "faq", "messages": MESSAGES}, headers=lwa_headers()
        )
        assert server.proc is not None
        pid = server.proc.pid
        for mode in MODES:
            raw = bodies(OURS, mode, port)
            run_load(port, raw, 16, 1.0, MARKER)
            for c in connections:
                g0, p0 = _ask(pid, signal.SIGUSR1, out)["stats"], _proc(pid)
                res = run_load(port, raw, c, seconds, MARKER if mode == "streamed" else None)
                p1, g1 = _proc(pid), _ask(pid, signal.SIGUSR1, out)["stats"]
                n = max(res.ok, 1)
                gens = []
                for g in "012":
                    count = g1[g][0] - g0[g][0]
                    gens += [f"{count * 1000 / n:.1f}", f"{(g1[g][1] - g0[g][1]) * 1e6 / n:.1f}"]
                rows.append(
                    [
                        f"{root.name}: {mode} @ {c}",
                        str(res.ok),
                        *gens,
                        f"{(p1[2] - p0[2]) / n:.1f}",
                        f"{(p1[3] - p0[3]) / n:.1f}",
                        f"{(p1[0] - p0[0]) * 1000 / n:.2f}",
                        f"{(p1[1] - p0[1]) * 1000 / n:.2f}",
                    ]
                )
        full = _ask(pid, signal.SIGUSR2, out)
        rows.append(
            [
                f"{root.name}: one full collection",
                "-",
                f"{full['full_ms']:.2f} ms",
                f"{full['tracked']} tracked",
                f"{full['frozen']} frozen",
                *["-"] * 7,
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--baseline", help="another checkout, measured the same way")
    args = parser.parse_args(argv)
    connections = [int(c) for c in args.connections.split(",")]
    trees = [ROOT] + ([Path(args.baseline).resolve()] if args.baseline else [])
    mock_port = free_port()
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp, running(mock_server(mock_port)) as (mock,):
        mock.wait_ready("/v1/chat/completions", timeout_s=30, body={"model": "m", "messages": MESSAGES})
        for root in trees:
            rows += measure(root, mock_port, connections, args.seconds, Path(tmp))
    print(
        table(
            f"The server's garbage collector and thread hand-offs per request, {args.seconds:g} s per cell "
            f"(load average {os.getloadavg()[0]:.1f}: it moves the CPU and GC time, not the counts)",
            [
                "server: mode @ connections",
                "requests",
                "gen0 /1k req",
                "gen0 us/req",
                "gen1 /1k req",
                "gen1 us/req",
                "gen2 /1k req",
                "gen2 us/req",
                "voluntary cs/req",
                "involuntary cs/req",
                "user ms/req",
                "sys ms/req",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
