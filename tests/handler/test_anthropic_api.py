"""The Anthropic Messages API (`POST /v1/messages`, `/v1/messages/count_tokens`) behind API Gateway: what a client
sends becomes the right Converse request, and what Converse answers comes back in Anthropic's shapes."""

from __future__ import annotations

import base64
import json

import pytest

from tests.handler.test_streaming import sse_events

HAIKU_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET_ID = "us.anthropic.claude-sonnet-4-6"
NOVA_ID = "us.amazon.nova-pro-v1:0"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
REASONING = {"reasoningContent": {"reasoningText": {"text": "The user wants a greeting.", "signature": "sig-abc"}}}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


@pytest.fixture
def router(router_service, routing_config):
    routing_config["models"]["claude-haiku"]["thinking"] = ["enabled"]
    routing_config["models"]["claude-sonnet"]["thinking"] = ["enabled", "adaptive"]
    return router_service(routing_config)


@pytest.fixture
def post(web_adapter):
    def send(body, path="/v1/messages", **options):
        reply = web_adapter.post(path, body, **options)
        content = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else reply.text
        return reply.status_code, content, reply.headers

    return send


def message(text="Hello there", **body) -> dict:
    return {"model": "faq", "max_tokens": 1024, "messages": [{"role": "user", "content": text}], **body}


def events(text: str) -> list[tuple[str, dict]]:
    return [(name, json.loads(data)) for name, data in sse_events(text) if name != ":"]


# --- buffered --------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_a_buffered_answer_is_anthropic_s_message_object_with_usage_and_routing_headers(post, fake_bedrock):
    usage = {"inputTokens": 12, "outputTokens": 5, "totalTokens": 117, "cacheReadInputTokens": 100}
    fake_bedrock.script(HAIKU_ID, {**fake_bedrock.response("Hi!"), "usage": usage})
    status, body, headers = post(message(), headers={"anthropic-version": "2023-06-01", "anthropic-beta": "x-2025"})
    # Then the body is Anthropic's message (the model named as asked), usage has both cache fields
    assert status == 200
    assert body["type"] == "message" and body["role"] == "assistant" and body["id"].startswith("msg_")
    assert body["model"] == "faq"
    assert body["content"] == [{"type": "text", "text": "Hi!"}]
    assert (body["stop_reason"], body["stop_sequence"]) == ("end_turn", None)
    assert body["usage"] == {
        "input_tokens": 12,
        "output_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 100,
    }
    # and the routing facts are in the same x-router-* headers as every API, the request id where the SDK reads it
    assert headers["x-router-route"] == "faq" and headers["x-router-model"] == "claude-haiku"
    assert headers["request-id"] == headers["x-request-id"]


@pytest.mark.usefixtures("router")
def test_system_text_blocks_and_a_system_message_inside_messages_reach_the_model(post, fake_bedrock):
    body = {
        "model": "faq",
        "max_tokens": 256,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "Answer in French."},
        ],
        "context_management": {"edits": []},
    }
    status, answer, _ = post(body)
    assert status == 200, answer
    sent = fake_bedrock.requests[0]
    # Then the system prompt is the text (Claude Code's billing header is not prompt), the system message stays
    # where it was said, marked, and what was dropped is said in the answer
    assert sent["system"] == [{"text": "You are terse."}]
    assert sent["messages"] == [
        {"role": "user", "content": [{"text": "Hi"}, {"text": "<system>\nAnswer in French.\n</system>"}]}
    ]
    notes = answer["x_router"]["notes"]
    assert any("context_management" in n for n in notes) and any("billing-header" in n for n in notes)


@pytest.mark.usefixtures("router")
def test_images_and_documents_become_converse_blocks(post, fake_bedrock):
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "document", "title": "notes", "source": {"type": "text", "media_type": "text/plain", "data": "abc"}},
        {"type": "text", "text": "Describe both"},
    ]
    status, _, _ = post(message(content))
    assert status == 200
    blocks = fake_bedrock.requests[0]["messages"][0]["content"]
    assert blocks[0] == {"image": {"format": "png", "source": {"bytes": base64.b64decode(PNG)}}}
    assert blocks[1]["document"]["format"] == "txt" and blocks[1]["document"]["source"] == {"bytes": b"abc"}
    assert blocks[2] == {"text": "Describe both"}


