"""The router Lambda seen from API Gateway: HTTP requests in, HTTP responses, logs and metrics out.

Every test sends its request to the router's app as the Lambda Web Adapter does behind API Gateway
(`web_adapter`, tests/web_adapter.py: the caller's request plus the adapter's two context headers). Bedrock is
`fake_bedrock` (tests/conftest.py), a scriptable Converse client that records each request, behind
the real `BedrockConverse` adapter; the configuration is config/routing.json (or an edited copy)
loaded through the real file-backed `LastGoodStore`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest

HAIKU_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET_ID = "us.anthropic.claude-sonnet-4-6"
OPUS_ID = "us.anthropic.claude-opus-4-6-v1"
NOVA_ID = "us.amazon.nova-pro-v1:0"
# 1x1 transparent PNG
PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: dict


@pytest.fixture
def call(web_adapter):
    """`call(method, path, body=None, **request_options) -> Reply` through the app, as the adapter sends it."""

    def invoke(method: str, path: str, body=None, **options) -> Reply:
        response = web_adapter.request(method, path, body, **options)
        headers = dict(response.headers)  # lower-case names, repeated headers joined with ", "
        assert headers.get("content-type", "").startswith("application/json"), response.text
        return Reply(response.status_code, headers, response.json())

    return invoke


@pytest.fixture
def router(router_service):
    """The router over the bundled config/routing.json."""
    return router_service()


def single_model_config() -> dict:
    """A catalog of one model: nothing to fall back to."""
    return {
        "version": "single",
        "default_route": "faq",
        "models": {
            "claude-haiku": {"model_id": HAIKU_ID, "price": {"input_per_million": 1.0, "output_per_million": 5.0}}
        },
        "routes": {"faq": {"model": "claude-haiku", "max_tokens": 256}},
    }


# --- POST /v1/route ------------------------------------------------------------------------------


def test_route_with_messages_answers_with_routing_usage_and_cost(router, call, fake_bedrock):
    # Given haiku answers with 1,200 input and 300 output tokens
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response("Paris.", input_tokens=1200, output_tokens=300, latency_ms=42))
    # When a caller asks the faq task with a messages list
    reply = call("POST", "/v1/route", {"task": "faq", "messages": [{"role": "user", "content": "Capital of France?"}]})
    # Then the answer, the routing decision, the usage and the cost from the configured prices come back
    assert reply.status == 200
    assert reply.body["output"] == {"role": "assistant", "content": "Paris."}
    routing = reply.body["routing"]
    assert routing["route"] == "faq"
    assert routing["model"] == "claude-haiku"
    assert routing["model_id"] == HAIKU_ID
    assert routing["mode"] == "static"
    assert "faq" in routing["reason"] and "claude-haiku" in routing["reason"]
    assert routing["config_version"] == router.snapshot().version
    assert "attempts" not in routing and "fallback" not in routing
    assert reply.body["usage"] == {
        "input_tokens": 1200,
        "output_tokens": 300,
        "cache_read_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "total_tokens": 1500,
    }
    # haiku: $0.001 per 1k input, $0.005 per 1k output -> 1.2 * 0.001 + 0.3 * 0.005
    assert reply.body["cost"] == {"estimated_usd": pytest.approx(0.0027), "currency": "USD"}
    assert reply.body["latency_ms"]["model"] == 42
    assert reply.body["latency_ms"]["total"] >= 0
    assert reply.headers["x-router-route"] == "faq"
    assert reply.headers["x-router-model"] == "claude-haiku"
    assert reply.headers["x-router-config-version"] == routing["config_version"]


def test_route_with_a_prompt_calls_the_routes_model_with_its_max_tokens_and_system_prompt(
    router_service, routing_config, call, fake_bedrock
):
    # Given the tech_support route has its own system prompt
    routing_config["routes"]["tech_support"]["system_prompt"] = "You are a support engineer."
    router_service(routing_config)
    # When a caller sends a plain prompt with its own system text
    reply = call("POST", "/v1/route", {"task": "tech_support", "prompt": "My VPN drops.", "system": "Be brief."})
    # Then Converse gets the route's model id, the route's max_tokens and both system texts
    assert reply.status == 200
    assert reply.body["routing"]["model"] == "claude-sonnet"
    (request,) = fake_bedrock.requests
    assert request["modelId"] == SONNET_ID
    assert request["inferenceConfig"]["maxTokens"] == 2048
    assert request["system"] == [{"text": "You are a support engineer.\n\nBe brief."}]
    assert request["messages"] == [{"role": "user", "content": [{"text": "My VPN drops."}]}]


@pytest.mark.usefixtures("router")
def test_a_callers_max_tokens_below_the_routes_limit_is_passed_on(call, fake_bedrock):
    # Given the faq route allows 512 output tokens
    # When the caller asks for 100
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "hi", "max_tokens": 100, "temperature": 0.2})
    # Then Converse is asked for 100, with the caller's temperature
    assert reply.status == 200
    assert fake_bedrock.requests[0]["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.2}


@pytest.mark.usefixtures("router")
def test_an_unknown_task_is_a_404_listing_every_name_that_exists(call, fake_bedrock):
    # Given the bundled config does not route unknown names anywhere
    # When the task is not a route, alias or model (a typo, or a name from another provider)
    reply = call("POST", "/v1/route", {"task": "astrology", "prompt": "Will it rain?"})
    # Then 404 model_not_found names it and lists the names that exist, and no model is called
    assert reply.status == 404
    error = reply.body["error"]
    assert error["code"] == "model_not_found"
    assert "astrology" in error["message"]
    for task in ("analytics", "creative", "faq", "tech_support"):
        assert task in error["message"] and task in error["details"]["available"]
    assert fake_bedrock.requests == []


def test_unknown_names_go_to_a_route_only_when_the_config_says_so(router_service, routing_config, call, fake_bedrock):
    # Given a config that explicitly sends unknown names to faq
    routing_config["unknown_model_route"] = "faq"
    router_service(routing_config)
    # When the task is unknown
    reply = call("POST", "/v1/route", {"task": "astrology", "prompt": "Will it rain?"})
    # Then faq serves it, and the reason says why
    assert reply.status == 200
    assert reply.body["routing"]["route"] == "faq"
    assert "unknown_model_route" in reply.body["routing"]["reason"]
    assert fake_bedrock.model_ids == [HAIKU_ID]


@pytest.mark.usefixtures("router")
def test_a_request_without_a_task_goes_to_the_default_route(call):
    # When our API is called with no task at all
    reply = call("POST", "/v1/route", {"prompt": "Will it rain?"})
    # Then the default route (faq) serves it
    assert reply.status == 200
    assert reply.body["routing"]["route"] == "faq"


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        pytest.param('{"task": "faq", "prompt": ', 400, "invalid_json", "not valid JSON", id="malformed-json"),
        pytest.param(None, 400, "invalid_json", "empty", id="no-body"),
        pytest.param("[1, 2]", 400, "invalid_request", "JSON object", id="array-body"),
        pytest.param('"hello"', 400, "invalid_request", "JSON object", id="string-body"),
        pytest.param({"messages": 5}, 400, "invalid_request", "messages", id="messages-not-a-list"),
        pytest.param(
            {"prompt": "hi", "max_tokens": -1}, 400, "invalid_request", "max_tokens", id="negative-max-tokens"
        ),
        pytest.param(
            {"prompt": "hi", "temperature": "hot"}, 400, "invalid_request", "temperature", id="temperature-text"
        ),
        pytest.param({"prompt": "hi", "colour": "red"}, 400, "invalid_request", "colour", id="unknown-field"),
        pytest.param({"messages": []}, 400, "empty_messages", "messages", id="empty-messages"),
        pytest.param({}, 400, "empty_messages", "messages", id="neither-prompt-nor-messages"),
        pytest.param({"prompt": "   "}, 400, "empty_messages", "prompt", id="blank-prompt"),
        pytest.param(
            {"prompt": "a", "messages": [{"role": "user", "content": "b"}]},
            400,
            "invalid_request",
            "not both",
            id="prompt-and-messages",
        ),
        pytest.param(
            {"messages": [{"role": "assistant", "content": "hello"}]},
            400,
            "invalid_request",
            "start with a user message",
            id="starts-with-assistant",
        ),
        pytest.param(
            {"messages": [{"role": "user", "content": [{"type": "image", "format": "png", "data": "@@@"}]}]},
            400,
            "invalid_request",
            "base64",
            id="image-not-base64",
        ),
        pytest.param({"prompt": "hi", "stop": [""]}, 400, "invalid_request", "stop", id="empty-stop-sequence"),
        pytest.param('{"prompt": "hi \\ud800"}', 400, "invalid_json", "surrogate", id="lone-surrogate-escape"),
        pytest.param("[" * 100_000 + "]" * 100_000, 400, "invalid_json", "nested too deeply", id="deep-nesting"),
    ],
)
@pytest.mark.usefixtures("router")
def test_a_bad_request_gets_a_readable_4xx_and_no_model_call(call, fake_bedrock, body, status, code, says):
    # Given the router is up
    # When the body is malformed or breaks the schema
    reply = call("POST", "/v1/route", body)
    # Then a 4xx names the problem in OpenAI's error shape, and no model is called
    assert reply.status == status
    assert reply.body["error"]["code"] == code
    assert says in reply.body["error"]["message"]
    assert reply.body["error"]["type"] == "invalid_request_error"
    assert reply.body["request_id"]
    assert fake_bedrock.requests == []


def test_a_body_over_the_configured_limit_is_413(router_service, routing_config, call, fake_bedrock):
    # Given a limit of 2,048 bytes
    routing_config["limits"] = {"max_body_bytes": 2048}
    router_service(routing_config)
    # When the body is larger
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "x" * 3000})
    # Then 413 body_too_large says both sizes
    assert reply.status == 413
    assert reply.body["error"]["code"] == "body_too_large"
    assert "2048" in reply.body["error"]["message"]
    assert fake_bedrock.requests == []


def test_the_body_limit_counts_bytes_not_characters(router_service, routing_config, call):
    # Given a limit of 2,048 bytes
    routing_config["limits"] = {"max_body_bytes": 2048}
    router_service(routing_config)
    # When the body is 1,000 characters that take 3 bytes each in UTF-8
    body = json.dumps({"task": "faq", "prompt": "€" * 1000}, ensure_ascii=False)
    assert len(body) < 2048 < len(body.encode())
    reply = call("POST", "/v1/route", body)
    # Then it is over the limit
    assert reply.status == 413
    assert reply.body["error"]["code"] == "body_too_large"


@pytest.mark.usefixtures("router")
def test_a_body_the_adapter_decoded_from_base64_is_served_like_a_plain_one(call):
    # Given API Gateway delivered the body base64-encoded (binary media types): the Web Adapter decodes it
    raw = json.dumps({"task": "faq", "prompt": "hi"}).encode()
    # When the router receives the decoded bytes
    reply = call("POST", "/v1/route", raw)
    # Then it is served like a plain one
    assert reply.status == 200
    assert reply.body["routing"]["route"] == "faq"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/nothing", 404, "not_found"),
        ("POST", "/v2/route", 404, "not_found"),
        ("GET", "/v1/route", 405, "method_not_allowed"),
    ],
)
@pytest.mark.usefixtures("router")
def test_an_unknown_endpoint_is_a_json_4xx(call, method, path, status, code):
    # When nothing serves the method and path
    reply = call(method, path)
    # Then a JSON 404 (or 405 for a known path) names it and lists the real endpoints
    assert reply.status == status
    assert reply.body["error"]["code"] == code
    assert path in reply.body["error"]["message"]
    assert "POST /v1/route" in reply.body["error"]["message"]


@pytest.mark.usefixtures("router")
def test_a_document_block_reaches_converse_as_bytes(call, fake_bedrock):
    # Given a message with text and a PDF
    data = base64.b64encode(b"%PDF-1.4 tiny").decode()
    content = [
        {"type": "text", "text": "Summarise this"},
        {"type": "document", "format": "pdf", "name": "report", "data": data},
    ]
    # When it is routed to analytics
    reply = call("POST", "/v1/route", {"task": "analytics", "messages": [{"role": "user", "content": content}]})
    # Then Converse gets the document as raw bytes
    assert reply.status == 200
    sent = fake_bedrock.requests[0]["messages"][0]["content"]
    assert sent == [
        {"text": "Summarise this"},
        {"document": {"format": "pdf", "name": "report", "source": {"bytes": b"%PDF-1.4 tiny"}}},
    ]


def test_the_callers_api_key_picks_its_tier_and_the_tier_limits_the_models(
    router_service, routing_config, call, fake_bedrock
):
    # Given API key "key-free" is on a tier that may not use claude-opus
    routing_config["tiers"]["free"] = {"allowed_models": ["claude-haiku", "nova-pro"]}
    routing_config["callers"] = {"key-free": "free"}
    router_service(routing_config)
    # When that key asks the creative route (claude-opus)
    refused = call("POST", "/v1/route", {"task": "creative", "prompt": "A poem"}, api_key_id="key-free")
    # Then it is refused with the reason, while another key is served
    assert refused.status == 422
    assert refused.body["error"]["code"] == "no_capable_model"
    assert "not allowed for tier free" in refused.body["error"]["message"]
    served = call("POST", "/v1/route", {"task": "creative", "prompt": "A poem"}, api_key_id="key-other")
    assert served.status == 200
    assert served.body["routing"]["tier"] == "standard"
    assert fake_bedrock.model_ids == [OPUS_ID]


@pytest.mark.usefixtures("router")
def test_a_dry_run_explains_the_decision_without_calling_a_model(call, fake_bedrock):
    # When the caller asks what would happen
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "x" * 400, "dry_run": True})
    # Then the decision and its estimated cost come back (100 input tokens, faq's 512 output tokens at haiku's
    # prices), and no model is called
    assert reply.status == 200
    assert reply.body["dry_run"] is True
    assert reply.body["routing"]["model"] == "claude-haiku"
    assert reply.body["estimated_cost_usd"] == pytest.approx(0.1 * 0.001 + 0.512 * 0.005)
    assert reply.body["decision"]["fallbacks"] == ["nova-pro", "claude-sonnet"]
    assert fake_bedrock.requests == []


# --- Bedrock errors -------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_a_validation_exception_is_a_400_and_no_fallback_is_tried(call, fake_bedrock):
    # Given haiku rejects the request as invalid
    fake_bedrock.fail(HAIKU_ID, "ValidationException", "messages: too many images")
    # When faq is asked
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    # Then 400: the request is the problem, so another model would reject it too
    assert reply.status == 400
    assert reply.body["error"]["code"] == "model_validation_error"
    assert "too many images" in reply.body["error"]["message"]
    assert fake_bedrock.model_ids == [HAIKU_ID]


@pytest.mark.usefixtures("router")
def test_access_denied_on_the_primary_falls_back_and_counts_loudly(
    call, fake_bedrock, captured_stdout, parse_json_lines
):
    # Given a new account whose Claude Marketplace subscription is not done yet: haiku refuses access
    fake_bedrock.fail(HAIKU_ID, "AccessDeniedException", "You don't have access to the model", 403)
    captured_stdout.readouterr()
    # When faq is asked
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    # Then the caller is served by a capable fallback, and ModelAccessDenied counts the refusal against haiku
    assert reply.status == 200
    assert reply.body["routing"]["model"] == "nova-pro"
    (denied,) = _emf(parse_json_lines(captured_stdout.readouterr().out), "ModelAccessDenied")
    assert (denied["Model"], denied["ModelAccessDenied"]) == ("claude-haiku", 1)


def test_access_denied_with_nothing_to_fall_back_to_is_a_502_with_a_hint(router_service, call, fake_bedrock):
    # Given a one-model catalog whose model refuses access
    router_service(single_model_config())
    fake_bedrock.fail(HAIKU_ID, "AccessDeniedException", "You don't have access to the model", 403)
    # When faq is asked
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    # Then 502 (the router's setup, not the caller, is at fault) with what to do about it
    assert reply.status == 502
    assert reply.body["error"]["code"] == "model_access_denied"
    assert "enable model access in the Bedrock console" in reply.body["error"]["message"]
    assert reply.body["error"]["type"] == "api_error"


def only_haiku_allowed(config: dict) -> dict:
    """Fallbacks are configured, but the caller's tier may use none of them."""
    config["tiers"]["standard"]["allowed_models"] = ["claude-haiku"]
    return config


