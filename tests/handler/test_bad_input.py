"""Bad input is a 4xx with a code and the request's id, never a 500 and never a body that is not JSON (issue 17).

The requests here are the fuzz run's reproductions. Those that once reached the simulated backend's schema example
generator run against the simulated backend itself (in process, no latency): the 500 was there. The rest use
`fake_bedrock`. Every error body is parsed strictly (no NaN or Infinity), as a client's JSON parser would.
"""

from __future__ import annotations

import asyncio
import json

import botocore.session
import pytest
from starlette.requests import Request

from aws_adapters.converse import MAX_STOP_SEQUENCES
from local.server import ROOT, build
from router.failures import RouterFailure
from router.http.app import read_body

GATEWAY_ID = "gw-request-0001"
MALFORMED_SCHEMAS = [
    pytest.param({"type": "object", "required": 5}, "invalid_schema", "required", id="required-5"),
    pytest.param({"type": "object", "properties": 5}, "invalid_schema", "properties", id="properties-5"),
    pytest.param({"type": "object", "properties": {"a": {"anyOf": 5}}}, "invalid_schema", "anyOf", id="anyOf-5"),
    pytest.param({"type": "object", "properties": {"a": {"enum": 5}}}, "invalid_schema", "enum", id="enum-5"),
    pytest.param('{"a": {"enum": Infinity}}', "non_finite_number", "Infinity", id="enum-Infinity"),
    pytest.param(
        '{"type": "object", "properties": {"a": {"type": "integer", "minimum": 1e999}}}',
        "non_finite_number",
        "1e999",
        id="minimum-1e999",
    ),
    pytest.param(
        {"type": "object", "properties": {"a": {"items": [{}]}}}, "invalid_schema", "prefixItems", id="items-list"
    ),
    pytest.param({"type": "string"}, "invalid_schema", "must describe an object", id="not-an-object"),
]


def strict_json(text: str):
    """JSON as a strict client reads it: NaN and Infinity are not JSON."""

    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def simulated(web_adapter):
    """The router over the bundled catalog and the simulated backend, as `make local` serves it (no latency)."""
    _, service, backend = build(
        str(ROOT / "config" / "routing.json"), None, bedrock=False, faults=None, latency_scale=0
    )
    web_adapter.serve(service)
    return backend


def send(web_adapter, path: str, body) -> tuple[int, dict, dict]:
    """(status, the body read strictly, headers), as API Gateway request GATEWAY_ID."""
    reply = web_adapter.post(path, body, request_id=GATEWAY_ID)
    return reply.status_code, strict_json(reply.text), dict(reply.headers)


def openai_with_tool(parameters) -> str:
    params = parameters if isinstance(parameters, str) else json.dumps(parameters)
    return (
        '{"model": "faq", "messages": [{"role": "user", "content": "call lookup"}], '
        f'"tools": [{{"type": "function", "function": {{"name": "lookup", "parameters": {params}}}}}]}}'
    )


def openai_with_schema(schema) -> str:
    text = schema if isinstance(schema, str) else json.dumps(schema)
    return (
        '{"model": "faq", "messages": [{"role": "user", "content": "city=Paris"}], '
        f'"response_format": {{"type": "json_schema", "json_schema": {{"name": "answer", "schema": {text}}}}}}}'
    )


def assert_refused(status: int, body: dict, headers: dict, code: str, says: str) -> None:
    assert status == 400, body
    assert body["error"]["code"] == code
    assert says in body["error"]["message"]
    assert body["request_id"] == headers["x-request-id"] == GATEWAY_ID


# --- 8: malformed JSON Schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize(("schema", "code", "says"), MALFORMED_SCHEMAS)
def test_a_malformed_tool_schema_is_a_400_naming_the_keyword(simulated, web_adapter, schema, code, says):
    # Given the router over the simulated backend, whose example generator once crashed on these
    # When a tool's parameters are not a JSON Schema of an object
    status, body, headers = send(web_adapter, "/v1/chat/completions", openai_with_tool(schema))
    # Then 400 names what is wrong, with the request's id, and no model is called
    assert_refused(status, body, headers, code, says)
    assert body["error"]["param"] == "tools[0]" or code == "non_finite_number"
    assert simulated.calls == []


