"""Streaming on both APIs, through the app as the Lambda Web Adapter drives it, with a scripted Bedrock.

Each test sends its request to the app as the Lambda Web Adapter does (`web_adapter`, tests/web_adapter.py: the
caller's request plus API Gateway's request context and the Lambda context in their headers) and reads the
server-sent events as a client would.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from tests.conftest import Pause

HAIKU_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA_ID = "us.amazon.nova-pro-v1:0"
SONNET_ID = "us.anthropic.claude-sonnet-4-6"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) for every event of an SSE body; comment lines come back as (":", comment)."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith(":"):
                out.append((":", line[1:].strip()))
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if data:
            out.append((name, "\n".join(data)))
    return out


def chunks(text: str) -> list[dict]:
    """The OpenAI stream's JSON chunks, asserting it ends with [DONE]."""
    data = [d for name, d in sse_events(text) if name is None]
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


@pytest.fixture
def router(router_service):
    return router_service()


@pytest.fixture
def post(web_adapter):
    def send(path: str, body: dict, **options) -> httpx.Response:
        return web_adapter.post(path, body, **options)

    return send


def chat(**body) -> dict:
    return {"model": "faq", "messages": [{"role": "user", "content": "What is S3?"}], **body}


# --- OpenAI chat.completion.chunk streams ---------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_an_openai_stream_sends_role_then_content_then_finish_then_done(post, fake_bedrock):
    # Given haiku answers a known text
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response("Object storage on AWS."))
    # When a client asks for a stream
    reply = post("/v1/chat/completions", chat(stream=True))
    # Then an SSE stream with the routing facts in its headers, shaped exactly as OpenAI's
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["x-router-model"] == "claude-haiku"
    parts = chunks(reply.text)
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == parts[0]["id"] for c in parts)
    assert parts[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in parts) == "Object storage on AWS."
    assert [c["choices"][0]["finish_reason"] for c in parts][-1] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in parts[:-1])
    # and the model was called through ConverseStream
    assert fake_bedrock.streams and fake_bedrock.model_ids == [HAIKU_ID]


@pytest.mark.usefixtures("router")
def test_include_usage_adds_a_usage_chunk_with_no_choices_before_done(post, fake_bedrock):
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response("Hi.", input_tokens=12, output_tokens=3))
    reply = post("/v1/chat/completions", chat(stream=True, stream_options={"include_usage": True}))
    parts = chunks(reply.text)
    # Then the last chunk before [DONE] carries the usage, and only that one
    assert parts[-1]["choices"] == []
    assert parts[-1]["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert all("usage" not in c for c in parts[:-1])


@pytest.mark.usefixtures("router")
def test_streamed_tool_calls_carry_index_id_name_then_argument_fragments(post, fake_bedrock):
    # Given haiku calls the weather tool
    fake_bedrock.script(
        HAIKU_ID,
        fake_bedrock.response(
            stop_reason="tool_use",
            content=[{"toolUse": {"toolUseId": "tooluse_w1", "name": "get_weather", "input": {"city": "Paris"}}}],
        ),
    )
    # When the tool is offered in a streamed request
    reply = post("/v1/chat/completions", chat(stream=True, tools=[WEATHER_TOOL], tool_choice="auto"))
    parts = chunks(reply.text)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in parts if c["choices"][0]["delta"].get("tool_calls")]
    # Then the first tool-call delta names the call, the rest stream its arguments, and the stop is tool_calls
    assert calls[0] == {
        "index": 0,
        "id": "tooluse_w1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert len(calls) >= 3 and all(c["index"] == 0 and "id" not in c for c in calls[1:])
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris"}
    assert parts[-1]["choices"][0]["finish_reason"] == "tool_calls"
    # and tool_choice reached Converse
    assert fake_bedrock.requests[0]["toolConfig"]["toolChoice"] == {"auto": {}}


@pytest.mark.usefixtures("router")
def test_structured_output_streams_the_json_as_content(post, fake_bedrock):
    # Given the model fills the forced structured-output tool
    fake_bedrock.script(
        HAIKU_ID,
        fake_bedrock.response(
            stop_reason="tool_use",
            content=[
                {"toolUse": {"toolUseId": "t1", "name": "answer", "input": {"city": "Paris", "population": 2100000}}}
            ],
        ),
    )
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    # When a client streams with response_format json_schema
    reply = post(
        "/v1/chat/completions",
        chat(stream=True, response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}),
    )
    parts = chunks(reply.text)
    # Then the content is the JSON answer, the stop is "stop", and no tool call is shown to the client
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in parts)
    assert json.loads(content) == {"city": "Paris", "population": 2100000}
    assert parts[-1]["choices"][0]["finish_reason"] == "stop"
    assert not any(c["choices"][0]["delta"].get("tool_calls") for c in parts)
    assert fake_bedrock.requests[0]["toolConfig"]["toolChoice"] == {"tool": {"name": "answer"}}