@pytest.mark.parametrize(
    "make_config",
    [lambda base: single_model_config(), only_haiku_allowed],
    ids=["one-model-catalog", "fallbacks-not-allowed-for-tier"],
)
def test_throttling_with_no_capable_fallback_is_a_429_with_retry_after(
    router_service, routing_config, call, fake_bedrock, make_config
):
    # Given faq's model throttles and no other model may take the request
    router_service(make_config(routing_config))
    fake_bedrock.fail(HAIKU_ID, "ThrottlingException", "Too many requests", 429)
    # When faq is asked
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    # Then 429 tells the caller to retry later
    assert reply.status == 429
    assert reply.body["error"]["code"] == "model_throttled"
    assert reply.body["error"]["type"] == "rate_limit_error"
    assert reply.headers["retry-after"] == "1"
    assert fake_bedrock.model_ids == [HAIKU_ID]


@pytest.mark.usefixtures("router")
def test_a_retryable_failure_falls_back_and_reports_the_attempts(call, fake_bedrock):
    # Given haiku throttles and its first fallback (nova-pro) answers
    fake_bedrock.fail(HAIKU_ID, "ThrottlingException", "Too many requests", 429)
    fake_bedrock.script(NOVA_ID, fake_bedrock.response("From Nova.", input_tokens=1000, output_tokens=1000))
    # When faq is asked
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    # Then the fallback's answer is served, billed at the fallback's prices, and the attempts are listed
    assert reply.status == 200
    assert reply.body["output"]["content"] == "From Nova."
    routing = reply.body["routing"]
    assert routing["route"] == "faq"
    assert routing["model"] == "nova-pro"
    assert routing["model_id"] == NOVA_ID
    assert routing["fallback"] is True
    assert [(a["model"], a["outcome"], a.get("error")) for a in routing["attempts"]] == [
        ("claude-haiku", "error", "ThrottlingException"),
        ("nova-pro", "ok", None),
    ]
    assert reply.body["cost"]["estimated_usd"] == pytest.approx(0.0008 + 0.0032)
    assert reply.headers["x-router-model"] == "nova-pro"
    assert fake_bedrock.model_ids == [HAIKU_ID, NOVA_ID]