@pytest.mark.usefixtures("router")
def test_an_image_url_is_refused_with_a_field_and_a_reason(post, fake_bedrock):
    content = [{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]
    status, body, _ = post(message(content))
    assert status == 400 and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error" and "fetches nothing" in body["error"]["message"]
    assert fake_bedrock.requests == []


# --- tools ----------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
@pytest.mark.parametrize(
    ("choice", "converse_choice"),
    [
        ({"type": "auto"}, {"auto": {}}),
        ({"type": "any"}, {"any": {}}),
        ({"type": "tool", "name": "get_weather"}, {"tool": {"name": "get_weather"}}),
    ],
)
def test_tool_choice_maps_to_converse(post, fake_bedrock, choice, converse_choice):
    status, _, _ = post(message("Weather?", tools=[WEATHER], tool_choice=choice))
    assert status == 200
    config = fake_bedrock.requests[0]["toolConfig"]
    assert config["toolChoice"] == converse_choice
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": WEATHER["input_schema"]}


@pytest.mark.usefixtures("router")
def test_tool_choice_none_sends_no_tools_when_the_history_has_no_tool_calls(post, fake_bedrock):
    status, _, _ = post(message("Weather?", tools=[WEATHER], tool_choice={"type": "none"}))
    assert status == 200 and "toolConfig" not in fake_bedrock.requests[0]


@pytest.mark.usefixtures("router")
def test_a_tool_call_comes_back_as_a_tool_use_block(post, fake_bedrock):
    use = {"toolUse": {"toolUseId": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}}
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response(stop_reason="tool_use", content=[use]))
    status, body, _ = post(message("Weather in Paris?", tools=[WEATHER]))
    assert status == 200
    assert body["content"] == [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]
    assert body["stop_reason"] == "tool_use"


@pytest.mark.usefixtures("router")
def test_a_tool_loop_sends_the_call_and_its_failed_result_back(post, fake_bedrock):
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": "service down"}],
        },
    ]
    status, _, _ = post({"model": "faq", "max_tokens": 100, "tools": [WEATHER], "messages": messages})
    assert status == 200
    sent = fake_bedrock.requests[0]["messages"]
    assert sent[1]["content"] == [
        {"toolUse": {"toolUseId": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}}
    ]
    assert sent[2]["content"] == [
        {"toolResult": {"toolUseId": "toolu_1", "content": [{"text": "service down"}], "status": "error"}}
    ]


@pytest.mark.usefixtures("router")
def test_a_server_tool_is_refused(post):
    status, body, _ = post(message(tools=[{"type": "web_search_20250305", "name": "web_search"}]))
    assert status == 400 and body["error"]["code"] == "unsupported_tool"


# --- extended thinking ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_thinking_goes_to_the_model_and_its_signed_reasoning_comes_back_first(post, fake_bedrock):
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response(content=[REASONING, {"text": "Bonjour"}]))
    # (a model named directly: a route's own max_tokens, 512 for faq, would leave no room for a thinking budget)
    status, body, _ = post(
        message(model="claude-haiku", max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048})
    )
    assert status == 200
    assert fake_bedrock.requests[0]["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    }
    assert body["content"] == [
        {"type": "thinking", "thinking": "The user wants a greeting.", "signature": "sig-abc"},
        {"type": "text", "text": "Bonjour"},
    ]


@pytest.mark.usefixtures("router")
def test_a_thinking_block_goes_back_to_the_model_with_its_signature_unchanged(post, fake_bedrock):
    messages = [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "The user wants a greeting.", "signature": "sig-abc"},
                {"type": "redacted_thinking", "data": base64.b64encode(b"opaque").decode()},
                {"type": "text", "text": "Bonjour"},
            ],
        },
        {"role": "user", "content": "Again"},
    ]
    body = {"model": "claude-haiku", "max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    status, _, _ = post({**body, "messages": messages})
    assert status == 200
    assert fake_bedrock.requests[0]["messages"][1]["content"] == [
        REASONING,
        {"reasoningContent": {"redactedContent": b"opaque"}},
        {"text": "Bonjour"},
    ]


@pytest.mark.usefixtures("router")
def test_thinking_for_a_model_that_cannot_think_is_left_out_and_said(post, fake_bedrock):
    # Given the analytics route serves Nova, which has no extended thinking
    status, body, _ = post(message(model="analytics", thinking={"type": "enabled", "budget_tokens": 1024}))
    assert status == 200
    assert "additionalModelRequestFields" not in fake_bedrock.requests[0]
    assert any("thinking left out" in note for note in body["x_router"]["notes"])


@pytest.mark.usefixtures("router")
def test_a_thinking_budget_above_max_tokens_is_lowered_for_the_model(post, fake_bedrock):
    status, body, _ = post(
        message(model="claude-haiku", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 4000})
    )
    assert status == 200
    sent = fake_bedrock.requests[0]
    assert sent["additionalModelRequestFields"]["thinking"]["budget_tokens"] < sent["inferenceConfig"]["maxTokens"]
    assert any("budget lowered" in note for note in body["x_router"]["notes"])


@pytest.mark.usefixtures("router")
def test_thinking_with_a_forced_tool_is_refused_as_anthropic_refuses_it(post, fake_bedrock):
    status, body, _ = post(
        message(tools=[WEATHER], tool_choice={"type": "any"}, thinking={"type": "enabled", "budget_tokens": 1024})
    )
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert fake_bedrock.requests == []


