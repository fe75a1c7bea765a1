"""LangChain's `ChatOpenAI` pointed at the local server, as an agent or chain author would configure it.

One server process for the module (simulated models, no latency). The simulated model is deterministic: the same
prompt gives the same answer streamed or not; a prompt that names an offered tool gets a call to it, with
arguments taken from `name=value` hints in the prompt (see local/simulated_backend.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

pytestmark = pytest.mark.e2e


class Weather(BaseModel):
    """The weather in a city."""

    city: str = Field(description="the city's name")
    temperature_c: int = Field(description="degrees Celsius")
    conditions: Literal["sunny", "cloudy", "rainy"]


class Notes(BaseModel):
    """Notes on a topic; every field is optional."""

    summary: str | None = None
    tags: list[str] = Field(default_factory=list)
    confidence: float | None = None


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"18 degrees and sunny in {city}"


@pytest.fixture(scope="module")
def server(module_server):
    return module_server


@pytest.fixture(scope="module")
def llm(server) -> ChatOpenAI:
    return make_llm(server)


def make_llm(server, **kwargs) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=f"{server.base_url}/v1", api_key="local", model="faq", max_retries=0, timeout=20, **kwargs
    )


PROMPT = [SystemMessage("Be brief."), HumanMessage("How do owls see at night?")]


def test_invoke_returns_the_simulated_answer_with_usage(llm):
    # When a chain invokes the model
    message = llm.invoke(PROMPT)
    # Then it gets an AIMessage with the answer, the finish reason and token usage
    assert isinstance(message, AIMessage)
    assert message.content.startswith("[SIMULATED]")
    assert message.response_metadata["finish_reason"] == "stop"
    assert message.usage_metadata["output_tokens"] > 0
    assert message.usage_metadata["total_tokens"] == (
        message.usage_metadata["input_tokens"] + message.usage_metadata["output_tokens"]
    )


def test_stream_yields_chunks_that_add_up_to_the_answer(llm):
    # Given the whole answer
    whole = llm.invoke(PROMPT)
    # When the same prompt is streamed
    chunks = list(llm.stream(PROMPT))
    # Then many chunks arrive and add up to the same answer, ending with the finish reason
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert sum(1 for c in chunks if c.content) > 10
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.content == whole.content
    assert total.response_metadata.get("finish_reason") == "stop"


def test_astream_yields_the_same_answer_asynchronously(llm):
    # Given the whole answer
    whole = llm.invoke(PROMPT)

    # When the prompt is streamed with astream (usage asked for)
    async def run():
        return [chunk async for chunk in llm.astream(PROMPT, stream_usage=True)]

    chunks = asyncio.run(run())
    # Then the chunks join to the answer, and the usage arrives too
    assert "".join(c.content for c in chunks) == whole.content
    assert (
        sum(c.usage_metadata["output_tokens"] for c in chunks if c.usage_metadata)
        == whole.usage_metadata["output_tokens"]
    )


def test_streaming_true_still_gives_a_whole_message_to_invoke(server):
    # Given a ChatOpenAI configured to stream (as chat UIs do)
    llm = make_llm(server, streaming=True)
    # When it is invoked
    message = llm.invoke(PROMPT)
    # Then LangChain assembles the streamed answer into one message
    assert message.content.startswith("[SIMULATED]")
    assert message.response_metadata.get("finish_reason") == "stop"


def test_max_tokens_is_reported_as_a_length_stop(server):
    # Given a ChatOpenAI limited to 4 output tokens
    message = make_llm(server, max_tokens=4).invoke(PROMPT)
    # Then the answer is cut, and LangChain reports why
    assert message.response_metadata["finish_reason"] == "length"
    assert message.usage_metadata["output_tokens"] == 4


def test_bind_tools_gets_a_tool_call_and_then_an_answer_using_its_result(llm):
    # Given the model with a tool bound
    with_tools = llm.bind_tools([get_weather])
    question = HumanMessage("Please use get_weather for city=Oslo")
    # When the prompt names the tool
    first = with_tools.invoke([question])
    # Then LangChain sees a parsed tool call with the arguments from the prompt
    assert first.response_metadata["finish_reason"] == "tool_calls"
    assert len(first.tool_calls) == 1
    call = first.tool_calls[0]
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "Oslo"}
    assert call["id"]
    assert not first.invalid_tool_calls
    # When the agent runs the tool and sends its result back
    result = get_weather.invoke(call)
    assert isinstance(result, ToolMessage)
    second = with_tools.invoke([question, first, result])
    # Then the model answers in text that uses the result
    assert not second.tool_calls
    assert "18 degrees and sunny in Oslo" in second.content


def test_a_streamed_tool_call_assembles_from_chunks(llm):
    # When a tool call is streamed
    chunks = list(llm.bind_tools([get_weather]).stream([HumanMessage("Please use get_weather for city=Oslo")]))
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    # Then the argument fragments come in several chunks and join to the whole call
    assert sum(1 for c in chunks if c.tool_call_chunks) > 1
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("get_weather", {"city": "Oslo"})]
    assert not total.invalid_tool_calls


def test_a_forced_tool_choice_calls_the_tool(llm):
    # When the tool is forced and the prompt does not mention it
    message = llm.bind_tools([get_weather], tool_choice="get_weather").invoke([HumanMessage("Anything new?")])
    # Then the model calls it anyway
    assert [c["name"] for c in message.tool_calls] == ["get_weather"]


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_with_structured_output_returns_a_valid_pydantic_object(llm, method):
    # Given a chain that wants a Weather object
    structured = llm.with_structured_output(Weather, method=method)
    # When it is invoked
    weather = structured.invoke("Report the weather for city=Bergen, conditions=rainy")
    # Then it gets one, filled in from the prompt and valid for the schema
    assert isinstance(weather, Weather)
    assert weather.city == "Bergen"
    assert weather.conditions == "rainy"


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")  # inside LangChain's stream parser
@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_with_structured_output_streams_to_a_valid_object(llm, method):
    # When a structured-output chain is streamed
    parts = list(llm.with_structured_output(Weather, method=method).stream("Weather for city=Bergen"))
    # Then the last object it yields is the whole, valid answer
    assert parts
    assert isinstance(parts[-1], Weather)
    assert parts[-1].city == "Bergen"


def test_with_structured_output_json_mode_parses_the_json_answer(llm):
    """json_mode sends response_format json_object: the router asks for a JSON object with no schema, and the
    simulated model answers that with a generic object (the smallest instance of {"type": "object"}: `{}`).
    LangChain then parses the content into the schema, so the schema must accept that object: `Notes` has only
    optional fields. (A real model would fill them in; the point here is that the JSON reaches the parser intact.)
    """
    # Given a chain in JSON mode
    structured = llm.with_structured_output(Notes, method="json_mode", include_raw=True)
    # When it is invoked
    out = structured.invoke("Return notes about owls as a JSON object")
    # Then the raw content is a JSON object and it parsed into Notes without error
    assert out["parsing_error"] is None
    assert isinstance(json.loads(out["raw"].content), dict)
    assert isinstance(out["parsed"], Notes)
    assert out["parsed"] == Notes.model_validate(json.loads(out["raw"].content))


def test_with_structured_output_json_mode_into_a_dict_schema(llm):
    """The same, with a JSON Schema dict instead of a pydantic model: LangChain returns the parsed dict."""
    schema = {"title": "notes", "type": "object", "properties": {"summary": {"type": "string"}}}
    out = llm.with_structured_output(schema, method="json_mode").invoke("Notes about owls, as JSON")
    assert isinstance(out, dict)