@pytest.mark.usefixtures("router")
def test_when_every_model_fails_the_caller_gets_503_listing_the_attempts(call, fake_bedrock):
    # Given haiku and both of its fallbacks are unavailable
    for model_id in (HAIKU_ID, NOVA_ID, SONNET_ID):
        fake_bedrock.fail(model_id, "ServiceUnavailableException", "down", 503)
    # When faq is asked
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    # Then 503 all_models_failed with each attempt
    assert reply.status == 503
    assert reply.body["error"]["code"] == "all_models_failed"
    assert [a["model"] for a in reply.body["error"]["details"]["attempts"]] == [
        "claude-haiku",
        "nova-pro",
        "claude-sonnet",
    ]
    assert reply.headers["retry-after"] == "1"


# --- POST /v1/chat/completions (OpenAI-compatible) ---------------------------------------------------


def test_chat_completions_answers_in_openai_shape_with_router_headers(router, call, fake_bedrock):
    # Given haiku answers
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response("Hi there!", input_tokens=12, output_tokens=5))
    # When an OpenAI client asks the faq route
    reply = call("POST", "/v1/chat/completions", {"model": "faq", "messages": [{"role": "user", "content": "Hello"}]})
    # Then the body is a chat.completion and the headers say how it was routed
    assert reply.status == 200
    body = reply.body
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "faq"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hi there!"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert reply.headers["x-router-route"] == "faq"
    assert reply.headers["x-router-model"] == "claude-haiku"
    assert reply.headers["x-router-config-version"] == router.snapshot().version


