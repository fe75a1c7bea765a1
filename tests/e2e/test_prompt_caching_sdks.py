"""Prompt caching end to end (issue 16, item 2): the real `anthropic` and `openai` SDKs against the local server,
whose simulated backend keeps a per-process prompt cache (local/simulated_backend.py). A repeated prefix up to a
cache point is written on the first call and read on the next; the cached tokens show in each API's own usage
fields and make the repeat cheaper (cache reads cost a tenth of input)."""

from __future__ import annotations

import uuid

import pytest
from anthropic import Anthropic
from openai import OpenAI

pytestmark = pytest.mark.e2e

# About 6,000 tokens to the simulated model (4 characters a token): above Claude Haiku 4.5's 4,096 minimum.
MANUAL = " ".join(f"Rule {i}: answer politely, cite the manual section, never guess a part number." for i in range(300))


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


def cost_of(server, request_id: str) -> float:
    (line,) = [line for line in server.logs() if line.get("request_id") == request_id]
    return line["cost_usd"]


def test_anthropic_cache_control_on_a_long_system_prompt_is_read_on_the_repeat(server):
    system = [{"type": "text", "text": f"{MANUAL} ({uuid.uuid4()})", "cache_control": {"type": "ephemeral"}}]
    with Anthropic(base_url=server.base_url, api_key="local-key", max_retries=0, timeout=20) as client:
        first = client.messages.create(
            model="claude-haiku-4-5", max_tokens=128, system=system, messages=[{"role": "user", "content": "Hi"}]
        )
        second = client.messages.create(
            model="claude-haiku-4-5", max_tokens=128, system=system, messages=[{"role": "user", "content": "Hi"}]
        )
        with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=128, system=system, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            streamed = stream.get_final_message()
    # The first call writes the system prompt to the cache, the second reads it
    assert first.usage.cache_creation_input_tokens > 4096 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens < first.usage.cache_creation_input_tokens
    # And streamed, the usage in message_start/message_delta says the same
    assert streamed.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    # And the repeat costs less: reads at 0.1x input against writes at 1.25x
    first_cost, second_cost = cost_of(server, first._request_id), cost_of(server, second._request_id)
    assert second_cost < first_cost / 5


def test_openai_client_on_an_auto_cache_route_gets_cached_tokens_on_the_repeat(server):
    client = OpenAI(base_url=f"{server.base_url}/v1", api_key="local-key", max_retries=0, timeout=20)
    # tech_support has auto_cache_points (config/routing.json) and is served by Claude Sonnet 4.6 (1,024 minimum)
    messages = [
        {"role": "system", "content": f"{MANUAL} ({uuid.uuid4()})"},
        {"role": "user", "content": "My printer jams. What should I check?"},
    ]
    raw = client.chat.completions.with_raw_response.create(model="tech_support", messages=messages, max_tokens=128)
    first, first_id = raw.parse(), raw.headers["x-request-id"]
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    # The next turn repeats the conversation so far: the prefix written by the first call is read
    messages += [
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "And after that?"},
    ]
    raw = client.chat.completions.with_raw_response.create(model="tech_support", messages=messages, max_tokens=128)
    second, second_id = raw.parse(), raw.headers["x-request-id"]
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached > 1024
    assert second.usage.prompt_tokens > cached  # prompt_tokens counts the cached ones too, as OpenAI's does
    # Streamed with include_usage, the usage chunk carries it too
    chunks = list(
        client.chat.completions.create(
            model="tech_support",
            messages=messages,
            max_tokens=128,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens >= cached
    # And the log line prices the cached tokens: the longer second turn costs less than the first
    assert cost_of(server, second_id) < cost_of(server, first_id)
