"""Claude Code (the `claude` CLI, print mode) against the local server, pointed at it by its own environment
variables, as README.md tells users to point it at the deployed API.

The CLI comes from the npm registry (`@anthropic-ai/claude-code`, pinned below) into a cache folder, once per
machine; `CLAUDE_CODE_BIN` names an installed binary instead. Without npm, or when the install or the binary fails,
the tests skip and say why. The CLI runs with a temporary HOME, in a temporary folder, with
CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 (no telemetry, update or error-report traffic) and every proxy variable
pointed at a closed local port, so it can reach nothing but the local server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

VERSION = "2.1.197"  # the version the wire facts were captured with (docs/decisions.md, the Anthropic API)
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "model-router-tests" / f"claude-code-{VERSION}"
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens, so any other traffic fails at once


def _install() -> Path:
    given = os.environ.get("CLAUDE_CODE_BIN")
    if given:
        return Path(given)
    binary = CACHE / "node_modules" / ".bin" / "claude"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("Claude Code needs npm to install (@anthropic-ai/claude-code); npm is not on PATH")
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", f"@anthropic-ai/claude-code@{VERSION}"],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install @anthropic-ai/claude-code@{VERSION} did not finish in 10 minutes")
    if done.returncode != 0 or not binary.exists():
        pytest.skip(f"npm install @anthropic-ai/claude-code@{VERSION} failed: {done.stderr.strip()[-500:]}")
    return binary


@pytest.fixture(scope="module")
def claude() -> Path:
    binary = _install()
    try:
        probe = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"the Claude Code binary {binary} does not run here: {exc}")
    if probe.returncode != 0:
        pytest.skip(f"the Claude Code binary {binary} does not run here: {probe.stderr.strip()[-300:]}")
    return binary


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


def run_claude(claude: Path, server, tmp_path: Path, prompt: str, *args: str, **env: str) -> dict:
    """`claude -p PROMPT --output-format json` against `server`; its JSON result (with its exit code)."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    environment = {k: v for k, v in os.environ.items() if k in keep}
    environment.update(
        HOME=str(home),
        ANTHROPIC_BASE_URL=server.base_url,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        CLAUDE_CODE_MAX_RETRIES="0",
        HTTPS_PROXY=NOWHERE,
        HTTP_PROXY=NOWHERE,
        https_proxy=NOWHERE,
        http_proxy=NOWHERE,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    environment.update(env)
    done = subprocess.run(
        [str(claude), "-p", prompt, "--output-format", "json", *args],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        result = json.loads(done.stdout)
    except ValueError:
        result = {"result": done.stdout}
    return {**result, "returncode": done.returncode, "stderr": done.stderr}


def anthropic_lines(server, since: int) -> list[dict]:
    return [line for line in server.logs()[since:] if line.get("api") == "anthropic"]


def test_claude_code_answers_through_the_router_streamed_with_a_bearer_token(claude, server, tmp_path):
    since = len(server.logs())
    result = run_claude(
        claude,
        server,
        tmp_path,
        "Say hello",
        "--tools",
        "Read",
        ANTHROPIC_AUTH_TOKEN="cc-token",
        ANTHROPIC_MODEL="claude-sonnet-4-6",
        ANTHROPIC_SMALL_FAST_MODEL="claude-haiku-4-5",
    )
    # Then the CLI printed the simulated model's answer and exited cleanly
    assert result["returncode"] == 0, result
    assert result["result"].startswith("[SIMULATED]") and result["is_error"] is False
    # and the router served its streamed Messages request for the token's caller, on the model asked for
    lines = anthropic_lines(server, since)
    assert lines and all(line["status"] == 200 for line in lines)
    assert any(line.get("stream") for line in lines)
    assert {line["caller"] for line in lines} == {"cc-token"}
    assert {line["model"] for line in lines} <= {"claude-sonnet", "claude-haiku"}


def test_claude_code_runs_a_tool_loop_and_sends_its_signed_thinking_back(claude, server, tmp_path):
    # Given a file, and a prompt that makes the simulated model call Read on it
    notes = tmp_path / "work" / "notes.txt"
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text("the secret word is pelican\n")
    since = len(server.logs())
    result = run_claude(
        claude,
        server,
        tmp_path,
        f"Please call Read with file_path={notes}",
        "--tools",
        "Read",
        ANTHROPIC_API_KEY="cc-key",
        ANTHROPIC_MODEL="claude-sonnet-4-6",
        ANTHROPIC_SMALL_FAST_MODEL="claude-haiku-4-5",
    )
    # Then the CLI ran the tool and sent its result back: two turns, the second answer quoting the tool
    assert result["returncode"] == 0, result
    assert result["num_turns"] == 2
    assert "The tool Read" in result["result"]
    # and, thinking on, the second request carried the first answer's thinking with its signature (the simulated
    # model refuses a reasoning block it did not sign,
    # and the tool turn opening without it is refused too), under the key sent as x-api-key
    lines = anthropic_lines(server, since)
    assert len(lines) >= 2 and all(line["status"] == 200 for line in lines)
    assert {line["caller"] for line in lines} == {"cc-key"}
    thinking = [line for line in lines if line.get("thinking")]
    assert len(thinking) >= 2 and not any("thinking left out" in n for line in thinking for n in line.get("notes", ()))


def test_claude_code_s_default_model_is_a_404_it_reports(claude, server, tmp_path):
    # Claude Code asks for its own default model (claude-opus-4-8), which this router does not serve
    since = len(server.logs())
    result = run_claude(claude, server, tmp_path, "Say hello", "--tools", "", ANTHROPIC_AUTH_TOKEN="cc-token")
    assert result["returncode"] != 0
    lines = anthropic_lines(server, since)
    assert lines and {line["status"] for line in lines} == {404}
    assert "claude-opus-4-8" in result["result"] + result["stderr"]
