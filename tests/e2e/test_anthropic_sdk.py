"""The official `anthropic` SDK (sync and async, the `messages.stream` helpers) against the local server, as an
application written for Anthropic's API would use it, with only its base URL changed.

One server process for the module over the bundled configuration (simulated models, no latency); a second, with
faults, for the error cases. The simulated model is deterministic (the same prompt gives the same answer streamed or
not), calls a tool a prompt names, signs its reasoning and refuses a reasoning block whose signature it did not
issue (local/simulated_backend.py).
"""

from __future__ import annotations

import asyncio
import base64

import anthropic
import pytest
from anthropic import Anthropic, AsyncAnthropic

from tests.e2e.conftest import observed_calls

pytestmark = pytest.mark.e2e

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
    },
}
WEATHER_PROMPT = "Please call get_weather for city=Paris, unit=celsius."
# A 1x1 transparent PNG
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
THINKING = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


@pytest.fixture(scope="module")
def client(server) -> Anthropic:
    with Anthropic(base_url=server.base_url, api_key="local-key", max_retries=0, timeout=20) as c:
        yield c


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def text_of(message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def lines_for(server, request_id: str) -> list[dict]:
    return [line for line in server.logs() if line.get("request_id") == request_id]


# --- plain answers -----------------------------------------------------------------------------------------------


def test_sync_client_gets_a_message_with_usage_and_routing_facts(client):
    raw = client.messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=256, system="Be brief.", messages=ask("What are your opening hours?")
    )
    message = raw.parse()
    # Then it is an ordinary Message from the simulated model, under the name the application used
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "claude-haiku-4-5"
    assert text_of(message).startswith("[SIMULATED]")
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.usage.cache_creation_input_tokens == 0 and message.usage.cache_read_input_tokens == 0
    # And the routing facts are in the headers; the SDK reads the request id from request-id
    assert raw.headers["x-router-model"] == "claude-haiku"
    assert message._request_id == raw.headers["x-request-id"]


def test_async_client_gets_whole_and_streamed_answers_alike(server):
    async def run():
        async with AsyncAnthropic(base_url=server.base_url, api_key="local-key", max_retries=0) as aclient:
            whole = await aclient.messages.create(model="faq", max_tokens=256, messages=ask("Tell me about owls"))
            async with aclient.messages.stream(model="faq", max_tokens=256, messages=ask("Tell me about owls")) as s:
                pieces = [text async for text in s.text_stream]
                final = await s.get_final_message()
            return whole, pieces, final

    whole, pieces, final = asyncio.run(run())
    assert len(pieces) > 1 and "".join(pieces) == text_of(whole) == text_of(final)
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_the_stream_helper_sees_anthropic_s_events_in_order(client):
    with client.messages.stream(model="faq", max_tokens=256, messages=ask("Say something")) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.index("content_block_start") < kinds.index("content_block_delta") < kinds.index("content_block_stop")
    assert kinds[-2] == "message_delta"
    assert final.stop_reason == "end_turn" and text_of(final).startswith("[SIMULATED]")


def test_max_tokens_cuts_the_answer_with_stop_reason_max_tokens(client):
    message = client.messages.create(model="faq", max_tokens=5, messages=ask("write 300 words about owls"))
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 5


def test_a_stop_sequence_ends_the_answer_and_is_named(client):
    message = client.messages.create(
        model="faq", max_tokens=256, stop_sequences=["simulated answer"], messages=ask("Hello")
    )
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "simulated answer"
    assert "simulated answer" not in text_of(message)


def test_an_image_is_accepted(client):
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}
    message = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=128,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is in this image?"}]}],
    )
    assert text_of(message).startswith("[SIMULATED]")
    assert base64.b64decode(PIXEL)  # the fixture is real base64


def test_cache_control_and_sampling_parameters_are_accepted(client):
    # Given breakpoints on the system prompt, a tool and a message, and temperature/top_k sent as the 2023-06-01
    # API took them (SDK 2.x no longer types them, so through extra_body)
    message = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=128,
        system=[{"type": "text", "text": "You are a weather bot.", "cache_control": {"type": "ephemeral"}}],
        tools=[{**WEATHER, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}
        ],
        extra_body={"temperature": 0.2, "top_k": 20},
    )
    assert message.stop_reason == "end_turn"
    assert message.usage.cache_read_input_tokens == 0  # caching is not placed yet: said as 0, not left out


def test_beta_headers_are_accepted(client):
    message = client.beta.messages.create(
        model="faq", max_tokens=64, betas=["interleaved-thinking-2025-05-14"], messages=ask("Hello")
    )
    assert text_of(message).startswith("[SIMULATED]")


