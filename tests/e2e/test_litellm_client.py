"""LiteLLM as a client of the router (its `openai/` provider pointed at the local server), as a team that already
calls models through LiteLLM would wire the router in.

LITELLM_LOCAL_MODEL_COST_MAP=True is set before LiteLLM is imported, so it reads its bundled cost map instead of
fetching one over the network. One server process for the module (simulated models, no latency).
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: LiteLLM reads it at import time
litellm = pytest.importorskip("litellm")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm"),
]  # its own pydantic usage

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a router for?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


@pytest.fixture(scope="module")
def call(server):
    """`call(**kwargs)`: litellm.completion against the local server's faq route."""

    def complete(**kwargs):
        params = {
            "model": "openai/faq",
            "api_base": f"{server.base_url}/v1",
            "api_key": "local",
            "messages": MESSAGES,
            "timeout": 20,
            "num_retries": 0,
        }
        params.update(kwargs)
        return litellm.completion(**params)

    return complete


def test_completion_returns_the_simulated_answer(call):
    # When LiteLLM asks the faq route, not streaming
    response = call()
    # Then it returns a ModelResponse with the answer, the finish reason and usage
    choice = response.choices[0]
    assert choice.message.content.startswith("[SIMULATED]")
    assert choice.finish_reason == "stop"
    assert response.usage.completion_tokens > 0
    assert response.usage.prompt_tokens > 0


def test_streamed_completion_reassembles_to_the_same_answer(call):
    # Given the whole answer
    whole = call().choices[0].message.content
    # When LiteLLM streams the same request
    chunks = list(call(stream=True))
    # Then the deltas join to the same text, and the stream ends with finish_reason stop
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == whole
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 10
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]


def test_stream_chunk_builder_rebuilds_a_whole_response_with_usage(call):
    # When the stream (with usage) is rebuilt with LiteLLM's own helper
    chunks = list(call(stream=True, stream_options={"include_usage": True}))
    rebuilt = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    # Then it is the whole answer with the server's token counts
    whole = call()
    assert rebuilt.choices[0].message.content == whole.choices[0].message.content
    assert rebuilt.usage.completion_tokens == whole.usage.completion_tokens


def test_async_streaming_works_too(server):
    # When LiteLLM's async API streams
    async def run():
        stream = await litellm.acompletion(
            model="openai/faq",
            api_base=f"{server.base_url}/v1",
            api_key="local",
            messages=MESSAGES,
            stream=True,
            timeout=20,
            num_retries=0,
        )
        return [chunk async for chunk in stream]

    chunks = asyncio.run(run())
    # Then the answer arrives in pieces and ends normally
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content.startswith("[SIMULATED]")
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


def test_tool_calls_reach_litellm(call):
    # When tools are offered through LiteLLM and the prompt names one
    response = call(messages=[{"role": "user", "content": "Use get_weather for city=Lima"}], tools=TOOLS)
    # Then LiteLLM returns the call with its JSON arguments
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == "get_weather"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Lima"}


def test_an_unknown_model_is_litellm_s_not_found_error(server):
    # When LiteLLM names a model the router does not have
    with pytest.raises(litellm.NotFoundError) as caught:
        litellm.completion(
            model="openai/gpt-4o",
            api_base=f"{server.base_url}/v1",
            api_key="local",
            messages=MESSAGES,
            timeout=20,
            num_retries=0,
        )
    # Then LiteLLM maps the 404 to its NotFoundError, with the router's message listing what exists
    assert caught.value.status_code == 404
    assert "gpt-4o" in str(caught.value)  # LiteLLM keeps the message (not the code) in its exception
    assert "faq" in str(caught.value) and "tech_support" in str(caught.value)
