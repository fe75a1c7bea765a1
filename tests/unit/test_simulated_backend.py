"""The simulated Bedrock client behaves like a model: ConverseStream events, limits, tool calls, faults.

Responses are checked against botocore's own service model for bedrock-runtime, so what the router learns
to parse locally is what the real service sends. Nothing sleeps: latency_scale is 0, or the sleep is recorded.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from datetime import date
from enum import Enum
from typing import Literal

import botocore.loaders
import botocore.session
import jsonschema
import pytest
from botocore.exceptions import ClientError, EventStreamError, ReadTimeoutError
from botocore.stub import Stubber
from pydantic import BaseModel, Field

from local.latency import SimulatedLatency
from local.simulated_backend import (
    MAX_TOOL_INPUT_CHARS,
    SIMULATED_TAG,
    Fault,
    FaultSpecError,
    SimulatedBedrock,
    example_from_schema,
    fault_keys,
    parse_faults,
    simulated_client_factory,
    tokenize,
    validate_fault_keys,
)
from routing_engine.config import parse_routing_config

ROUTER_ARN = "arn:aws:bedrock:us-east-1:123456789012:prompt-router/sim-router"
CONFIG = {
    "default_route": "faq",
    "models": {
        "haiku": {
            "model_id": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "display_name": "Claude Haiku 4.5",
            "price": {"input_per_million": 1.0, "output_per_million": 5.0},
            "quality": 60,
        },
        "sonnet": {
            "model_id": "us.anthropic.claude-sonnet-4-6",
            "quality": 80,
            "price": {"input_per_million": 3.0, "output_per_million": 15.0},
        },
        "titan": {
            "model_id": "amazon.titan-text-express-v1",
            "supports_tools": False,
            "quality": 20,
            "price": {"input_per_million": 0.2, "output_per_million": 0.6},
        },
    },
    "routes": {"faq": {"model": "haiku"}, "support": {"model": "sonnet"}},
    "aliases": {"fast": "haiku", "help": "support"},
    "prompt_routers": {"sim-router": {"arn": ROUTER_ARN, "models": ["haiku", "sonnet"]}},
}
LATENCY = SimulatedLatency(models={"haiku": 200, "sonnet": 600})  # titan: the default
HAIKU = CONFIG["models"]["haiku"]["model_id"]
SONNET = CONFIG["models"]["sonnet"]["model_id"]
TITAN = CONFIG["models"]["titan"]["model_id"]

WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city"],
            }
        },
    }
}
SEARCH = {
    "toolSpec": {
        "name": "search_docs",
        "description": "Search the documentation",
        "inputSchema": {"json": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
    }
}


@pytest.fixture(scope="module")
def config():
    return parse_routing_config(json.dumps(CONFIG))


class RecordingSleep:
    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def backend(config, **kwargs) -> SimulatedBedrock:
    kwargs.setdefault("latency_scale", 0)
    kwargs.setdefault("latency", LATENCY)
    return SimulatedBedrock(lambda: config, **kwargs)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def events_of(response: dict) -> list[dict]:
    return list(response["stream"])


def streamed_text(events: list[dict]) -> str:
    return "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)


# --- botocore's service model --------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes() -> dict:
    return botocore.loaders.Loader().load_service_model("bedrock-runtime", "service-2")["shapes"]


def check_shape(value, shape_name: str, shapes: dict, path: str = "$") -> None:
    """Fail unless `value` fits the service model's shape: members known, required ones present, types right."""
    shape = shapes[shape_name]
    kind = shape["type"]
    if shape.get("document"):
        json.dumps(value)  # any JSON value
        return
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: expected an object, got {value!r}"
        unknown = set(value) - set(shape["members"])
        assert not unknown, f"{path}: {sorted(unknown)} not in {shape_name} ({sorted(shape['members'])})"
        missing = set(shape.get("required", ())) - set(value)
        assert not missing, f"{path}: {shape_name} requires {sorted(missing)}"
        if shape.get("union"):
            assert len(value) == 1, f"{path}: a {shape_name} union has exactly one member, got {sorted(value)}"
        for name, member_value in value.items():
            check_shape(member_value, shape["members"][name]["shape"], shapes, f"{path}.{name}")
    elif kind == "list":
        assert isinstance(value, list), f"{path}: expected a list"
        for i, item in enumerate(value):
            check_shape(item, shape["member"]["shape"], shapes, f"{path}[{i}]")
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: expected a map"
        for k, v in value.items():
            check_shape(v, shape["value"]["shape"], shapes, f"{path}[{k}]")
    elif kind == "string":
        assert isinstance(value, str), f"{path}: expected a string, got {value!r}"
        if "enum" in shape:
            assert value in shape["enum"], f"{path}: {value!r} not in {shape_name} {shape['enum']}"
        if "pattern" in shape:
            assert re.fullmatch(shape["pattern"], value), f"{path}: {value!r} does not match {shape['pattern']}"
        assert shape.get("min", 0) <= len(value) <= shape.get("max", len(value)), f"{path}: length out of bounds"
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: expected an integer"
        if "min" in shape:
            assert value >= shape["min"], f"{path}: below {shape['min']}"
    elif kind in ("float", "double"):
        assert isinstance(value, int | float), f"{path}: expected a number"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: expected a boolean"
    else:  # blob, timestamp: never sent by the simulation
        raise AssertionError(f"{path}: unexpected shape type {kind}")