# --- tools -------------------------------------------------------------------------------------------------------


def test_a_prompt_naming_a_tool_gets_a_tool_use_block(client):
    message = client.messages.create(model="faq", max_tokens=256, tools=[WEATHER], messages=ask(WEATHER_PROMPT))
    (call,) = [b for b in message.content if b.type == "tool_use"]
    assert message.stop_reason == "tool_use"
    assert call.name == "get_weather" and call.input == {"city": "Paris", "unit": "celsius"}


def test_a_streamed_tool_call_assembles_to_the_same_input(client):
    with client.messages.stream(model="faq", max_tokens=256, tools=[WEATHER], messages=ask(WEATHER_PROMPT)) as s:
        deltas = [e for e in s if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
        final = s.get_final_message()
    (call,) = [b for b in final.content if b.type == "tool_use"]
    assert len(deltas) > 1 and call.input == {"city": "Paris", "unit": "celsius"}


def test_a_tool_loop_runs_to_a_text_answer_that_uses_the_result(client):
    # Given an agent loop: ask, run the tool the model calls, send the result back, until the model answers
    messages = ask(WEATHER_PROMPT)
    for _ in range(3):
        reply = client.messages.create(model="faq", max_tokens=256, tools=[WEATHER], messages=messages)
        if reply.stop_reason != "tool_use":
            break
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]})
        results = [
            {"type": "tool_result", "tool_use_id": b.id, "content": f"18 degrees in {b.input['city']}"}
            for b in reply.content
            if b.type == "tool_use"
        ]
        messages.append({"role": "user", "content": results})
    # Then it ended in a text answer quoting the tool's result, after exactly one tool call
    assert reply.stop_reason == "end_turn"
    assert "The tool get_weather returned: 18 degrees in Paris." in text_of(reply)
    assert len(messages) == 3


def test_tool_choice_forces_the_named_tool_and_none_answers_in_text(client):
    forced = client.messages.create(
        model="faq",
        max_tokens=256,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=ask("Hello"),
    )
    assert [b.type for b in forced.content] == ["tool_use"]
    plain = client.messages.create(
        model="faq", max_tokens=256, tools=[WEATHER], tool_choice={"type": "none"}, messages=ask(WEATHER_PROMPT)
    )
    assert plain.stop_reason == "end_turn" and [b.type for b in plain.content] == ["text"]


# --- extended thinking -------------------------------------------------------------------------------------------


def test_thinking_comes_back_signed_and_goes_back_for_the_next_turn(client):
    first = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=2048, thinking=THINKING, messages=ask("Is 17 prime?")
    )
    assert [b.type for b in first.content] == ["thinking", "text"]
    assert first.content[0].thinking and first.content[0].signature
    # When the next turn carries the assistant's whole content back, as the docs require
    history = [
        *ask("Is 17 prime?"),
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": "And 19?"},
    ]
    second = client.messages.create(model="claude-sonnet-4-6", max_tokens=2048, thinking=THINKING, messages=history)
    # Then the model accepted the signature (the simulated model refuses one it did not issue)
    assert second.content[0].type == "thinking"
    # and a tampered signature is refused, as Claude refuses it
    history[1]["content"][0]["signature"] = "forged"
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=2048, thinking=THINKING, messages=history)
    assert "signature" in caught.value.body["error"]["message"]


def test_a_thinking_tool_loop_must_send_the_thinking_block_back_with_the_tool_call(client):
    ask_weather = ask(WEATHER_PROMPT)
    call = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=2048, thinking=THINKING, tools=[WEATHER], messages=ask_weather
    )
    assert [b.type for b in call.content] == ["thinking", "tool_use"]
    use = call.content[1]
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 degrees"}]}
    whole = [b.model_dump(exclude_none=True) for b in call.content]
    answer = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=2048,
        thinking=THINKING,
        tools=[WEATHER],
        messages=[*ask_weather, {"role": "assistant", "content": whole}, result],
    )
    assert answer.stop_reason == "end_turn" and "18 degrees" in text_of(answer)
    # A client that drops the thinking block from the tool-call turn is refused, as Claude refuses it
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=2048,
            thinking=THINKING,
            tools=[WEATHER],
            messages=[*ask_weather, {"role": "assistant", "content": whole[1:]}, result],
        )


