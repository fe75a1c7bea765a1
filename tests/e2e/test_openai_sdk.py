"""The official `openai` SDK (sync and async) against the local server, as a user's application would use it.

One server process for the module (simulated models, no latency). The simulated model is deterministic, so the
same prompt gives the same answer streamed or not, and a prompt that names an offered tool gets a call to it
(see local/simulated_backend.py).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request

import jsonschema
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.e2e.conftest import observed_calls

pytestmark = pytest.mark.e2e

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": WEATHER_PARAMETERS,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Current time in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
]
WEATHER_PROMPT = "Please call get_weather for city=Paris, unit=celsius."
PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["name", "age", "email", "tags"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


@pytest.fixture(scope="module")
def client(server) -> OpenAI:
    with OpenAI(base_url=f"{server.base_url}/v1", api_key="local", max_retries=0, timeout=20) as c:
        yield c


def async_client(server) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key="local", max_retries=0, timeout=20)


def ask(text: str) -> list[dict]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def collect(chunks) -> dict:
    """Fold a stream of chat.completion.chunk objects the way an application does."""
    out: dict = {"chunks": [], "roles": [], "content": "", "finish_reasons": [], "tool_calls": {}, "usage": None}
    for chunk in chunks:
        out["chunks"].append(chunk)
        if chunk.usage is not None:
            out["usage"] = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.role:
                out["roles"].append(delta.role)
            if delta.content:
                out["content"] += delta.content
            for call in delta.tool_calls or ():
                slot = out["tool_calls"].setdefault(
                    call.index, {"id": None, "name": "", "arguments": "", "fragments": 0}
                )
                if call.id:
                    slot["id"] = call.id
                if call.function and call.function.name:
                    slot["name"] += call.function.name
                if call.function and call.function.arguments:
                    slot["arguments"] += call.function.arguments
                    slot["fragments"] += 1
            if choice.finish_reason:
                out["finish_reasons"].append(choice.finish_reason)
    return out


# --- plain answers -----------------------------------------------------------------------------------------------


def test_sync_client_gets_a_whole_answer_with_routing_facts(client):
    # When the sync client asks the faq route, reading the raw response too
    raw = client.chat.completions.with_raw_response.create(model="faq", messages=ask("What are your opening hours?"))
    completion = raw.parse()
    # Then it is an ordinary chat.completion from the simulated model
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content.startswith("[SIMULATED]")
    assert choice.finish_reason == "stop"
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    # And the routing facts are in the headers and in x_router
    assert raw.headers["x-router-route"] == "faq"
    assert raw.headers["x-router-model"] == "claude-haiku"
    assert completion.model_extra["x_router"]["model"] == "claude-haiku"


def test_async_client_gets_whole_and_streamed_answers(server):
    # Given the async client
    async def run():
        async with async_client(server) as aclient:
            # When it asks once without streaming and once with, concurrently
            whole, stream = await asyncio.gather(
                aclient.chat.completions.create(model="faq", messages=ask("Tell me about owls")),
                aclient.chat.completions.create(model="faq", messages=ask("Tell me about owls"), stream=True),
            )
            chunks = [chunk async for chunk in stream]
            return whole, chunks

    whole, chunks = asyncio.run(run())
    folded = collect(chunks)
    # Then both carry the same (deterministic) answer
    assert whole.choices[0].message.content.startswith("[SIMULATED]")
    assert folded["content"] == whole.choices[0].message.content
    assert folded["roles"] == ["assistant"]
    assert folded["finish_reasons"] == ["stop"]


# --- streaming ---------------------------------------------------------------------------------------------------


def test_streamed_deltas_reassemble_to_the_whole_answer(client):
    # Given the whole answer to a prompt
    prompt = ask("Explain how tides work in 60 words")
    whole = client.chat.completions.create(model="faq", messages=prompt)
    # When the same prompt is streamed
    raw = client.chat.completions.with_raw_response.create(model="faq", messages=prompt, stream=True)
    headers = raw.headers
    folded = collect(raw.parse())
    chunks = folded["chunks"]
    # Then the routing facts arrived in the headers, before any content
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-router-model"] == "claude-haiku"
    # And the first chunk carries the role, the content comes in many deltas and joins to the whole answer
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert folded["roles"] == ["assistant"]
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 10
    assert folded["content"] == whole.choices[0].message.content
    # And the last chunk (no usage was asked for) has the finish reason; every chunk has one id
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert folded["finish_reasons"] == ["stop"]
    assert folded["usage"] is None
    assert len({c.id for c in chunks}) == 1


def test_include_usage_adds_a_final_usage_chunk_with_no_choices(client):
    # Given the usage of the whole answer
    whole = client.chat.completions.create(model="faq", messages=ask("How do I reset my password?"))
    # When the same prompt is streamed with stream_options.include_usage
    chunks = list(
        client.chat.completions.create(
            model="faq",
            messages=ask("How do I reset my password?"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    # Then the final chunk has empty choices and the usage, and no other chunk has usage
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert last.usage.completion_tokens == whole.usage.completion_tokens
    assert last.usage.prompt_tokens == whole.usage.prompt_tokens
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    # And the chunk before it ends the choice
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_max_tokens_cuts_the_answer_with_finish_reason_length(client):
    # When a caller allows only 5 output tokens, whole and streamed
    whole = client.chat.completions.create(model="faq", messages=ask("Describe the sea"), max_tokens=5)
    streamed = collect(
        client.chat.completions.create(
            model="faq",
            messages=ask("Describe the sea"),
            max_tokens=5,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    # Then the answer is cut there and says so
    assert whole.choices[0].finish_reason == "length"
    assert whole.usage.completion_tokens == 5
    assert streamed["finish_reasons"] == ["length"]
    assert streamed["usage"].completion_tokens == 5
    assert streamed["content"] == whole.choices[0].message.content


def test_max_completion_tokens_is_honoured_like_max_tokens(client):
    # When a newer client sends max_completion_tokens instead of max_tokens
    completion = client.chat.completions.create(model="faq", messages=ask("Describe the sea"), max_completion_tokens=3)
    # Then the answer is cut there too
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 3


def test_a_stream_that_fails_midway_raises_in_the_sdk(start_module_server):
    # Given a server whose faq model fails every stream after its first tokens
    failing = start_module_server(faults="claude-haiku=stream_error:1.0")
    with OpenAI(base_url=f"{failing.base_url}/v1", api_key="local", max_retries=0, timeout=20) as c:
        # When a client streams from it
        received = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in c.chat.completions.create(model="faq", messages=ask("Hello"), stream=True):
                received.append(chunk)
    # Then it got the first tokens and then an error it can see (not a silently short answer)
    assert any(ch.choices and ch.choices[0].delta.content for ch in received)
    assert caught.value.message
    assert not any(ch.choices and ch.choices[0].finish_reason for ch in received)


def test_a_stop_sequence_ends_the_answer_before_it(client):
    # When the caller stops at "Fingerprint" (the simulated answer's last sentence starts with it)
    completion = client.chat.completions.create(model="faq", messages=ask("Hello"), stop=["Fingerprint"])
    # Then the answer ends just before it, as a normal stop
    assert completion.choices[0].finish_reason == "stop"
    content = completion.choices[0].message.content
    assert content.startswith("[SIMULATED]") and "Fingerprint" not in content


# --- tools -------------------------------------------------------------------------------------------------------


def test_a_prompt_naming_a_tool_gets_a_tool_call(client):
    # When tools are offered and the prompt names one
    completion = client.chat.completions.create(model="faq", messages=ask(WEATHER_PROMPT), tools=TOOLS)
    # Then the answer is a call to it, with JSON arguments that fit its parameters
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, WEATHER_PARAMETERS)
    assert arguments["city"] == "Paris"


def test_a_streamed_tool_call_assembles_from_fragments(client):
    # Given the whole tool call for a prompt
    whole = client.chat.completions.create(model="faq", messages=ask(WEATHER_PROMPT), tools=TOOLS)
    # When the same request is streamed
    folded = collect(
        client.chat.completions.create(
            model="faq", messages=ask(WEATHER_PROMPT), tools=TOOLS, stream=True, stream_options={"include_usage": True}
        )
    )
    # Then one call arrives at index 0: id and name first, arguments in several fragments that join to valid JSON
    assert list(folded["tool_calls"]) == [0]
    call = folded["tool_calls"][0]
    assert call["id"] == whole.choices[0].message.tool_calls[0].id
    assert call["name"] == "get_weather"
    assert call["fragments"] > 1
    arguments = json.loads(call["arguments"])
    jsonschema.validate(arguments, WEATHER_PARAMETERS)
    assert arguments == json.loads(whole.choices[0].message.tool_calls[0].function.arguments)
    # And the stream ends the way OpenAI's does for tool calls
    assert folded["content"] == ""
    assert folded["finish_reasons"] == ["tool_calls"]
    assert folded["usage"].completion_tokens > 0


def test_a_tool_result_gets_a_text_answer_that_uses_it(client):
    # Given the model asked for get_weather
    first = client.chat.completions.create(model="faq", messages=ask(WEATHER_PROMPT), tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    # When the application runs the tool and sends its result back
    messages = [
        *ask(WEATHER_PROMPT),
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
    ]
    second = client.chat.completions.create(model="faq", messages=messages, tools=TOOLS)
    # Then the model answers in text, quoting the result
    assert second.choices[0].finish_reason == "stop"
    assert not second.choices[0].message.tool_calls
    assert "18 degrees and sunny" in second.choices[0].message.content


def test_tool_choice_required_forces_a_call(client):
    # When the prompt names no tool but tool_choice is "required"
    completion = client.chat.completions.create(
        model="faq", messages=ask("What should I wear today?"), tools=TOOLS, tool_choice="required"
    )
    # Then the model still calls a tool
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name in {"get_weather", "get_time"}
    json.loads(choice.message.tool_calls[0].function.arguments)


def test_tool_choice_naming_a_function_calls_that_function(client):
    # When the prompt names get_weather but tool_choice names get_time, whole and streamed
    kwargs = {
        "model": "faq",
        "messages": ask(WEATHER_PROMPT),
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_time"}},
    }
    whole = client.chat.completions.create(**kwargs)
    streamed = collect(client.chat.completions.create(**kwargs, stream=True))
    # Then the named function is called
    assert whole.choices[0].message.tool_calls[0].function.name == "get_time"
    assert json.loads(whole.choices[0].message.tool_calls[0].function.arguments)["city"] == "Paris"
    assert streamed["tool_calls"][0]["name"] == "get_time"
    assert streamed["finish_reasons"] == ["tool_calls"]


def test_tool_choice_none_answers_in_text(client):
    # When the prompt names a tool but tool_choice is "none"
    completion = client.chat.completions.create(
        model="faq", messages=ask(WEATHER_PROMPT), tools=TOOLS, tool_choice="none"
    )
    # Then the answer is text
    assert completion.choices[0].finish_reason == "stop"
    assert not completion.choices[0].message.tool_calls
    assert completion.choices[0].message.content.startswith("[SIMULATED]")


# --- structured output -------------------------------------------------------------------------------------------


def test_json_object_mode_answers_with_a_json_object(client):
    # When the caller asks for JSON mode, whole and streamed
    kwargs = {
        "model": "faq",
        "messages": ask("Give me a JSON object describing a cat"),
        "response_format": {"type": "json_object"},
    }
    whole = client.chat.completions.create(**kwargs)
    streamed = collect(client.chat.completions.create(**kwargs, stream=True))
    # Then the content is a JSON object, the turn ends normally, and no tool call leaks out
    assert isinstance(json.loads(whole.choices[0].message.content), dict)
    assert whole.choices[0].finish_reason == "stop"
    assert not whole.choices[0].message.tool_calls
    assert isinstance(json.loads(streamed["content"]), dict)
    assert streamed["tool_calls"] == {}
    assert streamed["finish_reasons"] == ["stop"]


def test_json_schema_answers_validate_against_the_schema(client):
    # When the caller asks for a strict JSON schema, whole and streamed
    kwargs = {
        "model": "faq",
        "messages": ask("Make up a person, name=Ada"),
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True},
        },
    }
    whole = client.chat.completions.create(**kwargs)
    streamed = collect(client.chat.completions.create(**kwargs, stream=True))
    # Then the content parses as JSON and validates against the schema, in both
    person = json.loads(whole.choices[0].message.content)
    jsonschema.validate(person, PERSON_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert person["name"] == "Ada"
    assert whole.choices[0].finish_reason == "stop"
    assert json.loads(streamed["content"]) == person
    assert streamed["finish_reasons"] == ["stop"]


def test_the_sdk_parse_helper_returns_the_pydantic_object(client):
    # Given a pydantic model, as the SDK's own structured-output helper takes it
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int

    # When the caller uses chat.completions.parse
    completion = client.chat.completions.parse(
        model="faq", messages=ask("Make up a person, name=Grace"), response_format=Person
    )
    # Then the SDK hands back a parsed Person
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person)
    assert person.name == "Grace"


# --- what does not exist, and what is not a model call -----------------------------------------------------------


@pytest.mark.parametrize("name", ["gpt-4o", "tech-support", "us.anthropic.claude-haiku-4-5-20251001-v1:0"])
def test_an_unknown_model_is_a_404_that_lists_the_names(client, name):
    # When the caller names a model the router does not know (an OpenAI name, a typo, a raw Bedrock id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model=name, messages=ask("hi"))
    # Then the SDK raises NotFoundError with OpenAI's code, and the message lists what exists
    err = caught.value
    assert err.status_code == 404
    assert err.code == "model_not_found"
    assert name in err.message
    for known in ("faq", "tech_support", "creative", "claude-haiku"):
        assert known in err.message
    # And a streamed request is refused the same way, before any stream
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=name, messages=ask("hi"), stream=True)


def test_models_retrieve_returns_a_listed_name_and_raises_not_found_for_others(client):
    # models.retrieve (GET /v1/models/{id}): every name models.list gives can be retrieved as itself
    listed = {model.id for model in client.models.list()}
    assert "claude-sonnet-4-6" in listed and "faq" in listed
    for name in ("faq", "claude-sonnet-4-6"):
        model = client.models.retrieve(name)
        assert (model.id, model.object, model.owned_by) == (name, "model", "model-router")
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-4o")
    assert caught.value.code == "model_not_found"


def test_dry_run_from_extra_body_decides_without_calling_a_model(client, server):
    # Given the number of model calls the server has made so far
    before = observed_calls(server)
    # When the caller asks for a dry run through extra_body
    completion = client.chat.completions.create(
        model="faq", messages=ask("What are your opening hours?"), extra_body={"dry_run": True}
    )
    # Then the answer is the decision, marked as a dry run, with nothing generated
    x_router = completion.model_extra["x_router"]
    assert x_router["dry_run"] is True
    assert x_router["route"] == "faq" and x_router["model"] == "claude-haiku"
    assert "decision" in x_router
    assert completion.usage.completion_tokens == 0
    # And no model was called
    assert observed_calls(server) == before
    # While a real request is counted (so the count above would have moved)
    client.chat.completions.create(model="faq", messages=ask("What are your opening hours?"))
    assert observed_calls(server) == before + 1


def post_raw(server, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{server.base_url}/v1/chat/completions",
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "Authorization": "Bearer local"},
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize(
    "body, code",
    [
        (b"{not json", "invalid_json"),
        (b'{"model": "faq"}', None),  # no messages
        (b'{"model": "faq", "messages": "hello"}', None),  # messages of the wrong type
        (b'{"model": "faq", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -3}', None),
        (b'{"model": "faq", "messages": []}', "empty_messages"),
    ],
)
def test_a_malformed_body_is_a_4xx_with_a_machine_readable_code(server, body, code):
    # When a client sends a body the API cannot take
    status, reply = post_raw(server, body)
    # Then it gets a 4xx in OpenAI's error shape, with a code a program can branch on
    assert 400 <= status < 500
    error = reply["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    if code is not None:
        assert error["code"] == code


def test_the_sdk_raises_bad_request_with_the_code_for_a_refused_parameter(client):
    # When the SDK sends a value the router refuses (two choices)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="faq", messages=ask("hi"), n=2)
    # Then the SDK exposes the code and the parameter
    assert caught.value.status_code == 400
    assert caught.value.code
    assert caught.value.param == "n"


def test_a_streamed_dry_run_is_a_stream_that_carries_the_decision(client, server):
    # Given the number of model calls so far
    before = observed_calls(server)
    # When a streaming client (as chat UIs are) asks for a dry run
    chunks = list(
        client.chat.completions.create(
            model="faq", messages=ask("What are your opening hours?"), stream=True, extra_body={"dry_run": True}
        )
    )
    # Then no model is called, and the stream still ends properly and says what would have been done
    assert observed_calls(server) == before
    assert chunks, "the stream was empty"
    assert chunks[-1].choices and chunks[-1].choices[0].finish_reason == "stop"
    assert any((c.model_extra or {}).get("x_router", {}).get("dry_run") for c in chunks)
