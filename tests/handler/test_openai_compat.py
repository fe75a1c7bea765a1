"""OpenAI compatibility that does not lie, identity behind the adapter, deadlines and Retry-After that tell the truth."""

from __future__ import annotations

import json

import pytest

HAIKU_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA_ID = "us.amazon.nova-pro-v1:0"
SONNET_ID = "us.anthropic.claude-sonnet-4-6"
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture
def router(router_service):
    return router_service()


@pytest.fixture
def post(web_adapter):
    def send(body, path="/v1/chat/completions", **options):
        reply = web_adapter.post(path, body, **options)
        return reply.status_code, reply.json(), reply.headers

    return send


def chat(**body) -> dict:
    return {"model": "faq", "messages": [{"role": "user", "content": "Weather in Paris?"}], **body}


# --- response_format ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_json_schema_is_served_by_a_forced_tool_and_returned_as_content(post, fake_bedrock):
    fake_bedrock.script(
        HAIKU_ID,
        fake_bedrock.response(
            stop_reason="tool_use",
            content=[{"toolUse": {"toolUseId": "t1", "name": "city_answer", "input": {"city": "Paris"}}}],
        ),
    )
    status, body, _ = post(
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "city_answer", "schema": SCHEMA, "strict": True},
            }
        )
    )
    # Then the model was forced to fill the schema, and the client gets JSON content, not a tool call
    assert status == 200
    sent = fake_bedrock.requests[0]["toolConfig"]
    assert sent["toolChoice"] == {"tool": {"name": "city_answer"}}
    assert sent["tools"][0]["toolSpec"]["inputSchema"] == {"json": SCHEMA}
    message = body["choices"][0]["message"]
    assert json.loads(message["content"]) == {"city": "Paris"} and "tool_calls" not in message
    assert body["choices"][0]["finish_reason"] == "stop"


@pytest.mark.usefixtures("router")
def test_json_object_mode_asks_for_an_object(post, fake_bedrock):
    fake_bedrock.script(
        HAIKU_ID,
        fake_bedrock.response(
            stop_reason="tool_use",
            content=[{"toolUse": {"toolUseId": "t1", "name": "structured_output", "input": {"answer": 42}}}],
        ),
    )
    status, body, _ = post(chat(response_format={"type": "json_object"}))
    assert status == 200 and json.loads(body["choices"][0]["message"]["content"]) == {"answer": 42}
    assert fake_bedrock.requests[0]["toolConfig"]["toolChoice"] == {"tool": {"name": "structured_output"}}


def test_structured_output_on_a_model_without_tools_is_a_clear_422(router_service, routing_config, post, fake_bedrock):
    # Given faq's model cannot use tools (structured output is served by a forced tool)
    routing_config["models"]["claude-haiku"]["supports_tools"] = False
    routing_config["models"]["claude-haiku"]["fallbacks"] = []
    router_service(routing_config)
    status, body, _ = post(chat(response_format={"type": "json_object"}))
    # Then no model can take the request: 422 says which model and why, and no model is called
    assert status == 422
    assert body["error"]["code"] == "no_capable_model"
    assert "claude-haiku" in body["error"]["message"]
    assert fake_bedrock.requests == []


# --- tool_choice --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "converse"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"tool": {"name": "get_weather"}}),
    ],
)
@pytest.mark.usefixtures("router")
def test_tool_choice_reaches_converse(post, fake_bedrock, choice, converse):
    status, _, _ = post(chat(tools=[TOOL], tool_choice=choice))
    assert status == 200
    assert fake_bedrock.requests[0]["toolConfig"]["toolChoice"] == converse


@pytest.mark.usefixtures("router")
def test_tool_choice_none_sends_no_tools_when_the_history_has_none(post, fake_bedrock):
    status, _, _ = post(chat(tools=[TOOL], tool_choice="none"))
    assert status == 200 and "toolConfig" not in fake_bedrock.requests[0]


