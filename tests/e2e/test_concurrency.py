"""The local server under concurrent load, over loopback only, with bounded request counts.

- With zero simulated latency it takes bursts of 32 and 128 concurrent connections (kept-alive httpx connections,
  and raw sockets that all connect before any of them sends a byte) with no error and no connection reset.
- With a realistic latency scale, GET /v1/health answers while 64 slow requests are in flight: the server does not
  serialize requests behind a lock. Only completion and ordering are asserted, never durations: this machine is
  noisy.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.e2e

REQUESTS_PER_CONNECTION = 3
SLOW_IN_FLIGHT = 64
# claude-opus (route "creative") answers in 1200 ms (config/local-latency.json): at scale 1 an answer of N words
# takes about 0.6 s + 12 ms per token, so 500 words is several seconds, well inside its 15 s latency SLO (no
# fallback, no breaker).
SLOW_PROMPT = "Write 500 words about the history of lighthouses."


@pytest.fixture(scope="module")
def instant_server(module_server):
    return module_server


@pytest.fixture(scope="module")
def realistic_server(start_module_server):
    return start_module_server(latency_scale=1)


def chat_body(i: int, *, stream: bool = False) -> dict:
    return {
        "model": "faq",
        "messages": [{"role": "user", "content": f"Question number {i}: what is new?"}],
        "stream": stream,
    }


async def one_exchange(client: httpx.AsyncClient, i: int) -> str:
    """One request of a mix (buffered chat, streamed chat, our route API); returns its text, raises on error."""
    kind = i % 3
    if kind == 0:
        resp = await client.post("/v1/chat/completions", json=chat_body(i))
        resp.raise_for_status()
        return resp.json()["choices"][0]["message"]["content"]
    if kind == 1:
        text, done = "", False
        async with client.stream("POST", "/v1/chat/completions", json=chat_body(i, stream=True)) as resp:
            resp.raise_for_status()
            async for line in resp.aiter_lines():
                if line == "data: [DONE]":
                    done = True
                elif line.startswith("data: "):
                    chunk = json.loads(line[6:])
                    assert "error" not in chunk, chunk
                    text += "".join(c["delta"].get("content") or "" for c in chunk["choices"])
        assert done, "the stream ended without [DONE]"
        return text
    resp = await client.post("/v1/route", json={"task": "faq", "prompt": f"Question number {i}"})
    resp.raise_for_status()
    return resp.json()["output"]["content"]


@pytest.mark.parametrize("connections", [32, pytest.param(128, marks=pytest.mark.slow)])
def test_concurrent_keep_alive_connections_all_get_answers(instant_server, connections):
    # Given a client allowed `connections` connections at once, each used for a few requests in a row
    async def worker(client: httpx.AsyncClient, w: int) -> list:
        return [await one_exchange(client, w * REQUESTS_PER_CONNECTION + r) for r in range(REQUESTS_PER_CONNECTION)]

    async def run():
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=instant_server.base_url, limits=limits, timeout=60) as client:
            # When every connection sends at once
            return await asyncio.gather(*(worker(client, w) for w in range(connections)), return_exceptions=True)

    results = asyncio.run(run())
    # Then every request got an answer: no error, no reset, no truncated stream
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == [], f"{len(errors)} of {connections} connections failed, first: {errors[:1]!r}"
    texts = [t for r in results for t in r]
    assert len(texts) == connections * REQUESTS_PER_CONNECTION
    assert all(t.startswith("[SIMULATED]") for t in texts)


def test_a_burst_of_128_raw_connections_is_accepted_without_resets(instant_server):
    # Given 128 TCP connections opened at the same moment, before any of them sends a request
    address = urlsplit(instant_server.base_url)
    request = http_request(address, "POST", "/v1/chat/completions", chat_body(0))

    async def run():
        opened = await asyncio.gather(
            *(asyncio.open_connection(address.hostname, address.port) for _ in range(128)), return_exceptions=True
        )
        failures = [c for c in opened if isinstance(c, BaseException)]
        ready = [c for c in opened if not isinstance(c, BaseException)]

        async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
            try:
                writer.write(request)
                await writer.drain()
                return await asyncio.wait_for(reader.read(), timeout=60)  # Connection: close -> read to EOF
            finally:
                writer.close()

        # When each of them then sends one request
        replies = await asyncio.gather(*(exchange(r, w) for r, w in ready), return_exceptions=True)
        return failures, replies

    connect_failures, replies = asyncio.run(run())
    # Then every connection was accepted and answered in full, none reset
    assert connect_failures == []
    errors = [r for r in replies if isinstance(r, BaseException)]
    assert errors == [], f"{len(errors)} exchanges failed, first: {errors[:1]!r}"
    for reply in replies:
        status, _, payload = parse_reply(reply)
        assert status == 200, reply[:200]
        assert json.loads(payload)["choices"][0]["message"]["content"].startswith("[SIMULATED]")


def http_request(address, method: str, path: str, body: dict | None = None) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode() + payload


def parse_reply(reply: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, payload = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, payload


@pytest.mark.slow
def test_health_answers_while_64_slow_requests_are_in_flight(realistic_server):
    # Given a server with realistic simulated latency, and 64 slow requests written to it in full (each on its own
    # connection, so "sent" means its bytes are with the server)
    address = urlsplit(realistic_server.base_url)

    async def run():
        sent = [asyncio.Event() for _ in range(SLOW_IN_FLIGHT)]

        async def slow(i: int) -> bytes:
            reader, writer = await asyncio.open_connection(address.hostname, address.port)
            try:
                writer.write(
                    http_request(
                        address,
                        "POST",
                        "/v1/chat/completions",
                        {"model": "creative", "messages": [{"role": "user", "content": f"{SLOW_PROMPT} (#{i})"}]},
                    )
                )
                await writer.drain()
                sent[i].set()
                return await asyncio.wait_for(reader.read(), timeout=120)
            finally:
                sent[i].set()
                writer.close()

        pending = [asyncio.create_task(slow(i)) for i in range(SLOW_IN_FLIGHT)]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in sent)), timeout=60)
        # When health is asked while they are in flight
        async with httpx.AsyncClient(base_url=realistic_server.base_url, timeout=120) as client:
            health = await client.get("/v1/health")
        still_in_flight = sum(1 for task in pending if not task.done())
        answers = await asyncio.gather(*pending, return_exceptions=True)
        return health, still_in_flight, answers

    health, still_in_flight, answers = asyncio.run(run())
    # Then health answered, and it did so before any of the slow requests had been answered
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert still_in_flight == SLOW_IN_FLIGHT
    # And every slow request was answered in full afterwards, by the model chosen (no timeout, no fallback)
    errors = [a for a in answers if isinstance(a, BaseException)]
    assert errors == [], f"{len(errors)} slow requests failed, first: {errors[:1]!r}"
    replies = [parse_reply(a) for a in answers]
    assert [status for status, _, _ in replies] == [200] * SLOW_IN_FLIGHT
    assert {headers["x-router-model"] for _, headers, _ in replies} == {"claude-opus"}
    assert all(json.loads(body)["choices"][0]["finish_reason"] == "stop" for _, _, body in replies)


def test_streams_abandoned_midway_are_ended_and_logged_as_disconnects(realistic_server, poll):
    # Given 16 long streams (thousands of words each, at a realistic pace) that have started to arrive
    address = urlsplit(realistic_server.base_url)
    streams = 16

    def disconnect_lines() -> list[dict]:
        return [line for line in realistic_server.logs() if line.get("client_disconnected")]

    before = len(disconnect_lines())

    async def run():
        async def abandon(i: int) -> bool:
            reader, writer = await asyncio.open_connection(address.hostname, address.port)
            try:
                writer.write(
                    http_request(
                        address,
                        "POST",
                        "/v1/chat/completions",
                        {
                            "model": "creative",
                            "stream": True,
                            "messages": [{"role": "user", "content": f"Write 3000 words about harbours (#{i})"}],
                        },
                    )
                )
                await writer.drain()
                seen = b""
                while b'"content":"' not in seen.partition(b'"role":"assistant"')[2]:  # a content delta after the role
                    data = await asyncio.wait_for(reader.read(4096), timeout=60)
                    if not data:
                        return False
                    seen += data
                return True
            finally:
                # When the client goes away in the middle of the answer
                writer.close()

        return await asyncio.gather(*(abandon(i) for i in range(streams)))

    started = asyncio.run(run())
    assert all(started)

    # Then the server ends each stream and records the disconnect, one log line per request
    def all_logged() -> list[dict] | None:
        found = disconnect_lines()[before:]
        return found if len(found) >= streams else None

    lines = poll(all_logged, timeout_s=30)
    assert lines, f"only {len(disconnect_lines()) - before} of {streams} disconnects were logged"
    assert all(line["route"] == "creative" and line["stream"] for line in lines)
    # And the server still answers
    assert realistic_server.request("GET", "/v1/health").status == 200
