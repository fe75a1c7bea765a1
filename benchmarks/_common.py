"""Shared pieces of the benchmarks: percentiles, a quiet stdout, servers started and stopped as child processes
on 127.0.0.1, a lean HTTP/1.1 load client, and a compact table printer.

The load client is deliberately small (raw asyncio streams, keep-alive, pre-built request bytes, just enough
HTTP parsing for Content-Length and chunked bodies) so that what it measures is the server, not the client.
Nothing here sends traffic anywhere but 127.0.0.1, and every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PROMPT = "What are your opening hours on public holidays?"


# --- numbers ---------------------------------------------------------------------------------------


def load_old_complexity(path: str):
    """`complexity_score` of an old routing_engine/complexity.py (its complexity_weights.json beside it), for
    before/after measurements: `git show f054429:lambdas/routing_engine/complexity.py` and its weights file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("old_complexity", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.complexity_score


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], digits: int = 2) -> str:
    """The range over rounds, to print beside a median: 'lo–hi'."""
    if not values:
        return "-"
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = [title, line]
    for n, row in enumerate(cells):
        out.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
        if n == 0:
            out.append(line)
    out.append(line)
    return "\n".join(out)


@contextlib.contextmanager
def quiet_stdout():
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


# --- child servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def bench_env(**extra: str) -> dict[str, str]:
    """The environment the router's processes get: the Lambda's Powertools settings, tracing off."""
    env = {
        **os.environ,
        "POWERTOOLS_SERVICE_NAME": "model-router",
        "POWERTOOLS_METRICS_NAMESPACE": "ModelRouter",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
        "ROUTER_CONFIG_FILE": str(ROOT / "config" / "routing.json"),
    }
    env.pop("LOCAL_FAULTS", None)
    # The Lambda asset ships bytecode (stacks/lambda_asset.py): the router's processes here read and write theirs as
    # well, even where the shell says not to (PYTHONDONTWRITEBYTECODE), or every fresh process would compile the
    # router from source, which no deployed cold start does.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    env: dict[str, str]
    cwd: str = str(ROOT)
    proc: subprocess.Popen | None = None
    started_at: float = 0.0

    def start(self) -> Server:
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and any worker it forked
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def wait_ready(
        self,
        path: str,
        *,
        timeout_s: float,
        body: dict | None = None,
        headers: dict | None = None,
        poll_s: float = 0.005,
    ) -> float:
        """Poll until `path` answers 200; seconds since start(). Raises if the process dies or time runs out."""
        raw = request_bytes(path, body, headers=headers, method="GET" if body is None else "POST", port=self.port)
        deadline = self.started_at + timeout_s
        while time.perf_counter() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it was ready")
            try:
                status = asyncio.run(_one_shot(self.port, raw))
                if status == 200:
                    return time.perf_counter() - self.started_at
            except OSError:
                pass
            time.sleep(poll_s)
        raise RuntimeError(f"{self.name} was not ready after {timeout_s} s")


async def _one_shot(port: int, raw: bytes) -> int:
    conn = await Connection.open(port)
    try:
        status, _, _ = await conn.request(raw)
        return status
    finally:
        conn.close()


@contextlib.contextmanager
def running(*servers: Server):
    try:
        for s in servers:
            s.start()
        yield servers
    finally:
        for s in servers:
            s.stop()


# --- the load client -------------------------------------------------------------------------------