@pytest.mark.usefixtures("router")
def test_a_named_tool_choice_that_is_not_offered_is_a_400(post, fake_bedrock):
    status, body, _ = post(chat(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "nope"}}))
    assert status == 400 and body["error"]["param"] == "tool_choice" and "get_weather" in body["error"]["message"]
    assert fake_bedrock.requests == []


# --- names, dry runs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gpt-4o", "tech-support", "anthropic.claude-3-haiku-20240307-v1:0"])
@pytest.mark.usefixtures("router")
def test_an_unknown_model_is_openais_404_model_not_found_listing_the_names(post, fake_bedrock, name):
    status, body, _ = post(chat(model=name))
    assert status == 404
    assert body["error"]["code"] == "model_not_found" and body["error"]["type"] == "invalid_request_error"
    assert name in body["error"]["message"] and "tech_support" in body["error"]["message"]
    assert fake_bedrock.requests == []


@pytest.mark.usefixtures("router")
def test_dry_run_from_extra_body_calls_no_model(post, fake_bedrock):
    # extra_body={"dry_run": True} in the openai SDK merges the field into the body
    status, body, _ = post(chat(dry_run=True))
    assert status == 200 and fake_bedrock.requests == []
    assert body["object"] == "chat.completion" and body["x_router"]["dry_run"] is True
    assert body["x_router"]["decision"]["choice"]["model"] == "claude-haiku"


@pytest.mark.usefixtures("router")
@pytest.mark.parametrize("stream", [False, True])
def test_a_dry_run_answer_says_it_is_one(web_adapter, fake_bedrock, stream):
    # Given a client that reads only the message content (an empty answer with finish_reason "stop" looked like
    # a model that said nothing)
    reply = web_adapter.post("/v1/chat/completions", chat(dry_run=True, stream=stream))
    assert reply.status_code == 200 and fake_bedrock.requests == []
    if stream:
        first = json.loads(reply.text.split("\n\n")[0].removeprefix("data: "))
        content = first["choices"][0]["delta"]["content"]
    else:
        content = reply.json()["choices"][0]["message"]["content"]
    # Then the content says it is a dry run, that no model was called, and what would have been
    assert content.startswith("[DRY RUN] No model was called.")
    assert "claude-haiku" in content and "route faq" in content


# --- bad bodies -----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_raw_invalid_utf8_is_invalid_json_not_a_model_error(web_adapter, fake_bedrock):
    # API Gateway hands such a body over base64-encoded; the Web Adapter forwards its bytes as they are
    raw = b'{"model": "faq", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}'
    reply = web_adapter.post("/v1/chat/completions", raw)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_json"
    assert fake_bedrock.requests == []


@pytest.mark.usefixtures("router")
def test_tool_call_arguments_nested_970_deep_are_a_400(post, fake_bedrock):
    deep = "[" * 970 + "]" * 970
    body = {
        "model": "faq",
        "tools": [TOOL],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"a": ' + deep + "}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
    }
    status, reply, _ = post(body)
    assert status == 400 and reply["error"]["code"] == "invalid_json"
    assert fake_bedrock.requests == []


# --- identity behind the Lambda Web Adapter -------------------------------------------------------------


def test_the_tier_comes_from_api_gateways_identity_not_from_a_header_the_client_sets(
    router_service, routing_config, post
):
    # Given a premium caller key id, and a free-tier key id that may only use haiku
    routing_config["tiers"]["free"] = {"allowed_models": ["claude-haiku"]}
    routing_config["tiers"]["premium"] = {}
    routing_config["callers"] = {"key-free": "free", "key-premium": "premium"}
    router_service(routing_config)
    ask = chat(model="tech_support")
    # When the free caller asks for sonnet, even sending another caller's key id as a header
    status, body, _ = post(ask, api_key_id="key-free", headers={"x-api-key": "key-premium"})
    # Then API Gateway's identity decides: the free tier may not use sonnet
    assert status == 422 and body["error"]["code"] == "no_capable_model"
    # And the premium key id, as API Gateway reports it, may
    status, body, _ = post(ask, api_key_id="key-premium")
    assert status == 200 and body["x_router"]["tier"] == "premium"