@pytest.mark.parametrize(("schema", "code", "says"), MALFORMED_SCHEMAS)
def test_a_malformed_response_format_schema_is_a_400_naming_the_keyword(simulated, web_adapter, schema, code, says):
    status, body, headers = send(web_adapter, "/v1/chat/completions", openai_with_schema(schema))
    assert_refused(status, body, headers, code, says)
    assert simulated.calls == []


@pytest.mark.usefixtures("simulated")
def test_a_valid_schema_still_reaches_the_model(web_adapter):
    # Given a schema with combinators, definitions and bounds (valid draft 2020-12)
    schema = {
        "type": "object",
        "$defs": {"unit": {"enum": ["c", "f"]}},
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "unit": {"$ref": "#/$defs/unit"},
            "tags": {"type": "array", "prefixItems": [{"type": "string"}], "items": False},
            "when": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
        },
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    # When it is a tool's parameters
    status, body, _ = send(web_adapter, "/v1/chat/completions", openai_with_tool(schema))
    # Then the model is called and calls the tool the prompt names
    assert status == 200, body
    (call,) = body["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "lookup"
    assert set(json.loads(call["function"]["arguments"])) >= {"city", "days"}


def test_a_bad_tool_name_is_refused_by_the_shared_check():
    from aws_adapters.conversation import ToolSpec
    from router.chat import ChatRequest
    from router.http.parsing import check_request

    # Given a request any API could build, with a tool name Converse refuses
    request = ChatRequest(name="faq", messages=(), turns=(), tools=(ToolSpec("bad name!", None, {"type": "object"}),))
    # Then the shared check refuses it, naming the tool
    with pytest.raises(RouterFailure) as caught:
        check_request(request)
    assert caught.value.code == "invalid_request" and caught.value.param == "tools[0]"


# --- 10: non-finite numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e999", "-1e999"])
@pytest.mark.parametrize(
    ("path", "template"),
    [
        (
            "/v1/chat/completions",
            '{{"model": "faq", "messages": [{{"role": "user", "content": "hi"}}], "max_cost_usd": {n}}}',
        ),
        ("/v1/route", '{{"task": "faq", "prompt": "hi", "max_cost_usd": {n}}}'),
        ("/v1/route", '{{"task": "faq", "prompt": "hi", "temperature": {n}}}'),
    ],
)
@pytest.mark.usefixtures("router_service")
def test_a_non_finite_number_anywhere_is_a_400_naming_its_field(
    router_service, web_adapter, fake_bedrock, path, template, number
):
    router_service()
    # When a number is NaN, infinite, or too large for a double (Python reads 1e999 as inf)
    status, body, headers = send(web_adapter, path, template.format(n=number))
    # Then 400 names the field and the number; nothing echoes it back, and no model is called
    field = "temperature" if "temperature" in template else "max_cost_usd"
    assert_refused(status, body, headers, "non_finite_number", f"{field} is {number}")
    assert body["error"]["param"] == field
    assert fake_bedrock.requests == []


@pytest.mark.usefixtures("router_service")
def test_a_non_finite_number_deep_in_a_body_or_in_tool_arguments_is_named_by_its_path(router_service, web_adapter):
    router_service()
    nested = '{"model": "faq", "messages": [{"role": "user", "content": "hi"}], "metadata": {"a": [1, {"b": NaN}]}}'
    status, body, headers = send(web_adapter, "/v1/chat/completions", nested)
    assert_refused(status, body, headers, "non_finite_number", "metadata.a[1].b is NaN")
    arguments = {
        "model": "faq",
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"x": Infinity}'}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
    }
    status, body, headers = send(web_adapter, "/v1/chat/completions", arguments)
    assert_refused(status, body, headers, "non_finite_number", "x is Infinity")


# --- 9: every error carries the request's id ----------------------------------------------------------------