def request_bytes(
    path: str, body: dict | None, *, headers: dict | None = None, method: str = "POST", port: int = 0
) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"host: {HOST}:{port}", "user-agent: bench", "accept: */*"]
    if body is not None:
        lines += ["content-type: application/json", f"content-length: {len(payload)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class Connection:
    """One keep-alive HTTP/1.1 connection; `request` returns (status, seconds to first `marker`, seconds total)."""

    def __init__(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.port = port
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(port, reader, writer)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    async def request(self, raw: bytes, marker: bytes | None = None) -> tuple[int, float | None, float]:
        clock = time.perf_counter
        started = clock()
        self.writer.write(raw)
        reader = self.reader
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        first: float | None = None
        closing = b"\r\nconnection: close" in lower
        i = lower.find(b"\r\ncontent-length:")
        if i >= 0:
            n = int(lower[i + 17 : lower.index(b"\r\n", i + 2)])
            data = await reader.readexactly(n)
            if marker is not None and marker in data:
                first = clock() - started
        elif b"\r\ntransfer-encoding: chunked" in lower:
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                data = await reader.readexactly(size + 2)
                if first is None and marker is not None and marker in data:
                    first = clock() - started
        else:
            await reader.read()
            closing = True
        total = clock() - started
        if closing:
            self.close()
            new = await Connection.open(self.port)
            self.reader, self.writer = new.reader, new.writer
        return status, first, total


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # connection-level failures (resets, refused, timeouts)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def failed(self) -> int:
        return self.errors + sum(n for s, n in self.statuses.items() if s != 200)

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0


async def _load(
    port: int,
    raw: bytes,
    *,
    concurrency: int,
    requests: int,
    duration_s: float,
    marker: bytes | None,
    per_request_timeout_s: float,
) -> LoadResult:
    result = LoadResult()
    remaining = [requests]
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker() -> None:
        conn: Connection | None = None
        while remaining[0] > 0 and time.perf_counter() < deadline:
            remaining[0] -= 1
            try:
                if conn is None:
                    conn = await asyncio.wait_for(Connection.open(port), per_request_timeout_s)
                status, first, total = await asyncio.wait_for(conn.request(raw, marker), per_request_timeout_s)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
                result.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                continue
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.latencies_ms.append(total * 1000)
            if first is not None:
                result.first_ms.append(first * 1000)
        if conn is not None:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - started
    return result


def load(
    port: int,
    raw: bytes,
    *,
    concurrency: int = 1,
    requests: int = 1000,
    duration_s: float = 10.0,
    marker: bytes | None = None,
    per_request_timeout_s: float = 10.0,
) -> LoadResult:
    """Send `raw` over `concurrency` keep-alive connections until `requests` were sent or `duration_s` passed."""
    return asyncio.run(
        _load(
            port,
            raw,
            concurrency=concurrency,
            requests=requests,
            duration_s=duration_s,
            marker=marker,
            per_request_timeout_s=per_request_timeout_s,
        )
    )


# --- LiteLLM's proxy ----------------------------------------------------------------------------------

LITELLM_MASTER_KEY = (
    "sk-bench-3f9c2a7e41d84b0c9e6f5a1d2b7c8e90"  # a local-only key: the proxy refuses to start without one
)
LITELLM_VENV = ROOT / "benchmarks" / ".venv-litellm"


def litellm_command() -> list[str] | None:
    """The `litellm` CLI: $LITELLM_BIN, else benchmarks/.venv-litellm (made by `make bench`), else on PATH,
    else next to this interpreter. None when LiteLLM's proxy is not installed."""
    import shutil

    for candidate in (
        os.environ.get("LITELLM_BIN"),
        str(LITELLM_VENV / "bin" / "litellm"),
        shutil.which("litellm"),
        str(Path(sys.executable).parent / "litellm"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return [candidate]
    return None


def litellm_config(path: Path, models: dict[str, str]) -> Path:
    """A proxy config with mock deployments (`mock_response`: no network call), as LiteLLM documents for load tests."""
    lines = ["model_list:"]
    for name, answer in models.items():
        lines += [
            f"  - model_name: {name}",
            "    litellm_params:",
            "      model: openai/x",
            "      api_key: sk-mock",
            f"      api_base: http://{HOST}:9/v1",
            f"      mock_response: {json.dumps(answer)}",
        ]
    lines += ["litellm_settings:", "  telemetry: false", "general_settings:", f"  master_key: {LITELLM_MASTER_KEY}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def litellm_server(config: Path, port: int, name: str = "litellm-proxy") -> Server | None:
    """LiteLLM's proxy with `config`, on `port` (None when its venv is missing); `name` labels it in the output."""
    cmd = litellm_command()
    if cmd is None:
        return None
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "NO_PROXY": "*",
    }
    return Server(
        name,
        [*cmd, "--config", str(config), "--host", HOST, "--port", str(port)],
        port,
        env,
        cwd=str(config.parent),
    )