@pytest.mark.parametrize(
    ("model", "route", "served_by", "model_id"),
    [
        ("creative", "creative", "claude-opus", OPUS_ID),
        ("default", "faq", "claude-haiku", HAIKU_ID),
        ("claude-opus", "claude-opus", "claude-opus", OPUS_ID),
    ],
    ids=["route", "alias", "model-key"],
)
@pytest.mark.usefixtures("router")
def test_chat_completions_model_may_name_a_route_an_alias_or_a_model(
    call, fake_bedrock, model, route, served_by, model_id
):
    # When `model` is a route, an alias of a route, or a catalog model key
    reply = call("POST", "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "Hi"}]})
    # Then it resolves to that route or model
    assert reply.status == 200
    assert reply.headers["x-router-route"] == route
    assert reply.headers["x-router-model"] == served_by
    assert fake_bedrock.model_ids == [model_id]


@pytest.mark.usefixtures("router")
def test_chat_completions_sends_system_messages_as_converse_system(call, fake_bedrock):
    # When the conversation starts with a system message
    messages = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hello"}]
    reply = call("POST", "/v1/chat/completions", {"model": "faq", "messages": messages})
    # Then it goes to Converse's system field, not into the messages
    assert reply.status == 200
    request = fake_bedrock.requests[0]
    assert request["system"] == [{"text": "Answer in French."}]
    assert request["messages"] == [{"role": "user", "content": [{"text": "Hello"}]}]


@pytest.mark.usefixtures("router")
def test_chat_completions_turns_a_data_url_image_into_a_converse_image_block(call, fake_bedrock):
    # Given an image sent as an inline data URL
    url = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]
    # When it is sent to the faq route
    reply = call("POST", "/v1/chat/completions", {"model": "faq", "messages": [{"role": "user", "content": content}]})
    # Then Converse gets an image block with the decoded bytes
    assert reply.status == 200
    sent = fake_bedrock.requests[0]["messages"][0]["content"]
    assert sent == [{"text": "What is this?"}, {"image": {"format": "png", "source": {"bytes": PNG_BYTES}}}]