def check_stream_events(events: list[dict], shapes: dict) -> None:
    output = shapes["ConverseStreamOutput"]
    assert output.get("eventstream")
    for i, event in enumerate(events):
        assert len(event) == 1, f"event {i} has {sorted(event)}"
        ((name, body),) = event.items()
        assert name in output["members"], f"event {i}: {name} is no ConverseStream event"
        member = output["members"][name]["shape"]
        assert not shapes[member].get("exception"), f"event {i}: {name} is an exception, raised instead"
        check_shape(body, member, shapes, f"event[{i}].{name}")


def check_order(events: list[dict]) -> None:
    """messageStart, then per block (contentBlockStart?) contentBlockDelta+ contentBlockStop, messageStop, metadata."""
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart" and names[-2:] == ["messageStop", "metadata"]
    open_block = None
    for event in events[1:-2]:
        ((name, body),) = event.items()
        if name == "contentBlockStart":
            assert open_block is None
            open_block = body["contentBlockIndex"]
        elif name == "contentBlockDelta":
            open_block = body["contentBlockIndex"] if open_block is None else open_block
            assert body["contentBlockIndex"] == open_block
        elif name == "contentBlockStop":
            assert body["contentBlockIndex"] == open_block
            open_block = None
        else:
            raise AssertionError(f"{name} inside the message")
    assert open_block is None


# --- shapes and order ----------------------------------------------------------------------------------