# --- our own SSE stream on /v1/route -------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_route_stream_sends_the_decision_first_then_deltas_then_usage_cost_and_latency(post, fake_bedrock):
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response("Paris is the capital.", input_tokens=1000, output_tokens=1000))
    reply = post("/v1/route", {"task": "faq", "prompt": "Capital of France?", "stream": True})
    events = [(name, json.loads(data)) for name, data in sse_events(reply.text) if name != ":"]
    names = [name for name, _ in events]
    # Then routing, deltas, done: in that order
    assert names[0] == "routing" and names[-1] == "done" and set(names[1:-1]) == {"delta"}
    assert events[0][1]["routing"]["model"] == "claude-haiku"
    assert "".join(data["text"] for name, data in events if name == "delta") == "Paris is the capital."
    done = events[-1][1]
    assert done["usage"] == {
        "input_tokens": 1000,
        "output_tokens": 1000,
        "cache_read_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "total_tokens": 2000,
    }
    assert done["cost"]["estimated_usd"] == pytest.approx(0.001 + 0.005)
    assert done["latency_ms"]["first_token"] >= 0 and done["latency_ms"]["total"] >= done["latency_ms"]["first_token"]


# --- failover and failure in a stream ---------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_a_failure_before_the_first_byte_moves_the_stream_to_the_fallback(post, fake_bedrock):
    # Given haiku throttles when the stream is opened and nova-pro streams the answer
    fake_bedrock.fail(HAIKU_ID, "ThrottlingException", "slow down", 429)
    fake_bedrock.script(NOVA_ID, fake_bedrock.response("From Nova."))
    reply = post("/v1/route", {"task": "faq", "prompt": "hi", "stream": True})
    events = [(n, json.loads(d)) for n, d in sse_events(reply.text) if n != ":"]
    # Then the caller gets Nova's stream, and the routing event lists the attempt that failed
    assert reply.headers["x-router-model"] == "nova-pro"
    routing = events[0][1]["routing"]
    assert routing["model"] == "nova-pro" and routing["fallback"] is True
    assert [(a["model"], a["outcome"]) for a in routing["attempts"]] == [("claude-haiku", "error"), ("nova-pro", "ok")]
    assert "".join(d["text"] for n, d in events if n == "delta") == "From Nova."


@pytest.mark.usefixtures("router")
def test_a_failure_after_the_first_byte_ends_the_stream_with_an_error_and_no_other_model(post, fake_bedrock):
    # Given haiku starts answering, then its stream breaks
    fake_bedrock.script(
        HAIKU_ID,
        [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Half an ans"}}},
            fake_bedrock.error("modelStreamErrorException", "the model broke", 424),
        ],
    )
    # When an OpenAI client streams
    reply = post("/v1/chat/completions", chat(stream=True))
    data = [d for n, d in sse_events(reply.text) if n is None]
    # Then the stream ends with an error chunk in OpenAI's error shape (no [DONE]), and no second model was asked
    error = json.loads(data[-1])["error"]
    assert error["code"] == "model_stream_error" and error["type"] == "api_error"
    assert "[DONE]" not in data
    assert fake_bedrock.model_ids == [HAIKU_ID]


@pytest.mark.usefixtures("router")
def test_the_route_api_ends_a_broken_stream_with_an_error_event(post, fake_bedrock):
    fake_bedrock.script(
        HAIKU_ID,
        [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hal"}}},
            fake_bedrock.error("throttlingException", "slow down", 429),
        ],
    )
    reply = post("/v1/route", {"task": "faq", "prompt": "hi", "stream": True})
    events = [(n, json.loads(d)) for n, d in sse_events(reply.text) if n != ":"]
    assert events[-1][0] == "error" and events[-1][1]["error"]["code"] == "model_throttled"
    assert "done" not in [n for n, _ in events]