@pytest.mark.usefixtures("router")
def test_chat_completions_refuses_an_image_by_remote_url(call):
    # When the image is a web address (the router does not fetch URLs)
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    reply = call("POST", "/v1/chat/completions", {"model": "faq", "messages": [{"role": "user", "content": content}]})
    # Then 400 unsupported_content explains what is accepted
    assert reply.status == 400
    assert reply.body["error"]["code"] == "unsupported_content"
    assert "data:image/png;base64" in reply.body["error"]["message"]


@pytest.mark.usefixtures("router")
def test_chat_completions_maps_tools_to_tool_config_and_tool_use_to_tool_calls(call, fake_bedrock):
    # Given the model decides to call a tool
    fake_bedrock.script(
        HAIKU_ID,
        fake_bedrock.response(
            stop_reason="tool_use",
            content=[
                {"text": "Let me look."},
                {"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather", "input": {"city": "Paris"}}},
            ],
        ),
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    # When a client sends OpenAI tools
    reply = call(
        "POST",
        "/v1/chat/completions",
        {"model": "faq", "tools": tools, "messages": [{"role": "user", "content": "Weather in Paris?"}]},
    )
    # Then Converse gets them as toolConfig, and the toolUse comes back as tool_calls
    assert reply.status == 200
    assert fake_bedrock.requests[0]["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "inputSchema": {"json": tools[0]["function"]["parameters"]},
                }
            }
        ]
    }
    choice = reply.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me look."
    (tool_call,) = choice["message"]["tool_calls"]
    assert tool_call["id"] == "tooluse_abc"
    assert tool_call["type"] == "function"
    assert tool_call["function"]["name"] == "get_weather"
    assert json.loads(tool_call["function"]["arguments"]) == {"city": "Paris"}