def test_a_text_stream_has_conversestreams_events_in_order(config, shapes):
    sim = backend(config)
    response = sim.converse_stream(
        modelId=HAIKU,
        messages=user("What are your opening hours?"),
        system=[{"text": "Be brief."}],
        inferenceConfig={"maxTokens": 512},
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    events = events_of(response)
    check_stream_events(events, shapes)
    check_order(events)
    deltas = [e for e in events if "contentBlockDelta" in e]
    assert len(deltas) > 10  # token by token, not one chunk
    assert all("contentBlockStart" not in e for e in events)  # ConverseStream starts no block for text
    text = streamed_text(events)
    assert text.startswith(SIMULATED_TAG) and "simulated answer" in text and "no model was called" in text
    assert events[-2]["messageStop"] == {"stopReason": "end_turn"}
    usage = events[-1]["metadata"]["usage"]
    assert usage["outputTokens"] == len(deltas)
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert sim.streams[-1].finished and not sim.streams[-1].closed


def test_the_stream_says_what_the_buffered_answer_says(config):
    sim = backend(config)
    request = {
        "modelId": SONNET,
        "messages": user("Explain eventual consistency"),
        "inferenceConfig": {"maxTokens": 64},
    }
    buffered = sim.converse(**copy.deepcopy(request))
    events = events_of(sim.converse_stream(**copy.deepcopy(request)))
    assert streamed_text(events) == buffered["output"]["message"]["content"][0]["text"]
    assert events[-1]["metadata"]["usage"] == buffered["usage"]


def test_a_converse_answer_fits_the_service_model(config, shapes):
    sim = backend(config)
    response = sim.converse(modelId=HAIKU, messages=user("hello"), inferenceConfig={"maxTokens": 5})
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    check_shape(body, "ConverseResponse", shapes)
    # And botocore's own validation of a Converse response accepts it
    client = botocore.session.get_session().create_client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response("converse", body)
        assert client.converse(modelId=HAIKU, messages=user("hello"))["stopReason"] == "max_tokens"


def test_a_tool_call_fits_the_service_model_buffered_and_streamed(config, shapes):
    sim = backend(config)
    request = {
        "modelId": HAIKU,
        "messages": user("Please use get_weather for city=Lyon"),
        "toolConfig": {"tools": [WEATHER, SEARCH], "toolChoice": {"auto": {}}},
    }
    body = {k: v for k, v in sim.converse(**request).items() if k != "ResponseMetadata"}
    check_shape(body, "ConverseResponse", shapes)
    client = botocore.session.get_session().create_client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response("converse", body)
        client.converse(**request)
    events = events_of(sim.converse_stream(**request))
    check_stream_events(events, shapes)
    check_order(events)


def test_a_prompt_router_reports_the_model_it_invoked(config, shapes):
    sim = backend(config)
    events = events_of(sim.converse_stream(modelId=ROUTER_ARN, messages=user("hi")))
    check_stream_events(events, shapes)
    invoked = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{HAIKU}"  # an ARN, as the service sends
    assert events[-1]["metadata"]["trace"] == {"promptRouter": {"invokedModelId": invoked}}
    assert sim.calls == ["haiku"]
    assert sim.converse(modelId=ROUTER_ARN, messages=user("hi"))["trace"]["promptRouter"]["invokedModelId"] == invoked


def test_answers_are_deterministic_per_model_and_input(config):
    sim = backend(config)
    first = sim.converse(modelId=HAIKU, messages=user("same question"))
    again = sim.converse(modelId=HAIKU, messages=user("same question"))
    other = sim.converse(modelId=SONNET, messages=user("same question"))
    assert first["output"] == again["output"]
    assert first["output"] != other["output"]


def test_an_unknown_model_is_resource_not_found(config):
    with pytest.raises(ClientError) as caught:
        backend(config).converse_stream(modelId="us.example.nope-v1", messages=user("hi"))
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert caught.value.operation_name == "ConverseStream"


# --- limits ------------------------------------------------------------------------------------


def test_max_tokens_cuts_the_answer_with_stop_reason_max_tokens(config):
    sim = backend(config)
    full = sim.converse(modelId=HAIKU, messages=user("hello"))["output"]["message"]["content"][0]["text"]
    response = sim.converse(modelId=HAIKU, messages=user("hello"), inferenceConfig={"maxTokens": 4})
    text = response["output"]["message"]["content"][0]["text"]
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == 4
    assert text == "".join(tokenize(full)[:4]) and text.startswith(SIMULATED_TAG)
    events = events_of(sim.converse_stream(modelId=HAIKU, messages=user("hello"), inferenceConfig={"maxTokens": 4}))
    assert [e for e in events if "messageStop" in e] == [{"messageStop": {"stopReason": "max_tokens"}}]
    assert sum("contentBlockDelta" in e for e in events) == 4
    assert streamed_text(events) == text


def test_a_prompt_asking_for_n_words_gets_a_long_answer(config):
    sim = backend(config)
    response = sim.converse(
        modelId=HAIKU, messages=user("Write 300 words about owls"), inferenceConfig={"maxTokens": 4096}
    )
    text = response["output"]["message"]["content"][0]["text"]
    assert len(text.split()) == 300 and text.startswith(SIMULATED_TAG)
    assert response["stopReason"] == "end_turn"
    cut = sim.converse(modelId=HAIKU, messages=user("Write 300 words about owls"), inferenceConfig={"maxTokens": 100})
    assert cut["stopReason"] == "max_tokens" and cut["usage"]["outputTokens"] == 100


def test_a_stop_sequence_cuts_just_before_it(config, shapes):
    sim = backend(config)
    request = {
        "modelId": HAIKU,
        "messages": user("hello"),
        "inferenceConfig": {"maxTokens": 512, "stopSequences": ["zzz", "no model"]},
    }
    response = sim.converse(**request)
    text = response["output"]["message"]["content"][0]["text"]
    assert response["stopReason"] == "stop_sequence"
    assert response["additionalModelResponseFields"] == {"stop_sequence": "no model"}
    assert text.startswith(SIMULATED_TAG) and text.endswith("; ") and "no model" not in text
    events = events_of(sim.converse_stream(**request))
    check_stream_events(events, shapes)
    assert streamed_text(events) == text
    assert events[-2]["messageStop"] == {
        "stopReason": "stop_sequence",
        "additionalModelResponseFields": {"stop_sequence": "no model"},
    }


def test_max_tokens_before_a_later_stop_sequence_wins(config):
    response = backend(config).converse(
        modelId=HAIKU, messages=user("hello"), inferenceConfig={"maxTokens": 3, "stopSequences": ["Fingerprint"]}
    )
    assert response["stopReason"] == "max_tokens"
    assert "additionalModelResponseFields" not in response


# --- tool calls ------------------------------------------------------------------------------------


def tool_request(text: str, choice: dict | None = None, tools=(WEATHER, SEARCH), model: str = HAIKU) -> dict:
    tool_config: dict = {"tools": list(tools)}
    if choice is not None:
        tool_config["toolChoice"] = choice
    return {"modelId": model, "messages": user(text), "toolConfig": tool_config}


def tool_use(response: dict) -> dict:
    (block,) = response["output"]["message"]["content"]
    return block["toolUse"]


def test_a_forced_tool_is_called_whatever_the_prompt(config):
    response = backend(config).converse(**tool_request("hello there", {"tool": {"name": "search_docs"}}))
    assert response["stopReason"] == "tool_use"
    use = tool_use(response)
    assert use["name"] == "search_docs" and use["toolUseId"].startswith("tooluse_")
    jsonschema.validate(use["input"], SEARCH["toolSpec"]["inputSchema"]["json"])


def test_tool_choice_any_calls_the_named_tool_or_else_the_first(config):
    sim = backend(config)
    assert tool_use(sim.converse(**tool_request("hello", {"any": {}})))["name"] == "get_weather"
    assert tool_use(sim.converse(**tool_request("try SEARCH_DOCS", {"any": {}})))["name"] == "search_docs"


def test_auto_calls_a_tool_the_prompt_names_with_values_from_the_prompt(config):
    response = backend(config).converse(**tool_request('Use get_weather: city="Le Mans" days: 3 unit=fahrenheit'))
    use = tool_use(response)
    assert use["name"] == "get_weather"
    assert use["input"] == {"city": "Le Mans", "unit": "fahrenheit", "days": 3}
    jsonschema.validate(use["input"], WEATHER["toolSpec"]["inputSchema"]["json"])


def test_the_earliest_named_tool_wins(config):
    use = tool_use(backend(config).converse(**tool_request("search_docs first, then get_weather", {"auto": {}})))
    assert use["name"] == "search_docs"


@pytest.mark.parametrize("text", ["What is the weather in Paris?", "call get_weathers", "use get_weather_v2"])
def test_auto_without_a_named_tool_answers_in_text(config, text):
    response = backend(config).converse(**tool_request(text, {"auto": {}}))
    assert response["stopReason"] == "end_turn"
    assert response["output"]["message"]["content"][0]["text"].startswith(SIMULATED_TAG)


def test_a_tool_result_gets_a_text_answer_that_mentions_it(config):
    sim = backend(config)
    first = sim.converse(**tool_request("get_weather for city=Oslo"))
    use = tool_use(first)
    messages = user("get_weather for city=Oslo") + [
        {"role": "assistant", "content": [{"toolUse": use}]},
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"json": {"temperature_c": -3}}]}}],
        },
    ]
    response = sim.converse(modelId=HAIKU, messages=messages, toolConfig={"tools": [WEATHER]})
    text = response["output"]["message"]["content"][0]["text"]
    assert response["stopReason"] == "end_turn"
    assert text.startswith(SIMULATED_TAG)
    assert 'The tool get_weather returned: {"temperature_c": -3}' in text


