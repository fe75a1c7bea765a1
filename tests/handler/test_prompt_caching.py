"""Prompt caching through the router (issue 16, item 2): the cache points each API's request becomes on Converse,
fitted to the model's catalog entry, and the cached tokens in each API's usage and in the cost."""

from __future__ import annotations

import pytest

from tests.handler.test_anthropic_api import HAIKU_ID, NOVA_ID, WEATHER, events

CLAUDE_CACHING = {"min_tokens": 1024, "ttls": ["5m", "1h"]}
CLAUDE_CACHE_PRICES = {"cache_read_per_million": 0.1, "cache_write_per_million": 1.25, "cache_write_1h_per_million": 2}
POINT = {"cachePoint": {"type": "default"}}


@pytest.fixture
def router(router_service, routing_config):
    haiku = routing_config["models"]["claude-haiku"]
    haiku["prompt_caching"] = CLAUDE_CACHING
    haiku["price"] |= CLAUDE_CACHE_PRICES
    nova = routing_config["models"]["nova-pro"]
    nova["prompt_caching"] = {"fields": ["system", "messages"], "min_tokens": 1000}
    nova["price"] |= {"cache_read_per_million": 0.2, "cache_write_per_million": 0.8}
    routing_config["routes"]["faq"]["auto_cache_points"] = True
    routing_config["routes"]["analytics"]["auto_cache_points"] = True
    return router_service(routing_config)


@pytest.fixture
def post(web_adapter):
    def send(body, path="/v1/messages"):
        reply = web_adapter.post(path, body)
        is_json = reply.headers.get("content-type", "").startswith("application/json")
        return reply.status_code, reply.json() if is_json else reply.text

    return send


def marked(model: str) -> dict:
    """An Anthropic request with cache_control on a tool, the system prompt and the latest user text."""
    return {
        "model": model,
        "max_tokens": 256,
        "tools": [{**WEATHER, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}
        ],
    }