@pytest.mark.usefixtures("router")
def test_chat_completions_sends_a_tool_result_back_as_converse_tool_result(call, fake_bedrock):
    # Given a conversation that continues after a tool call
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "tooluse_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "tooluse_abc", "content": "18C, sunny"},
    ]
    # When it is sent
    reply = call("POST", "/v1/chat/completions", {"model": "faq", "messages": messages})
    # Then Converse sees toolUse in the assistant turn and toolResult in the next user turn
    assert reply.status == 200
    sent = fake_bedrock.requests[0]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": [{"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather", "input": {"city": "Paris"}}}],
    }
    assert sent[2] == {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": "tooluse_abc", "content": [{"text": "18C, sunny"}]}}],
    }


# --- GET /v1/models and /v1/health ------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_models_lists_routes_aliases_and_model_keys_in_openai_list_shape(call):
    # When a client lists models
    reply = call("GET", "/v1/models")
    # Then every name it may pass as `model` is there, in OpenAI's list shape
    assert reply.status == 200
    assert reply.body["object"] == "list"
    kinds = {m["id"]: m["kind"] for m in reply.body["data"]}
    assert kinds == {
        "faq": "route",
        "tech_support": "route",
        "creative": "route",
        "analytics": "route",
        "default": "alias",
        "claude-haiku": "model",
        "claude-sonnet": "model",
        "claude-opus": "model",
        "nova-pro": "model",
    }
    for model in reply.body["data"]:
        assert model["object"] == "model"
        assert isinstance(model["created"], int)
        assert model["owned_by"]