def test_a_streamed_tool_call_arrives_in_fragments_that_assemble_to_the_input(config, shapes):
    sim = backend(config)
    request = tool_request("get_weather city=Rome", {"auto": {}})
    buffered = tool_use(sim.converse(**copy.deepcopy(request)))
    events = events_of(sim.converse_stream(**copy.deepcopy(request)))
    check_stream_events(events, shapes)
    check_order(events)
    start = events[1]["contentBlockStart"]
    assert start == {
        "start": {"toolUse": {"toolUseId": buffered["toolUseId"], "name": "get_weather"}},
        "contentBlockIndex": 0,
    }
    fragments = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e]
    assert len(fragments) >= 3
    assert json.loads("".join(fragments)) == buffered["input"]
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}


def test_an_empty_tool_input_still_streams_in_fragments(config):
    no_args = {"toolSpec": {"name": "ping", "inputSchema": {"json": {"type": "object", "properties": {}}}}}
    events = events_of(backend(config).converse_stream(**tool_request("ping", tools=[no_args])))
    fragments = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e]
    assert len(fragments) == 2 and "".join(fragments) == "{}"


def test_a_model_without_tool_support_refuses_tools(config):
    with pytest.raises(ClientError) as caught:
        backend(config).converse(**tool_request("get_weather", model=TITAN))
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_a_forced_tool_that_was_not_offered_is_a_validation_error(config):
    with pytest.raises(ClientError) as caught:
        backend(config).converse_stream(**tool_request("hi", {"tool": {"name": "ghost"}}))
    assert caught.value.response["Error"]["Code"] == "ValidationException"