def test_long_pauses_are_filled_with_comment_keepalives(router_service, fake_bedrock, web_adapter):
    service = router_service()
    web_adapter.serve(service, keepalive_s=0.05)

    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "a"}}},
    ]
    tail = [
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "b"}}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}, "metrics": {}}},
    ]
    fake_bedrock.script(HAIKU_ID, [*events, Pause(0.3), *tail])
    reply = web_adapter.request("POST", "/v1/chat/completions", chat(stream=True))
    # Then comment lines kept the connection alive during the pause, and the answer is whole
    assert (":", "keep-alive") in sse_events(reply.text)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks(reply.text)) == "ab"


def test_a_model_that_reasons_before_it_answers_keeps_the_stream_alive_while_it_thinks(
    router_service, fake_bedrock, web_adapter
):
    # Given a model whose stream opens with reasoning (which OpenAI's wire does not show) and pauses before its text
    service = router_service()
    web_adapter.serve(service, keepalive_s=0.05)
    opening = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "let me think"}}}},
    ]
    tail = [
        {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"text": "42"}}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}, "metrics": {}}},
    ]
    fake_bedrock.script(HAIKU_ID, [*opening, Pause(0.3), *tail])
    reply = web_adapter.request("POST", "/v1/chat/completions", chat(stream=True))
    # Then the response started and comment lines kept it alive while the model thought (a stream that waited for
    # the first text before sending anything would meet an idle timeout on a long think), and the answer is whole
    assert (":", "keep-alive") in sse_events(reply.text)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks(reply.text)) == "42"