# --- streaming ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_a_stream_is_anthropic_s_event_sequence(post, fake_bedrock):
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response("Hello world", input_tokens=9, output_tokens=2))
    status, text, headers = post(message(stream=True))
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    got = events(text)
    names = [name for name, _ in got]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-4:] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert all(name == data["type"] for name, data in got)  # every frame is named, or the SDK drops it
    start = got[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["model"] == "faq"
    text_out = "".join(d["delta"]["text"] for n, d in got if n == "content_block_delta")
    assert text_out == "Hello world"
    delta = got[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["input_tokens"] == 9 and delta["usage"]["output_tokens"] == 2
    assert headers["x-router-model"] == "claude-haiku"


@pytest.mark.usefixtures("router")
def test_a_streamed_thinking_block_carries_its_deltas_then_its_signature(post, fake_bedrock):
    fake_bedrock.script(
        HAIKU_ID,
        [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm, "}}}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "ok."}}}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig-9"}}}},
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"text": "Done"}}},
            {"contentBlockStop": {"contentBlockIndex": 1}},
            {"messageStop": {"stopReason": "end_turn"}},
            {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 7, "totalTokens": 10}, "metrics": {}}},
        ],
    )
    thinking = {"type": "enabled", "budget_tokens": 1024}
    status, text, _ = post(message(model="claude-haiku", max_tokens=4096, stream=True, thinking=thinking))
    assert status == 200
    got = [(n, d) for n, d in events(text) if n.startswith("content_block")]
    assert got[0][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    deltas = [d["delta"] for n, d in got if n == "content_block_delta"]
    assert deltas == [
        {"type": "thinking_delta", "thinking": "Hmm, "},
        {"type": "thinking_delta", "thinking": "ok."},
        {"type": "signature_delta", "signature": "sig-9"},
        {"type": "text_delta", "text": "Done"},
    ]
    starts = [(d["index"], d["content_block"]["type"]) for n, d in got if n == "content_block_start"]
    assert starts == [(0, "thinking"), (1, "text")]


@pytest.mark.usefixtures("router")
def test_a_streamed_tool_call_sends_its_input_as_json_deltas(post, fake_bedrock):
    use = {"toolUse": {"toolUseId": "toolu_7", "name": "get_weather", "input": {"city": "Paris"}}}
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response(stop_reason="tool_use", content=[use]))
    status, text, _ = post(message("Weather in Paris?", tools=[WEATHER], stream=True))
    assert status == 200
    got = events(text)
    start = next(d for n, d in got if n == "content_block_start")
    assert start["content_block"] == {"type": "tool_use", "id": "toolu_7", "name": "get_weather", "input": {}}
    partial = "".join(d["delta"]["partial_json"] for n, d in got if n == "content_block_delta")
    assert json.loads(partial) == {"city": "Paris"}
    assert next(d for n, d in got if n == "message_delta")["delta"]["stop_reason"] == "tool_use"


@pytest.mark.usefixtures("router")
def test_a_failure_after_the_first_byte_is_an_error_event(post, fake_bedrock):
    fake_bedrock.script(
        HAIKU_ID,
        [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Part"}}},
            fake_bedrock.error("ServiceUnavailableException", "overloaded", 503),
        ],
    )
    status, text, _ = post(message(stream=True))
    assert status == 200
    name, data = events(text)[-1]
    assert name == "error" and data["type"] == "error" and data["error"]["type"] in ("overloaded_error", "api_error")


# --- errors from the one table --------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_an_unknown_model_is_a_404_not_found_error(post):
    status, body, headers = post(message(model="claude-3-opus-20240229"))
    assert status == 404
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert body["request_id"] == headers["request-id"]