# --- the schema generator ----------------------------------------------------------------------------


class Priority(str, Enum):  # noqa: UP042 - the (str, Enum) form pydantic schemas are often written with
    low = "low"
    high = "high"


class Address(BaseModel):
    street: str
    city: str
    postcode: str = Field(min_length=5, max_length=5)


class Ticket(BaseModel):
    title: str = Field(max_length=8)
    priority: Priority
    kind: Literal["bug", "feature"]
    address: Address
    tags: list[str]
    contacts: list[Address] = Field(min_length=2)
    assignee: str | None = None
    due: date | None = None
    effort: int = Field(gt=0, le=13, multiple_of=2)
    score: float = Field(gt=0.5, lt=0.75)
    extra: dict[str, int] = {}


def test_the_generator_makes_a_valid_instance_of_a_pydantic_schema():
    schema = Ticket.model_json_schema()
    instance = example_from_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(instance)
    Ticket.model_validate(instance)
    assert instance["priority"] == "low" and instance["kind"] == "bug"
    assert len(instance["contacts"]) == 2 and isinstance(instance["address"], dict)


def test_the_generator_takes_values_from_the_prompt_when_they_fit():
    instance = example_from_schema(Ticket.model_json_schema(), text="title=Crash priority: HIGH effort=4 due=x")
    assert instance["title"] == "Crash" and instance["priority"] == "high" and instance["effort"] == 4
    Ticket.model_validate(instance)


def test_the_generator_handles_refs_combinators_and_bounds():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {
            "point": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                "required": ["x", "y"],
            }
        },
        "type": "object",
        "required": ["origin", "shape", "mode", "size", "when", "flags", "count", "note"],
        "properties": {
            "origin": {"$ref": "#/definitions/point"},
            "shape": {"oneOf": [{"type": "null"}, {"type": "string", "enum": ["circle", "square"]}]},
            "mode": {"const": "strict"},
            "size": {
                "allOf": [
                    {"$ref": "#/definitions/point"},
                    {"properties": {"z": {"type": "integer"}}, "required": ["z"]},
                ]
            },
            "when": {"type": "string", "format": "date-time"},
            "flags": {"type": "array", "items": {"type": "boolean"}, "minItems": 3},
            "count": {"type": ["integer", "null"], "exclusiveMinimum": 10},
            "note": {"type": "string", "default": "n/a"},
        },
        "additionalProperties": False,
    }
    instance = example_from_schema(schema)
    jsonschema.Draft7Validator(schema).validate(instance)
    assert instance["mode"] == "strict" and instance["shape"] == "circle" and instance["note"] == "n/a"
    assert instance["count"] == 11 and len(instance["flags"]) == 3 and instance["size"]["z"] == 1