def request_lines(captured_stdout, parse_json_lines) -> list[dict]:
    return [line for line in parse_json_lines(captured_stdout.readouterr().out) if "status" in line]


@pytest.mark.parametrize("path", ["/v1/route", "/v1/chat/completions"])
def test_a_bug_is_a_json_500_with_the_request_id_a_log_line_and_a_metric(
    router_service, web_adapter, captured_stdout, parse_json_lines, path
):
    # Given a service with a bug on the request path
    service = router_service()

    def broken(*_args, **_kwargs):
        raise TypeError("a bug")

    service.complete = broken
    captured_stdout.readouterr()
    body = (
        {"task": "faq", "prompt": "hi"}
        if path == "/v1/route"
        else {"model": "faq", "messages": [{"role": "user", "content": "hi"}]}
    )
    # When a request meets it
    reply = web_adapter.post(path, body, request_id=GATEWAY_ID)
    # Then a JSON 500 carries the request's id in its body and header
    assert reply.status_code == 500
    assert reply.json()["error"]["code"] == "internal_error"
    assert reply.json()["request_id"] == reply.headers["x-request-id"] == GATEWAY_ID
    assert GATEWAY_ID in reply.json()["error"]["message"]
    # And the request's line is written, counted in RequestErrors
    (line,) = [
        line for line in request_lines(captured_stdout, parse_json_lines) if line.get("request_id") == GATEWAY_ID
    ]
    assert (line["status"], line["error_code"], line["RequestErrors"]) == (500, "internal_error", 1)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", "/v1/nothing", 404, "not_found"), ("GET", "/v1/route", 405, "method_not_allowed")],
)
def test_404_and_405_carry_the_request_id_a_log_line_and_a_metric(
    router_service, web_adapter, captured_stdout, parse_json_lines, method, path, status, code
):
    router_service()
    captured_stdout.readouterr()
    reply = web_adapter.request(method, path, request_id=GATEWAY_ID)
    assert reply.status_code == status
    assert reply.json()["request_id"] == reply.headers["x-request-id"] == GATEWAY_ID
    (line,) = request_lines(captured_stdout, parse_json_lines)
    assert (line["request_id"], line["status"], line["error_code"], line["RequestErrors"]) == (
        GATEWAY_ID,
        status,
        code,
        1,
    )


def test_a_bug_in_a_get_endpoint_is_a_json_500_with_the_request_id(router_service, web_adapter):
    service = router_service()

    def broken():
        raise RuntimeError("a bug")

    service.health_report = broken
    reply = web_adapter.get("/v1/health", request_id=GATEWAY_ID)
    assert reply.status_code == 500
    assert reply.json()["request_id"] == reply.headers["x-request-id"] == GATEWAY_ID


def test_a_body_too_large_carries_the_request_id_and_a_log_line(
    router_service, routing_config, web_adapter, captured_stdout, parse_json_lines
):
    routing_config["limits"] = {"max_body_bytes": 2048}
    router_service(routing_config)
    web_adapter.get("/v1/health")  # the configuration is loaded: the limit is known before the body is read
    captured_stdout.readouterr()
    reply = web_adapter.post("/v1/route", {"task": "faq", "prompt": "x" * 3000}, request_id=GATEWAY_ID)
    assert reply.status_code == 413
    assert reply.json()["request_id"] == reply.headers["x-request-id"] == GATEWAY_ID
    (line,) = request_lines(captured_stdout, parse_json_lines)
    assert (line["status"], line["error_code"]) == (413, "body_too_large")


# --- 11: bodies are refused before they are read; one stop-sequence limit -----------------------------------


def receiving(chunks: int, size: int, headers: list[tuple[bytes, bytes]]) -> tuple[Request, list[int]]:
    """A request whose body arrives in `chunks` pieces of `size` bytes; the list counts the pieces taken."""
    taken: list[int] = []

    async def receive():
        taken.append(1)
        return {"type": "http.request", "body": b"x" * size, "more_body": len(taken) < chunks}

    scope = {"type": "http", "method": "POST", "path": "/v1/route", "headers": headers, "query_string": b""}
    return Request(scope, receive), taken


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read():
    # Given a request that says it carries 200 MB
    request, taken = receiving(3200, 65_536, [(b"content-length", str(200_000_000).encode())])
    # When its body is read against a 1 MB limit
    with pytest.raises(RouterFailure) as caught:
        asyncio.run(read_body(request, 1_000_000))
    # Then it is refused at once, naming both sizes
    assert caught.value.code == "body_too_large" and "200000000" in caught.value.message
    assert taken == []