def test_an_iam_principal_picks_its_tier(router_service, routing_config, web_adapter):
    routing_config["tiers"]["premium"] = {}
    routing_config["callers"] = {"arn:aws:iam::123456789012:role/analyst": "premium"}
    router_service(routing_config)
    reply = web_adapter.post(
        "/v1/chat/completions", chat(), api_key_id=None, user_arn="arn:aws:iam::123456789012:role/analyst"
    )
    assert reply.json()["x_router"]["tier"] == "premium"


@pytest.mark.usefixtures("router")
def test_api_gateways_request_id_is_the_answers_id(web_adapter):
    request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    reply = web_adapter.post("/v1/route", {"task": "faq", "prompt": "hi"}, request_id=request_id)
    assert reply.json()["id"] == request_id
    assert reply.headers["x-request-id"] == request_id


# --- deadlines from the model's SLO, and Retry-After from the breaker ------------------------------------


def test_a_first_attempt_gets_a_multiple_of_its_models_slo_not_a_share_of_the_deadline(
    router_service, routing_config, post
):
    # Given haiku's latency SLO is 3 s, the multiple is 2, and the buffered deadline is 120 s
    routing_config["models"]["claude-haiku"]["latency_slo_ms"] = 3000
    routing_config["resilience"] = {"attempt_slo_multiple": 2.0, "total_deadline_ms": 120_000}
    timeouts = []
    service = router_service(routing_config)
    factory = service.invoker._factory

    def recording(region, timeout_s):
        timeouts.append(timeout_s)
        return factory(region, timeout_s)

    service.invoker._factory = recording
    post(chat(), path="/v1/chat/completions")
    # Then the first call may take 6 s (2 x SLO), so a hanging primary costs 6 s, not 60% of 120 s
    assert timeouts == [6]


def test_when_every_model_is_cooling_down_retry_after_is_the_real_cool_down(
    router_service, routing_config, post, fake_bedrock
):
    # Given a breaker that opens on the first failure for 40 s, and every model failing
    routing_config["resilience"] = {"breaker_failure_rate": 1.0, "breaker_min_calls": 1, "breaker_cooldown_s": 40}
    router_service(routing_config)
    for model_id in (HAIKU_ID, NOVA_ID, SONNET_ID):
        fake_bedrock.fail(model_id, "ServiceUnavailableException", "down", 503)
    post(chat())  # opens every breaker on the way down the chain
    # When the next request comes, then 503 says which models were skipped, and to retry when they reopen
    status, body, headers = post(chat())
    assert status == 503
    skipped = [a for a in body["error"]["details"]["attempts"] if a["outcome"] == "skipped"]
    assert {a["model"] for a in skipped} >= {"claude-haiku", "nova-pro"}
    assert all(35 <= a["retry_after_s"] <= 40 for a in skipped)
    assert 35 <= int(headers["retry-after"]) <= 40


# --- tracing ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
def test_the_tracer_is_built_only_when_tracing_is_on(post, monkeypatch):
    from router import observability

    # Given tracing is off (local mode, tests, POWERTOOLS_TRACE_DISABLED=true): serving builds no Tracer
    monkeypatch.setattr(observability, "_tracer", None)
    assert post(chat())[0] == 200
    assert observability._tracer is None
    # When the app runs in Lambda with tracing on, then the request is traced under the invocation's trace id
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "model-router")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setenv("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")
    assert post(chat())[0] == 200
    assert observability._tracer is not None


@pytest.mark.usefixtures("router")
def test_a_refused_request_logs_its_features_so_a_replay_can_re_decide_it(post, captured_stdout, parse_json_lines):
    captured_stdout.readouterr()
    status, _, _ = post(chat(model="gpt-4o"))
    assert status == 404
    (line,) = [entry for entry in parse_json_lines(captured_stdout.readouterr().out) if entry.get("api")]
    assert line["error_code"] == "model_not_found" and line["features"]["message_count"] == 1