def test_the_generator_stops_on_a_recursive_schema():
    class Node(BaseModel):
        name: str
        children: list[Node] = []

    schema = Node.model_json_schema()
    jsonschema.Draft202012Validator(schema).validate(example_from_schema(schema))


# --- pace, close, faults ------------------------------------------------------------------------


def test_latency_scale_zero_never_sleeps(config):
    sleep = RecordingSleep()
    sim = backend(config, sleep=sleep)
    sim.converse(modelId=HAIKU, messages=user("hello"))
    events_of(sim.converse_stream(modelId=HAIKU, messages=user("hello")))
    assert sleep.calls == []


def test_tokens_come_at_the_models_pace(config):
    sleep = RecordingSleep()
    sim = backend(config, sleep=sleep, latency_scale=1.0)  # haiku: 200 ms
    events = events_of(sim.converse_stream(modelId=HAIKU, messages=user("hello")))
    tokens = sum("contentBlockDelta" in e for e in events)
    assert sleep.calls[0] == pytest.approx(0.1)  # first token after L/2
    assert sleep.calls[1:] == [pytest.approx(0.002)] * (tokens - 1)  # then one every L/100
    assert events[-1]["metadata"]["metrics"]["latencyMs"] == int(100 + 2 * (tokens - 1))
    sleep.calls.clear()
    response = sim.converse(modelId=HAIKU, messages=user("hello"))
    assert sleep.calls == [pytest.approx(0.2)] and response["metrics"]["latencyMs"] == 200
    sleep.calls.clear()
    long = sim.converse(modelId=HAIKU, messages=user("write 1000 words"), inferenceConfig={"maxTokens": 2000})
    assert long["metrics"]["latencyMs"] == int(100 + 2 * long["usage"]["outputTokens"])  # long answers are slow


def test_first_token_latency_delays_only_the_first_token(config):
    sleep = RecordingSleep()
    sim = backend(config, sleep=sleep, faults=parse_faults("haiku=first_token_latency:1500", known=config))
    events = events_of(sim.converse_stream(modelId=HAIKU, messages=user("hello")))
    assert sleep.calls == [1.5]  # scale 0: nothing else waits
    assert events[-1]["metadata"]["metrics"]["latencyMs"] == 1500


def test_a_latency_fault_slows_the_whole_answer(config):
    sleep = RecordingSleep()
    sim = backend(config, sleep=sleep, faults=parse_faults("haiku=latency:1000", known=config))
    events_of(sim.converse_stream(modelId=HAIKU, messages=user("hello")))
    assert sleep.calls[0] == pytest.approx(0.5) and sleep.calls[1] == pytest.approx(0.01)


def test_close_stops_the_stream(config):
    sim = backend(config)
    stream = sim.converse_stream(modelId=HAIKU, messages=user("write 500 words"), inferenceConfig={"maxTokens": 2000})[
        "stream"
    ]
    received = []
    for event in stream:
        received.append(event)
        if len(received) == 4:
            stream.close()
    assert len(received) == 4
    assert list(stream) == []
    record = sim.streams[-1]
    assert record is stream and record.closed and not record.finished and record.pieces_sent == 3


def test_close_from_another_thread_ends_a_pending_wait_at_once(config):
    sim = backend(config, latency_scale=100.0)  # haiku: first token after 10 s
    stream = sim.converse_stream(modelId=HAIKU, messages=user("hello"))["stream"]
    threading.Timer(0.05, stream.close).start()
    started = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - started < 2
    assert sim.streams[-1].closed


def test_a_stream_error_comes_after_the_first_tokens(config):
    sim = backend(config, faults=parse_faults("haiku=stream_error", known=config))
    stream = sim.converse_stream(modelId=HAIKU, messages=user("hello"))["stream"]
    received = []
    with pytest.raises(EventStreamError) as caught:
        for event in stream:
            received.append(event)
    assert [next(iter(e)) for e in received] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]
    assert isinstance(caught.value, ClientError)  # what botocore raises for an exception event
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert caught.value.operation_name == "ConverseStream"
    assert not sim.streams[-1].finished
    # A buffered call is not affected
    assert sim.converse(modelId=HAIKU, messages=user("hello"))["stopReason"] == "end_turn"