def test_health_reports_the_config_and_every_model(router, call):
    # When the health endpoint is called
    reply = call("GET", "/v1/health")
    # Then it is ok and shows the config version, the routes and the models
    assert reply.status == 200
    body = reply.body
    assert body["status"] == "ok"
    assert body["config_version"] == router.snapshot().version
    assert body["config_label"] == "2026-11-26.1"
    assert body["routes"]["faq"] == {"mode": "static", "model": "claude-haiku"}
    assert body["models"]["nova-pro"]["model_id"] == NOVA_ID
    assert all(m["available"] for m in body["models"].values())


def test_health_is_degraded_while_a_model_is_flagged_down(router_service, call, tmp_path):
    # Given a failover flag that takes claude-haiku down
    flags = tmp_path / "flags.json"
    flags.write_text(
        json.dumps(
            {
                "models": {
                    "claude-haiku": {"state": "down", "source": "manual", "reason": "maintenance", "set_by": "ops"}
                }
            }
        )
    )
    router_service(env={"ROUTER_FLAGS_FILE": str(flags)})
    # When the health endpoint is called
    body = call("GET", "/v1/health").body
    # Then the router says it is degraded and why, and faq is served by the fallback
    assert body["status"] == "degraded"
    assert body["models"]["claude-haiku"]["available"] is False
    assert "maintenance" in body["models"]["claude-haiku"]["reason"]
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    assert reply.status == 200 and reply.body["routing"]["model"] != "claude-haiku"
    assert reply.body["routing"]["attempts"][0]["outcome"] == "skipped"


# --- one log line and metrics per request ----------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_one_log_line_per_request_has_the_decision_and_no_prompt_or_answer(
    call, fake_bedrock, captured_stdout, parse_json_lines
):
    # Given a prompt and an answer that must never be logged
    secret_prompt = "my password is hunter2-SECRET-PROMPT"
    secret_answer = "SECRET-ANSWER-42"
    fake_bedrock.script(HAIKU_ID, fake_bedrock.response(secret_answer))
    captured_stdout.readouterr()
    # When the request is routed
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": secret_prompt})
    # Then exactly one request log line carries the routing decision, and neither text appears anywhere
    assert reply.status == 200
    out = captured_stdout.readouterr().out
    assert secret_prompt not in out and "hunter2" not in out
    assert secret_answer not in out
    logs = [line for line in parse_json_lines(out) if line.get("api")]
    assert len(logs) == 1
    (line,) = logs
    assert line["message"] == "request routed"
    assert line["level"] == "INFO"
    assert line["service"] == "model-router"
    assert (line["api"], line["status"], line["route"], line["model"], line["mode"]) == (
        "route",
        200,
        "faq",
        "claude-haiku",
        "static",
    )
    assert line["reason"] == reply.body["routing"]["reason"]
    assert line["config_version"] == reply.body["routing"]["config_version"]
    assert line["input_tokens"] == 100 and line["output_tokens"] == 20
    assert line["request_id"]  # the API Gateway request id, for tracing one request
    # And the same line is the request's EMF metrics document: one line, one json.dumps per request
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ModelRouter" and line["Requests"] == 1


@pytest.mark.usefixtures("router")
def test_a_rejected_request_logs_one_line_with_the_error_code_and_no_prompt(call, captured_stdout, parse_json_lines):
    # Given a request that fails validation and carries a secret
    captured_stdout.readouterr()
    # When it is refused
    reply = call("POST", "/v1/route", {"prompt": "SECRET-PROMPT", "max_tokens": -1})
    # Then one line records the failure without the prompt
    assert reply.status == 400
    out = captured_stdout.readouterr().out
    assert "SECRET-PROMPT" not in out
    logs = [line for line in parse_json_lines(out) if line.get("api")]
    assert [(line["message"], line["status"], line["error_code"]) for line in logs] == [
        ("request failed", 400, "invalid_request")
    ]


