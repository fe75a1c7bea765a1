"""Where the production path's time goes: py-spy samples of the router process (uvicorn + the Lambda's app factory +
the real botocore client against benchmarks.mock_upstreams), buffered and streamed, at 16 connections.

    python -m benchmarks.profile_production [--seconds 8] [--rate 250] [--out benchmarks/results/profile-production-path.txt]

py-spy (`pip install py-spy` into benchmarks/.venv-profile; `make bench` does it; $PY_SPY overrides) attaches to the
running server (`record --pid --nonblocking --format raw`: the process is not paused per sample) while this process
drives it at 16 keep-alive connections, one mode at a time. Idle threads (waiting on a lock, a socket or the
event loop's poll) are not sampled, so shares are of the CPU the server spent. Each sample is put in the first
bucket whose rule matches any of its frames, in this order: botocore client (signing, serialization, urllib3,
event-stream parsing), the request record (router.observability, Powertools log line and metrics), the routing
decision (routing_engine), parsing (request body, JSON), rendering (response JSON, SSE frames), thread hops
(anyio workers, thread-to-loop hand-offs), uvicorn's HTTP, Starlette, the event loop, the rest of the router, other.
Also listed: the leaf functions with the most samples (self time) and the router functions with the most
(inclusive). The server runs as benchmarks/production_path.py starts it. Without py-spy the profile is skipped with
a message.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from benchmarks._common import ROOT, free_port, running
from benchmarks.production_path import (
    MARKER,
    MESSAGES,
    OURS,
    bodies,
    lwa_headers,
    mock_server,
    ours_server,
    run_load,
)

PROFILE_VENV = ROOT / "benchmarks" / ".venv-profile"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "profile-production-path.txt"
CONNECTIONS = 16
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    for candidate in (os.environ.get("PY_SPY"), str(PROFILE_VENV / "bin" / "py-spy"), shutil.which("py-spy")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _has(*parts: str) -> Callable[[str, str], bool]:
    return lambda _func, file: any(p in file for p in parts)


def _parsing(func: str, file: str) -> bool:
    return "json/decoder.py" in file or ("router/" in file and func in ("decode_body", "parse", "loads"))


def _rendering(func: str, file: str) -> bool:
    return "json/encoder.py" in file or (
        "router/http/" in file and func in ("render", "stream_frames", "dumps", "dry_run_frames", "sse")
    )


# py-spy names files relative to their sys.path entry ("botocore/client.py", "threading.py"). Its idle filter
# does not catch threads blocked in C (a lock, a queue, recv), so a sample is first sorted by its leaf frame:
WAITING = "waiting (blocked on a lock, queue or socket: not CPU)"
LEAF_BUCKETS: list[tuple[str, Callable[[str, str], bool]]] = [
    (
        WAITING,
        lambda func, file: (
            (func, file)
            in {
                ("Condition.wait", "threading.py"),
                ("Event.wait", "threading.py"),
                ("Queue.get", "queue.py"),
                ("_worker", "concurrent/futures/thread.py"),
                ("SocketIO.readinto", "socket.py"),
                ("poll_wait_for_socket.<locals>.do_poll", "urllib3/util/wait.py"),
            }
        ),
    ),
    ("event loop in C (uvloop: poll and socket I/O)", lambda func, _file: func == "Runner.run"),
    (
        "request record: blocked on the log handler's lock (threads queue to write their line)",
        lambda func, file: func == "Handler.acquire" and file.startswith("logging/"),
    ),
    (
        "thread hops (GIL hand-off, queues, call_soon_threadsafe)",  # the pump's self time: its sleep(0), i.e. the GIL
        lambda func, file: func.startswith("relay.<locals>.") or func.startswith("Semaphore.") or "anyio/" in file,
    ),
]
# ... then by the first rule any of its frames matches, in this order.
BUCKETS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("botocore client (sign, serialize, send, parse, event stream)", _has("botocore/", "urllib3/", "http/client.py")),
    ("request record (log line, EMF metrics)", _has("router/observability.py", "aws_lambda_powertools/", "logging/")),
    ("routing decision (routing_engine)", _has("routing_engine/")),
    ("parsing (request body, JSON decode)", _parsing),
    ("rendering (response JSON, stream events to SSE frames)", _rendering),
    ("thread hops (GIL hand-off, queues, call_soon_threadsafe)", _has("anyio/", "concurrent/futures/", "queue.py")),
    ("uvicorn HTTP (httptools, protocol)", _has("uvicorn/", "h11/", "httptools/")),
    ("starlette (routing, responses)", _has("starlette/")),
    ("event loop (asyncio)", _has("asyncio/", "uvloop/", "selectors.py")),
    ("router other (service, budgets, translation)", _has("router/", "aws_adapters/")),
]


def bucket_of(frames: list[tuple[str, str]]) -> str:
    leaf = frames[-1]
    for name, rule in LEAF_BUCKETS:
        if rule(*leaf):
            return name
    for name, rule in BUCKETS:
        if any(rule(f, file) for f, file in frames):
            return name
    return "other"


BOTOCORE_STEPS: list[tuple[str, tuple[str, ...]]] = [  # (step, functions one of the sample's frames is in)
    ("socket send/receive and connection set-up (http.client, urllib3)", ("HTTPConnection.send", "create_connection")),
    ("invocation id: uuid4 -> os.urandom per call", ("uuid4",)),
    ("event-stream parsing", ("EventStream._parse_event", "EventStreamBuffer.__next__", "EventStream.__iter__")),
    ("SigV4 signing", ("SigV4Auth.add_auth", "RequestSigner.sign")),
    ("parameter validation", ("ParamValidator.validate", "ParamValidationDecorator.serialize_to_request")),
    ("request serialization", ("Serializer.serialize_to_request", "BaseRestSerializer.serialize_to_request")),
    ("response parsing", ("ResponseParser.parse", "BaseRestParser._do_parse")),
    ("event hooks (HierarchicalEmitter)", ("HierarchicalEmitter._emit",)),
]


def _botocore_step(frames: list[tuple[str, str]]) -> str:
    funcs = {f for f, _ in frames}
    for step, names in BOTOCORE_STEPS:
        if funcs.intersection(names):
            return step
    return "other client code (endpoint, retries context, urllib3 pool)"


def parse_raw(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for part in stack.split(";"):
            m = FRAME.match(part)
            frames.append((m["func"], m["file"]) if m else (part, ""))
        stacks.append((frames, int(count)))
    return stacks


def summarise(stacks: list[tuple[list[tuple[str, str]], int]], top: int = 12) -> list[str]:
    total = sum(n for _, n in stacks) or 1
    buckets: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    router_inclusive: Counter[str] = Counter()
    botocore: Counter[str] = Counter()
    for frames, n in stacks:
        name = bucket_of(frames)
        buckets[name] += n
        if name == WAITING:
            continue
        if name == BUCKETS[0][0]:
            botocore[_botocore_step(frames)] += n
        func, file = frames[-1]
        leaves[f"{func} ({_short(file)})"] += n
        seen = set()
        for func, file in frames:
            if file.startswith(("router/", "aws_adapters/", "routing_engine/")):
                key = f"{func} ({_short(file)})"
                if key not in seen:
                    seen.add(key)
                    router_inclusive[key] += n
    busy = (total - buckets[WAITING]) or 1
    out = [
        f"samples: {total}, of them waiting: {buckets[WAITING]}; shares below are of the {busy} busy samples",
        "",
        "where the time goes (each sample in the first bucket it matches):",
    ]
    out += [f"  {100 * n / busy:5.1f}%  {name}" for name, n in buckets.most_common() if name != WAITING]
    out += ["", "inside the botocore client, by step (busy samples):"]
    out += [f"  {100 * n / busy:5.1f}%  {name}" for name, n in botocore.most_common()]
    out += ["", f"top {top} leaf functions (self time, busy samples):"]
    out += [f"  {100 * n / busy:5.1f}%  {name}" for name, n in leaves.most_common(top)]
    out += ["", f"top {top} router functions (inclusive, busy samples):"]
    out += [f"  {100 * n / busy:5.1f}%  {name}" for name, n in router_inclusive.most_common(top)]
    return out


def _short(file: str) -> str:
    for marker in ("site-packages/", "lambdas/", "/lib/python3"):
        i = file.find(marker)
        if i >= 0:
            return file[i + len(marker) :].lstrip("/")
    return file


def profile(mode: str, spy: str, seconds: float, rate: int, raw_dir: str | None) -> tuple[list[str], float]:
    mock_port = free_port()
    mock = mock_server(mock_port)
    ours = ours_server(free_port(), mock_port)
    with running(mock, ours), tempfile.TemporaryDirectory(prefix="bench-pyspy-") as tmp:
        mock.wait_ready("/v1/chat/completions", timeout_s=30, body={"model": "m", "messages": MESSAGES})
        ours.wait_ready(
            "/v1/chat/completions", timeout_s=60, body={"model": "faq", "messages": MESSAGES}, headers=lwa_headers()
        )
        raw = bodies(OURS, mode, ours.port)
        marker = MARKER if mode == "streamed" else None
        run_load(ours.port, raw, CONNECTIONS, 1.5, marker)  # warm-up
        assert ours.proc is not None
        out = Path(tmp) / "raw.txt"
        spy_proc = subprocess.Popen(
            [spy, "record", "--pid", str(ours.proc.pid), "--duration", str(int(seconds)), "--rate", str(rate)]
            + ["--nonblocking", "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        result: dict = {}
        t = threading.Thread(target=lambda: result.update(r=run_load(ours.port, raw, CONNECTIONS, seconds, marker)))
        t.start()
        t.join()
        _, err = spy_proc.communicate(timeout=seconds + 60)
        if spy_proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"py-spy failed ({spy_proc.returncode}): {err.strip()[-500:]}")
        if raw_dir:
            Path(raw_dir).mkdir(parents=True, exist_ok=True)
            shutil.copy(out, Path(raw_dir) / f"py-spy-{mode}.txt")
        return summarise(parse_raw(out.read_text())), result["r"].rps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=int, default=250)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--raw-dir", help="keep py-spy's raw (collapsed) stacks here, e.g. for flamegraph.pl")
    args = parser.parse_args(argv)
    spy = py_spy()
    if spy is None:
        print("profile skipped: py-spy is not installed (`make bench` installs it into benchmarks/.venv-profile)")
        return 0
    lines = [
        f"py-spy profile of the production path (uvicorn + create_app_from_env + botocore -> mock Bedrock), "
        f"{CONNECTIONS} connections, {args.seconds:g} s per mode, {args.rate} samples/s, idle threads excluded.",
        "Reproduce: python -m benchmarks.profile_production",
    ]
    for mode in ("buffered", "streamed"):
        load_before = os.getloadavg()[0]
        summary, rps = profile(mode, spy, args.seconds, args.rate, args.raw_dir)
        lines += ["", f"== {mode} @ {CONNECTIONS} ({rps:.0f} req/s under the profiler; load {load_before:.2f}) =="]
        lines += summary
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"written to {os.path.relpath(args.out, ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