def test_error_faults_are_raised_before_the_stream_starts(config):
    sim = backend(config, faults=parse_faults("fast=ThrottlingException", known=config))  # a model alias
    with pytest.raises(ClientError) as caught:
        sim.converse_stream(modelId=HAIKU, messages=user("hello"))
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert caught.value.operation_name == "ConverseStream"
    assert sim.calls == ["haiku"]


def test_faults_on_a_prompt_router_apply_to_calls_through_it(config):
    sim = backend(config, faults=parse_faults("sim-router=ModelNotReadyException", known=config))
    with pytest.raises(ClientError):
        sim.converse(modelId=ROUTER_ARN, messages=user("hi"))
    assert sim.converse(modelId=HAIKU, messages=user("hi"))["stopReason"] == "end_turn"


def test_a_slow_first_token_past_the_read_timeout_times_out_in_the_stream(config):
    sleep = RecordingSleep()
    sim = backend(config, sleep=sleep, faults=parse_faults("haiku=first_token_latency:5000", known=config))
    client = simulated_client_factory(sim)(None, 2)
    stream = client.converse_stream(modelId=HAIKU, messages=user("hello"))["stream"]
    with pytest.raises(ReadTimeoutError):
        next(iter(stream))
    assert sleep.calls == [2]
    assert sim.streams[-1] is stream  # clones share the record


def test_unknown_fault_keys_are_refused_naming_the_known_ones(config):
    with pytest.raises(FaultSpecError) as caught:
        parse_faults("hiaku=Timeout", known=config)
    message = str(caught.value)
    assert "'hiaku'" in message
    for key in ("haiku", "sonnet", HAIKU, "sim-router", "fast"):
        assert key in message
    with pytest.raises(FaultSpecError, match="'faq' is a route: use its model 'haiku'"):
        validate_fault_keys(parse_faults("faq=Timeout"), config)
    with pytest.raises(FaultSpecError, match="'help' is a route: use its model 'sonnet'"):
        validate_fault_keys(parse_faults("help=Timeout"), config)
    with pytest.raises(FaultSpecError, match="names no model"):
        parse_faults("x=Timeout", known=["a", "b"])


def test_every_kind_of_model_name_is_a_known_fault_key(config):
    assert fault_keys(config) == {"haiku", "sonnet", "titan", HAIKU, SONNET, TITAN, "fast", "sim-router", ROUTER_ARN}
    validate_fault_keys(
        parse_faults(f"haiku=Timeout,{SONNET}=latency:10,fast=stream_error:0.5,sim-router=first_token_latency:100:0.2"),
        config,
    )


@pytest.mark.parametrize(
    "spec",
    [
        "haiku=latency",
        "haiku=first_token_latency",
        "haiku=stream_error:2",
        "haiku=first_token_latency:abc",
        "haiku=Timeout:0.5:1",
        "haiku=latency:inf",
        "haiku=Nope",
        "haiku",
    ],
)
def test_bad_fault_specs_are_refused(spec):
    with pytest.raises(FaultSpecError):
        parse_faults(spec)


def test_fault_syntax():
    assert parse_faults("a=first_token_latency:250:0.5, b=stream_error, c=latency:10") == {
        "a": [Fault("first_token_latency", 0.5, 250.0)],
        "b": [Fault("stream_error")],
        "c": [Fault("latency", 1.0, 10.0)],
    }


@pytest.mark.parametrize(
    "event",
    [
        {"contentBlockDelta": {"delta": {"text": "x"}}},  # no contentBlockIndex
        {"contentBlockDelta": {"delta": {"text": "x", "toolUse": {"input": "{"}}, "contentBlockIndex": 0}},  # 2 members
        {"messageStop": {"stopReason": "length"}},  # OpenAI's word, not Bedrock's
        {"contentBlockStart": {"start": {"text": ""}, "contentBlockIndex": 0}},  # no such start
        {"throttlingException": {"message": "slow down"}},  # raised, never yielded
    ],
)
def test_the_shape_check_catches_what_the_service_would_not_send(shapes, event):
    with pytest.raises(AssertionError):
        check_stream_events([event], shapes)