@pytest.mark.usefixtures("router")
def test_a_streamed_request_logs_one_line_with_time_to_first_token(
    post, fake_bedrock, captured_stdout, parse_json_lines
):
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response("Hello."))
    captured_stdout.readouterr()
    reply = post("/v1/chat/completions", chat(stream=True))
    assert reply.status_code == 200
    lines = [line for line in parse_json_lines(captured_stdout.readouterr().out) if line.get("api")]
    # Then one line, written when the stream ended, with TTFT as a metric and ModelLatency measured to it
    assert len(lines) == 1
    (line,) = lines
    assert line["stream"] is True and line["output_tokens"] == 20
    assert line["TimeToFirstToken"] >= 0 and "TimeToFirstToken" in {
        m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert "Hello." not in json.dumps(line)


# --- a client that goes away stops the model --------------------------------------------------------------


def _listening_socket() -> socket.socket:
    """A loopback socket bound to a free port, handed to uvicorn as it is: no window in which another process (an
    xdist worker) could take the port between choosing it and binding it. IPPROTO_TCP, so asyncio sets
    TCP_NODELAY on its connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_a_client_that_disconnects_stops_the_bedrock_stream(router_service, fake_bedrock):
    import uvicorn

    from router.http.app import create_app

    # Given a model that streams slowly (a long answer), behind a real HTTP server on loopback
    service = router_service()
    many = [{"messageStart": {"role": "assistant"}}]
    for _ in range(200):
        many += [Pause(0.01), {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "word "}}}]
    fake_bedrock.script(HAIKU_ID, many)
    sock = _listening_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(service, identity="api_key_header"), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.02)
        # When a client reads the first bytes of the stream, then hangs up
        body = json.dumps(chat(stream=True)).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            assert b"200" in conn.recv(4096)
        # Then the router closes the model's stream long before its 200 words were generated
        for _ in range(150):
            if fake_bedrock.streams and fake_bedrock.streams[0].closed:
                break
            time.sleep(0.02)
        stream = fake_bedrock.streams[0]
        assert stream.closed
        assert stream.sent < 150
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.mark.usefixtures("router")
def test_a_dry_run_asked_as_a_stream_is_a_stream_with_the_decision(post, fake_bedrock):
    # When a streaming client asks for a dry run, on either API
    openai = post("/v1/chat/completions", chat(stream=True, dry_run=True))
    ours = post("/v1/route", {"task": "faq", "prompt": "hi", "stream": True, "dry_run": True})
    # Then both answer with an SSE stream that carries the decision and ends properly, and no model is called
    parts = chunks(openai.text)
    assert parts[0]["x_router"]["dry_run"] is True and parts[-1]["choices"][0]["finish_reason"] == "stop"
    events = [(n, json.loads(d)) for n, d in sse_events(ours.text)]
    assert [n for n, _ in events] == ["routing", "done"]
    assert events[0][1]["decision"]["choice"]["model"] == "claude-haiku"
    assert fake_bedrock.requests == []


@pytest.mark.usefixtures("router")
def test_an_unexpected_error_mid_stream_still_ends_the_stream_with_an_error_event(post, fake_bedrock):
    import ssl

    # Given a stream that breaks with something no Converse error code names (a TLS failure)
    fake_bedrock.script(
        HAIKU_ID,
        [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Half"}}},
            ssl.SSLError("decryption failed or bad record mac"),
        ],
    )
    reply = post("/v1/chat/completions", chat(stream=True))
    data = [d for n, d in sse_events(reply.text) if n is None]
    # Then the client is told, in OpenAI's error shape, instead of reading a silently short answer
    assert json.loads(data[-1])["error"]["code"] == "model_stream_error"


@pytest.mark.usefixtures("router")
def test_a_stream_that_fails_before_its_first_content_is_closed_before_the_fallback(post, fake_bedrock):
    fake_bedrock.script(
        HAIKU_ID,
        [
            {"messageStart": {"role": "assistant"}},
            fake_bedrock.error("throttlingException", "slow down", 429),
        ],
    )
    fake_bedrock.script(NOVA_ID, fake_bedrock.response("From Nova."))
    reply = post("/v1/route", {"task": "faq", "prompt": "hi", "stream": True})
    assert reply.headers["x-router-model"] == "nova-pro"
    # the first model's stream was closed, not left to the garbage collector while the fallback answered
    assert fake_bedrock.streams[0].closed


@pytest.mark.slow
def test_a_slow_first_token_moves_the_stream_to_the_fallback_within_the_models_slo_budget(
    router_service, routing_config, post, fake_bedrock
):
    # Given haiku's SLO gives its first token 1 s (0.5 s x 2) when a fallback may follow, and haiku needs 3 s
    routing_config["models"]["claude-haiku"]["latency_slo_ms"] = 500
    routing_config["resilience"] = {"attempt_slo_multiple": 2.0}
    router_service(routing_config)
    fake_bedrock.script(
        HAIKU_ID,
        [
            {"messageStart": {"role": "assistant"}},
            Pause(3.0),
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "late"}}},
        ],
    )
    fake_bedrock.script(NOVA_ID, fake_bedrock.response("From Nova."))
    reply = post("/v1/route", {"task": "faq", "prompt": "hi", "stream": True})
    events = [(n, json.loads(d)) for n, d in sse_events(reply.text) if n != ":"]
    # Then Nova answers, and the attempt log says haiku timed out waiting for its first token (its stream closed:
    # a real one stops at once; this fake finishes its sleep first)
    routing = events[0][1]["routing"]
    assert routing["model"] == "nova-pro"
    assert routing["attempts"][0]["error"] == "Timeout" and "first token" in routing["attempts"][0]["detail"]
    assert fake_bedrock.streams[0].closed


@pytest.mark.slow
def test_a_stream_that_outruns_its_deadline_ends_with_an_error_and_spares_the_breaker(
    router_service, routing_config, post, fake_bedrock
):
    # Given a 1.5 s stream deadline and a model that starts, then pauses for 3 s
    routing_config["resilience"] = {"stream_deadline_ms": 1500}
    service = router_service(routing_config)
    fake_bedrock.script(
        HAIKU_ID,
        [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Sta"}}},
            Pause(3.0),
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "rted"}}},
        ],
    )
    reply = post("/v1/route", {"task": "faq", "prompt": "hi", "stream": True})
    events = [(n, json.loads(d)) for n, d in sse_events(reply.text) if n != ":"]
    # Then the stream ends with an error event at the deadline, and the model is not blamed for it
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["code"] == "request_deadline_exceeded"
    assert service.observed().get("claude-haiku", {}).get("errors", 0) == 0
