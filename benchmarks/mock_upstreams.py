"""A fast local mock of both upstreams the production-path benchmark needs, on one port:

    python -m benchmarks.mock_upstreams --port 18801 [--tokens 20]

- OpenAI chat completions, `POST /v1/chat/completions` (what Portkey and LiteLLM forward to), buffered JSON or,
  with `"stream": true`, server-sent events (one HTTP chunk per `data:` frame, then `data: [DONE]`).
- Bedrock Runtime Converse, `POST /model/{modelId}/converse` (JSON), and ConverseStream,
  `POST /model/{modelId}/converse-stream`: AWS event-stream binary framing (prelude with total and header lengths,
  its CRC32, string headers `:event-type` / `:content-type` / `:message-type`, a JSON payload, the message CRC32),
  one HTTP chunk per event: messageStart, a contentBlockDelta per token, contentBlockStop, messageStop, metadata.
  The real botocore client parses it (tests/unit/test_bench_mock_upstreams.py checks that).

Both answer the same text, `--tokens` pieces ("Tok0 ", "w1 ", ...), with no delay: each answer is built once at
start and written in one call, so what a benchmark measures is the server in front of the mock. The first piece,
`FIRST_TOKEN`, marks the first content for time-to-first-token. A hand-written asyncio protocol (uvloop when
installed) rather than a framework: HTTP/1.1 keep-alive, Content-Length request bodies only. Nothing here is
checked: no signature, no API key. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import zlib

FIRST_TOKEN = "Tok0"
DEFAULT_TOKENS = 20
INPUT_TOKENS = 12


def pieces(n: int) -> list[str]:
    return [f"{FIRST_TOKEN} "] + [f"w{i} " for i in range(1, n)]


# --- AWS event-stream framing ---------------------------------------------------------------------------


def _string_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value


def event_message(event_type: str, payload: dict) -> bytes:
    """One event-stream message: prelude (total length, headers length), prelude CRC32, headers, payload, CRC32."""
    headers = (
        _string_header(":event-type", event_type)
        + _string_header(":content-type", "application/json")
        + _string_header(":message-type", "event")
    )
    body = json.dumps(payload, separators=(",", ":")).encode()
    prelude = struct.pack(">II", 12 + len(headers) + len(body) + 4, len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def converse_stream_events(n: int) -> list[bytes]:
    events = [event_message("messageStart", {"role": "assistant"})]
    events += [event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in pieces(n)]
    events.append(event_message("contentBlockStop", {"contentBlockIndex": 0}))
    events.append(event_message("messageStop", {"stopReason": "end_turn"}))
    usage = {"inputTokens": INPUT_TOKENS, "outputTokens": n, "totalTokens": INPUT_TOKENS + n}
    events.append(event_message("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}))
    return events


def converse_body(n: int) -> bytes:
    return json.dumps(
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "".join(pieces(n))}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": INPUT_TOKENS, "outputTokens": n, "totalTokens": INPUT_TOKENS + n},
            "metrics": {"latencyMs": 1},
        }
    ).encode()


# --- OpenAI ----------------------------------------------------------------------------------------------


def openai_body(n: int) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 1,
            "model": "mock",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "".join(pieces(n))}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": INPUT_TOKENS, "completion_tokens": n, "total_tokens": INPUT_TOKENS + n},
        }
    ).encode()


def openai_frames(n: int) -> list[bytes]:
    def chunk(delta: dict, finish: str | None) -> bytes:
        body = {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "mock",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    frames = [chunk(({"role": "assistant"} if i == 0 else {}) | {"content": p}, None) for i, p in enumerate(pieces(n))]
    frames.append(chunk({}, "stop"))
    frames.append(b"data: [DONE]\n\n")
    return frames


# --- HTTP ------------------------------------------------------------------------------------------------


def _head(status: str, content_type: str, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n{extra}".encode()


def fixed(content_type: str, body: bytes, extra: str = "") -> bytes:
    return _head("200 OK", content_type, extra) + f"content-length: {len(body)}\r\n\r\n".encode() + body


def chunked(content_type: str, parts: list[bytes], extra: str = "") -> bytes:
    out = [_head("200 OK", content_type, extra) + b"transfer-encoding: chunked\r\n\r\n"]
    out += [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts]
    out.append(b"0\r\n\r\n")
    return b"".join(out)


class Answers:
    def __init__(self, n: int):
        rid = "x-amzn-requestid: 00000000-0000-4000-8000-000000000000\r\n"
        self.openai = fixed("application/json", openai_body(n))
        self.openai_stream = chunked("text/event-stream", openai_frames(n), "cache-control: no-cache\r\n")
        self.converse = fixed("application/json", converse_body(n), rid)
        self.converse_stream = chunked("application/vnd.amazon.eventstream", converse_stream_events(n), rid)
        self.not_found = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"

    def pick(self, path: bytes, body: bytes) -> bytes:
        if path.startswith(b"/model/"):
            if path.endswith(b"/converse-stream"):
                return self.converse_stream
            if path.endswith(b"/converse"):
                return self.converse
        elif path.startswith(b"/v1/chat/completions"):
            try:
                streamed = bool(json.loads(body or b"{}").get("stream"))
            except ValueError:
                streamed = False
            return self.openai_stream if streamed else self.openai
        return self.not_found


class _Protocol(asyncio.Protocol):
    def __init__(self, answers: Answers):
        self.answers = answers
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            lower = head.lower()
            length = 0
            i = lower.find(b"\r\ncontent-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i + 2)
                length = int(lower[i + 17 : j if j >= 0 else len(lower)])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            path = head.split(b" ", 2)[1]
            assert self.transport is not None
            self.transport.write(self.answers.pick(path, body))


async def serve(port: int, tokens: int) -> None:
    answers = Answers(tokens)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Protocol(answers), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS)
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.run(serve(args.port, args.tokens))
    except ImportError:
        asyncio.run(serve(args.port, args.tokens))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