def test_a_body_without_a_length_is_refused_once_it_passes_the_limit():
    # Given 200 MB sent in chunks, with no Content-Length (chunked transfer encoding)
    request, taken = receiving(3200, 65_536, [(b"transfer-encoding", b"chunked")])
    with pytest.raises(RouterFailure) as caught:
        asyncio.run(read_body(request, 1_000_000))
    # Then reading stops just past the limit: 16 chunks of 64 KiB, not 3,200
    assert caught.value.code == "body_too_large"
    assert len(taken) == 16


def test_the_stop_limit_is_bedrocks_current_one():
    # The installed service model's InferenceConfiguration.stopSequences maximum (the API reference once said 4)
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    assert model.shape_for("InferenceConfiguration").members["stopSequences"].metadata["max"] == MAX_STOP_SEQUENCES


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/route", {"task": "faq", "prompt": "hi"}),
        ("/v1/chat/completions", {"model": "faq", "messages": [{"role": "user", "content": "hi"}]}),
    ],
)
def test_both_apis_take_stop_sequences_up_to_bedrocks_limit_and_no_more(
    router_service, web_adapter, fake_bedrock, path, body
):
    router_service()
    # When a request sends five stop sequences (more than the old limit of 4)
    five = [f"s{i}" for i in range(5)]
    assert web_adapter.post(path, {**body, "stop": five}).status_code == 200
    assert fake_bedrock.requests[-1]["inferenceConfig"]["stopSequences"] == five
    # When it sends one more than Bedrock's limit
    too_many = [f"s{i}" for i in range(MAX_STOP_SEQUENCES + 1)]
    reply = web_adapter.post(path, {**body, "stop": too_many}, request_id=GATEWAY_ID)
    # Then both APIs refuse it the same way, naming the limit
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "stop"
    assert f"limit of {MAX_STOP_SEQUENCES}" in reply.json()["error"]["message"]


# --- the schema check agrees with the JSON Schema 2020-12 meta-schema -----------------------------------------

META_CASES = [
    {"type": "object", "required": 5},
    {"type": "object", "properties": 5},
    {"properties": {"a": {"anyOf": 5}}},
    {"properties": {"a": {"enum": 5}}},
    {"properties": {"a": {"items": [{}]}}},
    {"properties": {"a": {"type": "integer", "minimum": "1"}}},
    {"properties": {"a": {"minLength": -1}}},
    {"properties": {"a": {"type": "strnig"}}},
    {"properties": {"a": {"multipleOf": 0}}},
    {"required": ["a", "a"]},
    {"$defs": {"x": 3}},
    {"type": "object", "properties": {"a": {"type": ["string", "null"], "maxLength": 3}}, "required": ["a"]},
    {"properties": {"a": {"prefixItems": [{"type": "string"}], "items": False}}},
    {"properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}, "x-extension": {"anything": 1}},
    {"dependentRequired": {"a": ["b"]}, "if": {"required": ["a"]}, "then": True, "else": False},
]


@pytest.mark.parametrize("schema", META_CASES, ids=[json.dumps(s)[:40] for s in META_CASES])
def test_the_schema_check_agrees_with_the_2020_12_meta_schema(schema):
    # The router's own check (no jsonschema in the Lambda: its rpds-py is a compiled wheel per platform) says
    # what the meta-schema says, for the fuzz cases and for valid schemas
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    from router.http.json_schema import schema_problem

    try:
        Draft202012Validator.check_schema(schema)
        valid = True
    except SchemaError:
        valid = False
    assert (schema_problem(schema) is None) == valid, schema_problem(schema)