@pytest.mark.usefixtures("router")
def test_a_missing_max_tokens_is_a_400_naming_it(post):
    status, body, _ = post({"model": "faq", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]


@pytest.mark.usefixtures("router")
def test_a_body_over_the_limit_is_a_413_request_too_large(post, routing_config):
    status, body, _ = post(message("x" * (routing_config.get("limits", {}).get("max_body_bytes", 1_048_576) + 10)))
    assert status == 413 and body["error"]["type"] == "request_too_large"


@pytest.mark.usefixtures("router")
def test_every_model_throttling_is_a_429_rate_limit_error_with_retry_after(post, fake_bedrock):
    for model_id in (HAIKU_ID, SONNET_ID, NOVA_ID):
        fake_bedrock.fail(model_id, "ThrottlingException", status=429)
    status, body, headers = post(message())
    assert status == 429 and body["error"]["type"] == "rate_limit_error"
    assert "retry-after" in headers


@pytest.mark.usefixtures("router")
def test_every_model_unavailable_is_anthropic_s_529_overloaded_while_openai_keeps_503(post, fake_bedrock):
    fake_bedrock.fail(HAIKU_ID, "ServiceUnavailableException", status=503)
    fake_bedrock.fail(NOVA_ID, "ModelNotReadyException", status=429)
    fake_bedrock.fail(SONNET_ID, "ServiceUnavailableException", status=503)
    status, body, _ = post(message())
    assert status == 529 and body["error"]["type"] == "overloaded_error"
    openai_status, openai_body, _ = post(
        {"model": "faq", "messages": [{"role": "user", "content": "Hello there"}]}, path="/v1/chat/completions"
    )
    assert openai_status == 503 and openai_body["error"]["type"] == "api_error"


@pytest.mark.usefixtures("router")
def test_a_bug_is_a_500_api_error_in_anthropic_s_shape(post, monkeypatch):
    from router.http import anthropic_api

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(anthropic_api, "render", broken)
    status, body, _ = post(message())
    assert status == 500 and body["type"] == "error" and body["error"]["type"] == "api_error"


@pytest.mark.usefixtures("router")
def test_mcp_servers_are_refused(post):
    status, body, _ = post(message(mcp_servers=[{"type": "url", "url": "https://mcp.example.com", "name": "x"}]))
    assert status == 400 and body["error"]["code"] == "unsupported_parameter"


# --- dry run --------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_a_dry_run_decides_and_calls_no_model(post, fake_bedrock):
    status, body, headers = post(message(dry_run=True))
    assert status == 200 and fake_bedrock.requests == []
    assert body["type"] == "message" and body["x_router"]["dry_run"] is True
    assert body["x_router"]["decision"] and headers["x-router-model"] == "claude-haiku"


@pytest.mark.usefixtures("router")
def test_a_streamed_dry_run_is_an_empty_stream_with_the_decision(post, fake_bedrock):
    status, text, _ = post(message(dry_run=True, stream=True))
    assert status == 200 and fake_bedrock.requests == []
    got = events(text)
    assert [n for n, _ in got] == ["message_start", "message_delta", "message_stop"]
    assert got[0][1]["message"]["x_router"]["dry_run"] is True


# --- count_tokens ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_count_tokens_asks_bedrock_for_the_foundation_model(post, fake_bedrock):
    fake_bedrock.counts["anthropic.claude-haiku-4-5-20251001-v1:0"] = 321
    status, body, headers = post(
        {"model": "faq", "messages": [{"role": "user", "content": "Count me"}], "tools": [WEATHER]},
        path="/v1/messages/count_tokens",
    )
    assert status == 200
    assert body["input_tokens"] == 321 and body["estimated"] is False
    assert body["x_router"]["counted_by"] == "bedrock"
    sent = fake_bedrock.count_requests[0]
    assert sent["modelId"] == "anthropic.claude-haiku-4-5-20251001-v1:0"  # no us. profile: CountTokens takes none
    assert sent["input"]["converse"]["messages"] == [{"role": "user", "content": [{"text": "Count me"}]}]
    assert "toolConfig" in sent["input"]["converse"]
    assert headers["x-router-model"] == "claude-haiku"
    assert fake_bedrock.requests == []  # counting calls no model


@pytest.mark.usefixtures("router")
def test_count_tokens_falls_back_to_the_estimate_and_says_why(post, fake_bedrock):
    # Given Nova, which CountTokens refuses
    body = {"model": "analytics", "messages": [{"role": "user", "content": "Count me " * 40}]}
    status, first, _ = post(body, path="/v1/messages/count_tokens")
    assert status == 200
    assert first["estimated"] is True and first["x_router"]["counted_by"] == "estimate"
    assert "ValidationException" in first["x_router"]["reason"]
    assert first["input_tokens"] > 40
    # and a model CountTokens refused is not asked again by this instance
    status, second, _ = post(body, path="/v1/messages/count_tokens")
    assert second["input_tokens"] == first["input_tokens"] and len(fake_bedrock.count_requests) == 1


@pytest.mark.usefixtures("router")
def test_count_tokens_for_an_unknown_model_is_a_404(post):
    status, body, _ = post(
        {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, path="/v1/messages/count_tokens"
    )
    assert status == 404 and body["error"]["type"] == "not_found_error"


# --- GET /v1/models/{id} (the openai SDK's models.retrieve) ------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_a_model_name_can_be_retrieved_and_an_unknown_one_is_model_not_found(web_adapter):
    found = web_adapter.get("/v1/models/claude-sonnet")
    assert found.status_code == 200
    assert found.json() == {
        "id": "claude-sonnet",
        "object": "model",
        "created": 0,
        "owned_by": "model-router",
        "kind": "model",
    }
    missing = web_adapter.get("/v1/models/gpt-4o")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    assert missing.json()["error"]["message"] == "The model `gpt-4o` does not exist or you do not have access to it."