def _emf(lines: list[dict], metric: str) -> list[dict]:
    """The EMF documents that carry `metric`."""
    return [
        line
        for line in lines
        if "_aws" in line and any(m["Name"] == metric for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"])
    ]


def _dimension_sets(document: dict) -> list[set[str]]:
    return [set(d) for d in document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]]


@pytest.mark.usefixtures("router")
def test_emf_metrics_count_requests_by_route_and_model_and_each_model_call(
    call, fake_bedrock, captured_stdout, parse_json_lines
):
    # Given haiku throttles and nova-pro answers
    fake_bedrock.fail(HAIKU_ID, "ThrottlingException", "slow down", 429)
    captured_stdout.readouterr()
    # When faq is asked
    reply = call("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    # Then CloudWatch gets the request by Route and by the Model that answered, with that call's latency
    assert reply.status == 200
    lines = parse_json_lines(captured_stdout.readouterr().out)
    (request,) = _emf(lines, "Requests")
    assert request["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ModelRouter"
    assert {"Route", "Model", "service"} in _dimension_sets(request)
    assert {"service", "Model"} in _dimension_sets(request)
    assert (request["Route"], request["Model"], request["Requests"]) == ("faq", "nova-pro", 1)
    assert request["Fallbacks"] == 1
    assert request["ModelLatency"] == 42.0  # the fake's metrics.latencyMs for the answering call
    assert request["InputTokens"] == 100 and request["OutputTokens"] == 20
    # And the throttled call to haiku is counted against haiku, by {service, Model}, in a document of its own
    (throttled,) = _emf(lines, "ModelThrottles")
    assert _dimension_sets(throttled) == [{"Model", "service"}]
    assert (throttled["Model"], throttled["ModelThrottles"], isinstance(throttled["ModelLatency"], float)) == (
        "claude-haiku",
        1,
        True,
    )
    assert "ModelErrors" not in throttled
    assert _emf(lines, "ModelErrors") == []


@pytest.mark.usefixtures("router")
def test_a_model_error_counts_in_model_errors(call, fake_bedrock, captured_stdout, parse_json_lines):
    # Given haiku fails with a server error and nova-pro answers
    fake_bedrock.fail(HAIKU_ID, "InternalServerException", "boom", 500)
    captured_stdout.readouterr()
    # When faq is asked
    call("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    # Then haiku's call counts as an error (what the per-model alarms watch), not as a throttle
    (failed,) = _emf(parse_json_lines(captured_stdout.readouterr().out), "ModelErrors")
    assert (failed["Model"], failed["ModelErrors"]) == ("claude-haiku", 1)
    assert "ModelThrottles" not in failed


@pytest.mark.usefixtures("router")
def test_a_rejected_bad_request_does_not_count_against_the_model(call, fake_bedrock, captured_stdout, parse_json_lines):
    # Given haiku rejects the request as invalid (the caller's fault)
    fake_bedrock.fail(HAIKU_ID, "ValidationException", "bad", 400)
    captured_stdout.readouterr()
    # When faq is asked
    call("POST", "/v1/route", {"task": "faq", "prompt": "hi"})
    # Then the call is sampled for haiku but not as an error, and the request error is counted by its code
    lines = parse_json_lines(captured_stdout.readouterr().out)
    assert _emf(lines, "ModelErrors") == [] and _emf(lines, "ModelThrottles") == []
    assert [line["Model"] for line in _emf(lines, "ModelLatency")] == ["claude-haiku"]
    (errors,) = _emf(lines, "RequestErrors")
    assert errors["ErrorCode"] == "model_validation_error"
    assert {"service", "ErrorCode"} in _dimension_sets(errors)
    assert _emf(lines, "Requests") == []


@pytest.mark.parametrize(
    ("given", "kept"), [("loop-0-17", True), ("", False), ("bad id with spaces", False), ("x" * 65, False)]
)
def test_local_mode_keeps_a_clients_well_formed_request_id(given, kept):
    # Given local mode's identity (no API Gateway in front) and a client sending its own x-request-id
    from starlette.requests import Request

    from router.http.context import api_key_header_context

    headers = [(b"x-request-id", given.encode())] if given else []
    ctx = api_key_header_context(Request({"type": "http", "method": "POST", "path": "/", "headers": headers}))
    # Then a well-formed id is the request's id (so local runs repeat), anything else is replaced
    assert (ctx.request_id == given) is kept and ctx.request_id
