"""Start `python -m local.server` as a real process and talk to it over HTTP.

The server picks a free port itself (`--port 0`) and announces it on stderr, so there is no
window between choosing a port and binding it. Its stdout (one JSON log line per request) and
stderr go to files, so a chatty server can never block on a full pipe, and tests can read its logs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_CONFIG = ROOT / "config" / "routing.json"
START_TIMEOUT_S = 30
ANNOUNCED = re.compile(r"local mode on (http://[\d.]+:\d+)")


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: dict


@dataclass
class LocalServer:
    process: subprocess.Popen
    base_url: str
    config_path: Path
    stdout_path: Path
    stderr_path: Path

    def request(
        self, method: str, path: str, body: dict | None = None, *, headers: dict | None = None, timeout: float = 20
    ) -> HttpReply:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return HttpReply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.loads(resp.read()))
        except urllib.error.HTTPError as err:
            return HttpReply(err.code, {k.lower(): v for k, v in err.headers.items()}, json.loads(err.read()))

    def logs(self) -> list[dict]:
        """The server's JSON log lines so far."""
        out = []
        for line in self.stdout_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


def server_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LOCAL_FAULTS", "ROUTER_CONFIG_FILE", "LOCAL_FLAGS_FILE", "PORT")
    }
    env.update(
        LOCAL_LATENCY_SCALE="0",
        PYTHONUNBUFFERED="1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    env.update(extra)
    return env


def server_command(config_path: Path, flags_path: Path, port: int = 0) -> list[str]:
    return [
        sys.executable,
        "-m",
        "local.server",
        "--port",
        str(port),
        "--config",
        str(config_path),
        "--flags",
        str(flags_path),
    ]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def launch(workdir: Path, *, config: dict | None, **env: str) -> LocalServer:
    """Start `python -m local.server` in `workdir` over a copy of the bundled config (or `config`) and wait until
    it answers /v1/health."""
    config_path = workdir / "routing.json"
    if config is None:
        shutil.copyfile(BUNDLED_CONFIG, config_path)
    else:
        config_path.write_text(json.dumps(config, indent=2))
    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            server_command(config_path, workdir / "flags.json"), cwd=ROOT, env=server_env(**env), stdout=out, stderr=err
        )
    server = LocalServer(process, "", config_path, stdout_path, stderr_path)
    try:
        server.base_url = _wait_until_healthy(server)
    except BaseException:
        _stop(process)
        raise
    return server


@pytest.fixture
def start_local_server(tmp_path) -> Callable[..., LocalServer]:
    """`start_local_server(faults=None, config=None)`: a running server over its own copy of the config."""
    started: list[LocalServer] = []

    def start(*, faults: str | None = None, config: dict | None = None) -> LocalServer:
        workdir = tmp_path / f"server-{len(started)}"
        workdir.mkdir()
        server = launch(workdir, config=config, **({"LOCAL_FAULTS": faults} if faults else {}))
        started.append(server)
        return server

    yield start
    for server in started:
        _stop(server.process)


def _wait_until_healthy(server: LocalServer) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    base_url = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"the local server exited with {server.process.returncode}: "
                f"{server.stderr_path.read_text(errors='replace')}"
            )
        if base_url is None:
            found = ANNOUNCED.search(server.stderr_path.read_text(errors="replace"))
            base_url = found.group(1) if found else None
        if base_url is not None:
            try:
                with urllib.request.urlopen(base_url + "/v1/health", timeout=2) as resp:
                    if resp.status == 200:
                        return base_url
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        time.sleep(0.1)
    _stop(server.process)
    pytest.fail(
        f"the local server did not become healthy within {START_TIMEOUT_S} s: "
        f"{server.stderr_path.read_text(errors='replace')}"
    )


@pytest.fixture
def run_local_server_to_exit(tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """`run_local_server_to_exit(faults=..., port=...)`: start a server expected to refuse to start; return how
    it ended (a server that does start runs into the timeout, which fails the test)."""

    def run(*, faults: str | None = None, port: int = 0, timeout_s: float = 60) -> subprocess.CompletedProcess:
        config_path = tmp_path / "routing.json"
        shutil.copyfile(BUNDLED_CONFIG, config_path)
        env = server_env(**({"LOCAL_FAULTS": faults} if faults else {}))
        return subprocess.run(
            server_command(config_path, tmp_path / "flags.json", port),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )

    return run


@pytest.fixture
def local_server(start_local_server) -> LocalServer:
    """A server over a temporary copy of config/routing.json, simulated models, no latency, no faults."""
    return start_local_server()


def wait_for(condition: Callable[[], object], *, timeout_s: float, interval_s: float = 0.1):
    """Poll until `condition()` is truthy; return its value, or None after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)


@pytest.fixture
def poll() -> Callable[..., object]:
    return wait_for


# --- module-scoped servers (for the real-client test modules: one server process per module) ----------------


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory) -> Callable[..., LocalServer]:
    """`start_module_server(latency_scale=0, faults=None, config=None)`: like `start_local_server`, but the server
    lives until the end of the test module, so a module of client tests pays for one process start."""
    started: list[LocalServer] = []

    def start(*, latency_scale: float = 0, faults: str | None = None, config: dict | None = None) -> LocalServer:
        extra = {"LOCAL_LATENCY_SCALE": repr(float(latency_scale))}
        if faults:
            extra["LOCAL_FAULTS"] = faults
        server = launch(tmp_path_factory.mktemp("module-server"), config=config, **extra)
        started.append(server)
        return server

    yield start
    for server in started:
        _stop(server.process)


@pytest.fixture(scope="module")
def module_server(start_module_server) -> LocalServer:
    """One server for the whole module over a copy of config/routing.json: simulated models, no latency, no faults."""
    return start_module_server()


def observed_calls(server: LocalServer) -> int:
    """How many model calls the server has made so far, over all models (from GET /v1/health)."""
    reply = server.request("GET", "/v1/health")
    assert reply.status == 200, reply.body
    return sum(m.get("observed", {}).get("calls", 0) for m in reply.body["models"].values())