def test_a_model_without_a_latency_entry_answers_at_the_default_pace(config):
    sleep = RecordingSleep()
    sim = backend(config, sleep=sleep, latency_scale=1.0)  # titan: no entry in LATENCY
    sim.converse(modelId=TITAN, messages=user("hello"))
    assert sleep.calls == [pytest.approx(LATENCY.default_ms / 1000)]


# --- issue 17: bounded tool output, honest word counts, schemas refused as Bedrock refuses them -----------


def long_string_tool(min_length: int) -> dict:
    schema = {
        "type": "object",
        "properties": {"essay": {"type": "string", "minLength": min_length}},
        "required": ["essay"],
    }
    return {"toolSpec": {"name": "write_essay", "inputSchema": {"json": schema}}}


def test_a_tool_call_honours_max_tokens_buffered_and_streamed(config):
    # Given a tool whose input must be a 20,000-character string, and max_tokens 50
    request = tool_request("write", {"tool": {"name": "write_essay"}}, tools=(long_string_tool(20_000),))
    request["inferenceConfig"] = {"maxTokens": 50}
    sim = backend(config)
    # Then the call is cut at 50 tokens (it once came back with 3,335), as Bedrock cuts an answer
    response = sim.converse(**request)
    assert response["stopReason"] == "max_tokens" and response["usage"]["outputTokens"] == 50
    events = events_of(sim.converse_stream(**request))
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["max_tokens"]
    assert sum("contentBlockDelta" in e for e in events) == 50


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string", "minLength": 100_000_000}}, "required": ["a"]},
        {"type": "object", "properties": {"a": {"type": "array", "minItems": 100_000_000}}, "required": ["a"]},
        {
            "type": "object",
            "properties": {"a": {"type": "array", "items": False, "minItems": 100_000_000}},
            "required": ["a"],
        },
    ],
)
def test_what_a_schema_asks_for_cannot_make_the_backend_generate_without_bound(config, schema):
    # Given a schema asking for 100 million characters or items (it once grew the server to 6.7 GB), and a
    # generous max_tokens
    tool = {"toolSpec": {"name": "big", "inputSchema": {"json": schema}}}
    request = tool_request("go", {"tool": {"name": "big"}}, tools=(tool,))
    response = backend(config).converse(**request, inferenceConfig={"maxTokens": 100_000})
    # Then what is generated stays within the bound a text answer has (give or take a value's separators)
    assert len(json.dumps(tool_use(response)["input"])) <= MAX_TOOL_INPUT_CHARS + 64
    assert response["stopReason"] == "max_tokens"  # the schema could not be met: the answer says it was cut
    assert example_from_schema(schema, max_chars=1_000) is not None
    assert len(json.dumps(example_from_schema(schema, max_chars=1_000))) <= 1_100


@pytest.mark.parametrize(
    ("prompt", "says"),
    [("hi", "Your message had 1 word,"), ("hi there", "Your message had 2 words,")],
)
def test_the_word_count_is_grammatical(config, prompt, says):
    text = backend(config).converse(modelId=HAIKU, messages=user(prompt))["output"]["message"]["content"][0]["text"]
    assert says in text


@pytest.mark.parametrize("wanted", [1, 3, 10, 23, 24, 300])
def test_a_prompt_asking_for_n_words_gets_exactly_n(config, wanted):
    prompt = f"write {wanted} words"
    text = backend(config).converse(modelId=HAIKU, messages=user(prompt), inferenceConfig={"maxTokens": 4096})[
        "output"
    ]["message"]["content"][0]["text"]
    assert len(text.split()) == wanted and text.startswith(SIMULATED_TAG)


@pytest.mark.parametrize(
    "schema",
    [{"type": "object", "required": 5}, {"type": "object", "properties": 5}, {"properties": {"a": {"anyOf": 5}}}],
)
def test_a_malformed_tool_schema_is_a_validation_exception_not_a_crash(config, schema):
    # The router refuses these first (400 invalid_schema); a caller of the backend itself gets what Claude says
    tool = {"toolSpec": {"name": "broken", "inputSchema": {"json": schema}}}
    with pytest.raises(ClientError) as caught:
        backend(config).converse(**tool_request("go", {"tool": {"name": "broken"}}, tools=(tool,)))
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "JSON schema is invalid" in caught.value.response["Error"]["Message"]
