"""The production-path benchmark's mock Bedrock must speak the wire the real botocore client parses: Converse JSON
and ConverseStream's AWS event-stream frames (CRC32-checked), and its OpenAI side the format the peers forward."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from benchmarks import mock_upstreams

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]


@pytest.fixture(scope="module")
def mock_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    task: list[asyncio.Task] = []
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        task.append(loop.create_task(mock_upstreams.serve(port, 5)))
        loop.call_later(0.2, ready.set)
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task[0])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield port
    loop.call_soon_threadsafe(task[0].cancel)
    thread.join(10)


def client(port: int):
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_botocore_reads_a_converse_answer(mock_port):
    reply = client(mock_port).converse(modelId=MODEL, messages=MESSAGES)
    assert reply["output"]["message"]["content"] == [{"text": "Tok0 w1 w2 w3 w4 "}]
    assert reply["stopReason"] == "end_turn"
    assert reply["usage"]["outputTokens"] == 5


def test_botocore_reads_every_converse_stream_event(mock_port):
    events = list(client(mock_port).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
    assert [next(iter(e)) for e in events] == [
        "messageStart",
        *["contentBlockDelta"] * 5,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:6]) == "Tok0 w1 w2 w3 w4 "
    assert events[-1]["metadata"]["usage"]["totalTokens"] == mock_upstreams.INPUT_TOKENS + 5


def test_a_frame_with_a_wrong_checksum_is_refused():
    frame = bytearray(mock_upstreams.event_message("messageStop", {"stopReason": "end_turn"}))
    parsed = EventStreamBuffer()
    parsed.add_data(bytes(frame))
    assert next(iter(parsed)).headers[":event-type"] == "messageStop"
    frame[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    broken = EventStreamBuffer()
    broken.add_data(bytes(frame))
    with pytest.raises(ChecksumMismatch):
        next(iter(broken))


def test_the_openai_side_streams_sse_frames_ending_in_done(mock_port):
    request = urllib.request.Request(
        f"http://127.0.0.1:{mock_port}/v1/chat/completions",
        data=json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
    frames = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    text = "".join(json.loads(f)["choices"][0]["delta"].get("content", "") for f in frames[:-1])
    assert text == "Tok0 w1 w2 w3 w4 "