@pytest.mark.usefixtures("router")
def test_anthropic_cache_control_becomes_converse_cache_points_where_the_model_caches(post, fake_bedrock):
    status, answer = post(marked("claude-haiku"))
    assert status == 200, answer
    sent = fake_bedrock.requests[0]
    # Then each breakpoint is a cachePoint after what it marks (1h kept: Haiku 4.5 takes it)
    assert sent["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert sent["system"] == [{"text": "You are terse."}, POINT]
    assert sent["messages"] == [{"role": "user", "content": [{"text": "Hi"}, POINT]}]
    assert not [n for n in answer["x_router"].get("notes", []) if "cache" in n]


@pytest.mark.usefixtures("router")
def test_a_field_the_model_cannot_cache_is_dropped_with_a_note(post, fake_bedrock):
    status, answer = post(marked("nova-pro"))
    assert status == 200, answer
    sent = fake_bedrock.requests[0]
    assert sent["modelId"] == NOVA_ID
    # Then Nova gets no tools point (it caches system and messages only), the others stay, and the trace says so
    assert all("cachePoint" not in tool for tool in sent["toolConfig"]["tools"])
    assert sent["system"][-1] == POINT and sent["messages"][0]["content"][-1] == POINT
    assert "cache_control dropped on tools: nova-pro does not cache tools" in answer["x_router"]["notes"]


@pytest.mark.usefixtures("router")
def test_a_model_without_caching_gets_no_cache_points_and_a_note(post, fake_bedrock):
    status, answer = post(marked("claude-sonnet"))
    assert status == 200, answer
    sent = fake_bedrock.requests[0]
    assert "cachePoint" not in str(sent)
    assert "cache_control dropped: claude-sonnet has no prompt caching" in answer["x_router"]["notes"]


@pytest.mark.usefixtures("router")
def test_more_than_four_breakpoints_keep_the_tools_system_and_the_latest_turns(post, fake_bedrock):
    body = marked("claude-haiku")
    turn = {"type": "text", "text": "more", "cache_control": {"type": "ephemeral"}}
    body["messages"] = [
        {"role": "user", "content": [turn]},
        {"role": "assistant", "content": [turn]},
        {"role": "user", "content": [turn, {**turn, "text": "last"}]},
    ]
    status, answer = post(body)
    assert status == 200, answer
    sent = fake_bedrock.requests[0]
    assert str(sent).count("cachePoint") == 4
    # tools and system kept, then the two latest message points; the first two message points dropped
    assert [POINT in m["content"] for m in sent["messages"]] == [False, False, True]
    assert sent["messages"][2]["content"] == [{"text": "more"}, POINT, {"text": "last"}, POINT]
    assert any("2 of 6 cache points dropped" in n for n in answer["x_router"]["notes"])


@pytest.mark.usefixtures("router")
def test_an_auto_cache_route_places_points_for_an_openai_client(post, fake_bedrock):
    body = {
        "model": "faq",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "What is the weather?"},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]}}],
    }
    usage = {"inputTokens": 10, "outputTokens": 5, "cacheReadInputTokens": 2000, "cacheWriteInputTokens": 100}
    fake_bedrock.script(HAIKU_ID, {**fake_bedrock.response("Sunny."), "usage": usage})
    status, answer = post(body, "/v1/chat/completions")
    assert status == 200, answer
    sent = fake_bedrock.requests[0]
    # Then: after the tools, after the system prompt, at the end of the latest turn
    assert sent["toolConfig"]["tools"][-1] == POINT
    assert sent["system"] == [{"text": "Be brief."}, POINT]
    assert sent["messages"][-1]["content"] == [{"text": "What is the weather?"}, POINT]
    assert [POINT in m["content"] for m in sent["messages"]] == [False, False, True]
    # And OpenAI's usage counts the cached tokens in prompt_tokens and says how many were read
    assert answer["usage"]["prompt_tokens"] == 2110
    assert answer["usage"]["prompt_tokens_details"] == {"cached_tokens": 2000, "cache_write_tokens": 100}
    # And the cost prices them: 10 x $1 + 2000 x $0.10 + 100 x $1.25 + 5 x $5, per million
    assert answer["x_router"]["estimated_cost_usd"] == pytest.approx((10 + 200 + 125 + 25) / 1e6)


@pytest.mark.usefixtures("router")
def test_our_json_api_reports_cache_usage_and_a_streamed_anthropic_answer_too(post, fake_bedrock):
    usage = {"inputTokens": 10, "outputTokens": 5, "cacheReadInputTokens": 300, "cacheWriteInputTokens": 0}
    fake_bedrock.script(HAIKU_ID, {**fake_bedrock.response("Sunny."), "usage": usage})
    status, answer = post({"task": "faq", "messages": [{"role": "user", "content": "Hi"}]}, "/v1/route")
    assert status == 200, answer
    assert answer["usage"] == {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_input_tokens": 300,
        "cache_write_input_tokens": 0,
        "total_tokens": 315,
    }
    assert answer["cost"]["estimated_usd"] == pytest.approx((10 + 30 + 25) / 1e6)
    fake_bedrock.script(HAIKU_ID, {**fake_bedrock.response("Sunny."), "usage": usage})
    status, text = post({**marked("claude-haiku"), "tools": [], "stream": True})
    assert status == 200, text
    (delta,) = [body for name, body in events(text) if name == "message_delta"]
    assert delta["usage"]["cache_read_input_tokens"] == 300


@pytest.mark.usefixtures("router")
def test_a_one_hour_write_is_priced_at_the_one_hour_rate(post, fake_bedrock):
    usage = {
        "inputTokens": 0,
        "outputTokens": 0,
        "cacheWriteInputTokens": 1000,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 600}, {"ttl": "5m", "inputTokens": 400}],
    }
    fake_bedrock.script(HAIKU_ID, {**fake_bedrock.response(""), "usage": usage})
    status, answer = post({"task": "faq", "messages": [{"role": "user", "content": "Hi"}]}, "/v1/route")
    assert status == 200, answer
    assert answer["cost"]["estimated_usd"] == pytest.approx((600 * 2 + 400 * 1.25) / 1e6)
