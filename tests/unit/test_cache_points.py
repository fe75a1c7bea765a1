"""Prompt caching's pieces (issue 16, item 2): cache points fitted to a model (router.caching), placed on Converse
(aws_adapters.converse), priced (routing_engine.engine.estimate_cost), and the simulated backend's prompt cache."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from aws_adapters import converse
from aws_adapters.conversation import CachePoint, ModelCall, Text, ToolSpec, Turn
from local.simulated_backend import SimulatedBedrock
from router import caching
from routing_engine.config import parse_routing_config
from routing_engine.engine import estimate_cost
from tests.unit.engine_fixtures import config_dict

SCHEMA = {"type": "object", "properties": {}}
LONG = "word " * 2000  # 10,000 characters: 2,500 simulated tokens


def caching_config():
    data = config_dict()
    for key, fields in (("small", ["system", "messages", "tools"]), ("large", ["system", "messages"])):
        model = data["models"][key]
        model["prompt_caching"] = {"fields": fields, "min_tokens": 1024, "ttls": ["5m"]}
        model["price"] |= {"cache_read_per_million": 0.1, "cache_write_per_million": 1.25}
    return parse_routing_config(json.dumps(data))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- fitting ------------------------------------------------------------------------------------------------------


def test_auto_points_go_after_tools_and_system_and_at_the_latest_turn_where_the_model_caches():
    config = caching_config()
    turns = (Turn("user", (Text("Hi"),)), Turn("assistant", (Text("Hello"),)), Turn("user", (Text("More"),)))
    tools = (ToolSpec("a", None, SCHEMA), ToolSpec("b", None, SCHEMA))
    fit = caching.fit(turns, "Be brief.", (), tools, config.models["small"], "small", auto=True)
    assert fit.tools[0].cache is None and fit.tools[1].cache == CachePoint()
    assert fit.system_blocks == (Text("Be brief."), CachePoint())
    assert fit.turns[-1].content == (Text("More"), CachePoint()) and fit.turns[:2] == turns[:2]
    # A model that caches no tools gets none there; a route without auto_cache_points, none at all
    nova = caching.fit(turns, "Be brief.", (), tools, config.models["large"], "large", auto=True)
    assert all(t.cache is None for t in nova.tools) and nova.turns[-1].content[-1] == CachePoint()
    assert caching.fit(turns, "Be brief.", (), tools, config.models["small"], "small") == (turns, (), tools, ())


def test_a_ttl_the_model_does_not_take_goes_with_the_default_and_ttls_never_rise():
    config = caching_config()
    turns = (Turn("user", (Text("Hi"), CachePoint("1h"))),)
    fit = caching.fit(turns, None, (), (), config.models["small"], "small")
    assert fit.turns[0].content == (Text("Hi"), CachePoint(None))
    assert fit.notes == ("cache_control ttl 1h sent as 5m: small does not take it",)
    spec = config.models["small"].model_copy(
        update={"prompt_caching": config.models["small"].prompt_caching.model_copy(update={"ttls": ("5m", "1h")})}
    )
    rising = caching.fit(turns, "S", (Text("S"), CachePoint("5m")), (), spec, "small")
    assert rising.turns[0].content[-1] == CachePoint(None)
    assert any("may not rise" in n for n in rising.notes)


# --- Converse -----------------------------------------------------------------------------------------------------


def test_converse_places_each_point_where_it_stands_with_a_ttl_only_for_an_hour():
    call = ModelCall(
        "m",
        None,
        [Turn("user", (CachePoint(), Text("Hi"), CachePoint("5m")))],
        system="A\n\nB",
        system_blocks=(Text("A"), CachePoint("1h"), Text("B")),
        tools=(ToolSpec("t", None, SCHEMA, CachePoint()),),
    )
    body = converse.request(call)
    # a point before any block ends no prefix: left out
    assert body["messages"][0]["content"] == [{"text": "Hi"}, {"cachePoint": {"type": "default"}}]
    assert body["system"] == [{"text": "A"}, {"cachePoint": {"type": "default", "ttl": "1h"}}, {"text": "B"}]
    assert body["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default"}}


def test_cost_prices_cached_tokens_at_the_cache_prices_or_the_input_price_without_them():
    config = caching_config()
    small = config.models["small"]
    base = estimate_cost(small, 1000, 0)
    assert estimate_cost(small, 0, 0, cache_read=1000) == pytest.approx(base * 0.1 / small.price.input_per_million)
    assert estimate_cost(small, 0, 0, cache_write=1000) == pytest.approx(base * 1.25 / small.price.input_per_million)
    plain = config.models["medium"]  # no prompt caching: what it "caches" is input
    assert estimate_cost(plain, 0, 0, 1000, 1000) == pytest.approx(estimate_cost(plain, 2000, 0))


# --- the simulated backend's cache --------------------------------------------------------------------------------


def ask(backend, model_id: str, system: str, question: str, ttl: str | None = None) -> dict:
    point = {"type": "default", **({"ttl": ttl} if ttl else {})}
    request = {
        "modelId": model_id,
        "system": [{"text": system}, {"cachePoint": point}],
        "messages": [{"role": "user", "content": [{"text": question}]}],
    }
    return backend.converse(**request)["usage"]


def test_a_prefix_is_written_then_read_within_its_ttl_and_written_again_after():
    config = caching_config()
    clock = Clock()
    backend = SimulatedBedrock(lambda: config, latency_scale=0, clock=clock)
    model_id = config.models["small"].model_id
    first = ask(backend, model_id, LONG, "one")
    assert first["cacheWriteInputTokens"] == 2500 and first["cacheReadInputTokens"] == 0
    second = ask(backend, model_id, LONG, "two")
    assert second["cacheReadInputTokens"] == 2500 and second["cacheWriteInputTokens"] == 0
    assert second["inputTokens"] == first["inputTokens"] < 100
    clock.now += 299  # the hit renewed the 5 minutes
    assert ask(backend, model_id, LONG, "three")["cacheReadInputTokens"] == 2500
    clock.now += 301
    assert ask(backend, model_id, LONG, "four")["cacheWriteInputTokens"] == 2500
    # Another model has its own cache; a prefix below the minimum is not cached at all
    assert ask(backend, config.models["large"].model_id, LONG, "x")["cacheReadInputTokens"] == 0
    short = ask(backend, model_id, "short", "y")
    assert "cacheWriteInputTokens" not in short and "cacheReadInputTokens" not in short


def test_the_cache_is_bounded_and_misplaced_points_are_refused():
    config = caching_config()
    backend = SimulatedBedrock(lambda: config, latency_scale=0)
    backend.prompt_cache._max = 3
    model_id = config.models["small"].model_id
    for i in range(10):
        ask(backend, model_id, f"{i} {LONG}", "q")
    assert len(backend.prompt_cache) == 3
    with pytest.raises(ClientError, match="does not support prompt caching"):
        ask(backend, config.models["medium"].model_id, LONG, "q")
    with pytest.raises(ClientError, match="does not take cache TTL 1h"):
        ask(backend, model_id, LONG, "q", ttl="1h")
    tools = {
        "tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": SCHEMA}}}, {"cachePoint": {"type": "default"}}]
    }
    with pytest.raises(ClientError, match="cannot cache tools"):
        backend.converse(
            modelId=config.models["large"].model_id,
            messages=[{"role": "user", "content": [{"text": "q"}]}],
            toolConfig=tools,
        )