def test_streamed_thinking_arrives_as_thinking_and_signature_deltas(client):
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=2048, thinking=THINKING, messages=ask("Is 17 prime?")
    ) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "thinking_delta" in deltas and deltas.index("signature_delta") < deltas.index("text_delta")
    whole = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=2048, thinking=THINKING, messages=ask("Is 17 prime?")
    )
    assert final.content[0].signature == whole.content[0].signature
    assert final.content[0].thinking == whole.content[0].thinking


def test_thinking_sent_to_a_model_without_it_is_left_out_and_noted(client):
    message = client.messages.create(model="nova-pro", max_tokens=2048, thinking=THINKING, messages=ask("Hello"))
    assert [b.type for b in message.content] == ["text"]
    assert any("thinking left out" in note for note in message.model_extra["x_router"]["notes"])


# --- count_tokens ------------------------------------------------------------------------------------------------


def test_count_tokens_is_bedrock_s_count_for_a_claude_model(client):
    counted = client.messages.count_tokens(
        model="claude-sonnet-4-6", system="Be brief.", messages=ask("How many tokens is this?")
    )
    answered = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, system="Be brief.", messages=ask("How many tokens is this?")
    )
    assert counted.model_extra["estimated"] is False
    assert counted.input_tokens == answered.usage.input_tokens


def test_count_tokens_for_nova_is_the_router_s_estimate_and_says_so(client):
    counted = client.messages.count_tokens(model="nova-pro", messages=ask("How many tokens is this?"))
    assert counted.input_tokens > 0
    assert counted.model_extra["estimated"] is True and counted.model_extra["x_router"]["counted_by"] == "estimate"


# --- identity, dry run, errors -----------------------------------------------------------------------------------


def test_the_caller_is_the_key_the_sdk_sends_x_api_key_first(server):
    # The SDK 2.x sends its key as Authorization: Bearer; an x-api-key header (what API Gateway usage plans read)
    # wins when both are sent
    with Anthropic(base_url=server.base_url, api_key="bearer-key", max_retries=0) as bearer:
        by_bearer = bearer.messages.with_raw_response.create(model="faq", max_tokens=16, messages=ask("hi"))
    with Anthropic(
        base_url=server.base_url, api_key="bearer-key", default_headers={"x-api-key": "header-key"}, max_retries=0
    ) as both:
        by_header = both.messages.with_raw_response.create(model="faq", max_tokens=16, messages=ask("hi"))
    assert lines_for(server, by_bearer.headers["request-id"])[-1]["caller"] == "bearer-key"
    assert lines_for(server, by_header.headers["request-id"])[-1]["caller"] == "header-key"


def test_dry_run_decides_without_calling_a_model(client, server):
    before = observed_calls(server)
    message = client.messages.create(model="auto", max_tokens=64, messages=ask("Hello"), extra_body={"dry_run": True})
    assert message.model_extra["x_router"]["dry_run"] is True
    assert message.model_extra["x_router"]["decision"]
    assert observed_calls(server) == before


def test_an_unknown_model_raises_not_found_with_the_names(client):
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="claude-3-opus-20240229", max_tokens=16, messages=ask("hi"))
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert "claude-sonnet-4-6" in caught.value.body["error"]["message"]
    assert caught.value.request_id


def test_a_refused_block_raises_bad_request(client):
    url_image = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="faq", max_tokens=16, messages=[{"role": "user", "content": [url_image]}])
    assert caught.value.body["error"]["type"] == "invalid_request_error"


@pytest.fixture(scope="module")
def failing(start_module_server):
    """Sonnet and Haiku unavailable (so a request for either finds no model), Opus streams that break midway."""
    return start_module_server(
        faults="claude-sonnet=ServiceUnavailableException,claude-haiku=ServiceUnavailableException,"
        "claude-opus=stream_error"
    )


def test_no_model_available_raises_overloaded_529(failing):
    with (
        Anthropic(base_url=failing.base_url, api_key="k", max_retries=0) as c,
        pytest.raises(anthropic.APIStatusError) as caught,
    ):
        c.messages.create(model="claude-sonnet-4-6", max_tokens=16, messages=ask("hi"))
    assert caught.value.status_code == 529 and caught.value.body["error"]["type"] == "overloaded_error"


def test_a_stream_that_fails_midway_raises_in_the_sdk(failing):
    with (
        Anthropic(base_url=failing.base_url, api_key="k", max_retries=0) as c,
        pytest.raises(anthropic.APIStatusError) as caught,
        c.messages.stream(model="claude-opus-4-6", max_tokens=256, messages=ask("write 50 words")) as s,
    ):
        for _ in s:
            pass
    assert caught.value.body["type"] == "error"
