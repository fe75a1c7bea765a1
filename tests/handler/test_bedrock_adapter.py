"""`BedrockConverse` against a real `bedrock-runtime` client wrapped in botocore's Stubber.

The Stubber validates every request and response against the service model, so these tests
prove the adapter sends and parses Converse's real shapes (moto has no `converse`).
"""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.stub import Stubber

from aws_adapters.bedrock import BedrockConverse, ModelCall, ModelCallError
from aws_adapters.conversation import (
    ModelReply,
    Reasoning,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    Text,
    TextDelta,
    Thinking,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolSpec,
    ToolUse,
    Turn,
)
from router.failures import RouterFailure
from router.http.errors import status_of

HAIKU_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
ROUTER_ARN = "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1"


@pytest.fixture
def stubbed():
    """A real bedrock-runtime client with a Stubber, and an adapter whose factory hands out that client."""
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    made = []

    def factory(region, timeout_s):
        made.append((region, timeout_s))
        return client

    with Stubber(client) as stubber:
        yield BedrockConverse(factory), stubber, made
        stubber.assert_no_pending_responses()


def test_a_converse_call_sends_the_expected_request_and_parses_the_reply(stubbed):
    adapter, stubber, made = stubbed
    # Given Converse expects exactly this request and answers with a realistic response
    messages = [{"role": "user", "content": [{"text": "What is S3?"}]}]
    turns = [Turn("user", (Text("What is S3?"),))]
    stubber.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Object "}, {"text": "storage."}]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 11, "outputTokens": 3, "totalTokens": 14},
            "metrics": {"latencyMs": 321},
        },
        expected_params={
            "modelId": HAIKU_ID,
            "messages": messages,
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.3, "topP": 0.9, "stopSequences": ["END"]},
        },
    )
    # When the adapter calls the model
    reply = adapter.converse(
        ModelCall(
            model_id=HAIKU_ID,
            region="us-east-1",
            messages=turns,
            system="Be brief.",
            max_tokens=64,
            temperature=0.3,
            top_p=0.9,
            stop=("END",),
        ),
        timeout_s=4.2,
    )
    # Then the reply joins the text blocks and carries usage, stop reason and Bedrock's own latency
    assert reply.text == "Object storage."
    assert reply.stop_reason == "max_tokens"
    assert (reply.input_tokens, reply.output_tokens) == (11, 3)
    assert reply.latency_ms == 321
    assert reply.invoked_model_id is None
    # and the client was made for the call's region with the timeout rounded down to whole seconds (4.2 s -> 4)
    assert made == [("us-east-1", 4)]


def test_a_prompt_router_reply_names_the_model_that_answered(stubbed):
    adapter, stubber, _ = stubbed
    # Given a prompt router answers and says which model it invoked
    invoked = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
    stubber.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Hi."}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7},
            "metrics": {"latencyMs": 150},
            "trace": {"promptRouter": {"invokedModelId": invoked}},
        },
        expected_params={
            "modelId": ROUTER_ARN,
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "inferenceConfig": {"maxTokens": 1024},
        },
    )
    # When the router's ARN is called
    reply = adapter.converse(
        ModelCall(model_id=ROUTER_ARN, region=None, messages=[{"role": "user", "content": [{"text": "Hi"}]}]),
        timeout_s=10,
    )
    # Then the reply says which model answered (what the router bills and measures by)
    assert reply.invoked_model_id == invoked
    assert reply.text == "Hi."


def test_tools_go_out_and_tool_use_comes_back_in_converse_shape(stubbed):
    adapter, stubber, _ = stubbed
    # Given a tool definition and a model that calls it
    tool_config = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
    tool_use = {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Oslo"}}}
    stubber.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [tool_use]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 20, "outputTokens": 10, "totalTokens": 30},
            "metrics": {"latencyMs": 200},
        },
        expected_params={
            "modelId": HAIKU_ID,
            "messages": [{"role": "user", "content": [{"text": "Weather?"}]}],
            "inferenceConfig": {"maxTokens": 256},
            "toolConfig": tool_config,
        },
    )
    # When the adapter calls with tools
    reply = adapter.converse(
        ModelCall(
            model_id=HAIKU_ID,
            region="us-east-1",
            messages=[Turn("user", (Text("Weather?"),))],
            max_tokens=256,
            tools=(ToolSpec("get_weather", None, {"type": "object"}),),
        ),
        timeout_s=3,
    )
    # Then the toolUse block comes back as the reply's tool call, and there is no text
    assert reply.tool_calls == (ToolUse("t1", "get_weather", {"city": "Oslo"}),)
    assert reply.text == "" and not reply.text_only
    assert reply.stop_reason == "tool_use"


def test_messages_already_in_converse_shape_go_out_as_they_are(stubbed):
    adapter, stubber, _ = stubbed
    # Given a message built in Converse's shape (the labeller builds its text turns that way)
    messages = [{"role": "user", "content": [{"text": "Hi"}]}, {"role": "assistant", "content": [{"text": "Yes?"}]}]
    stubber.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1},
        },
        expected_params={"modelId": HAIKU_ID, "messages": messages, "inferenceConfig": {"maxTokens": 1024}},
    )
    # When it is called, then Converse gets those messages unchanged (the Stubber checks)
    assert adapter.converse(ModelCall(model_id=HAIKU_ID, region=None, messages=messages), timeout_s=2).text == "ok"


@pytest.mark.parametrize(
    ("code", "http_status", "retryable", "status", "api_code"),
    [
        ("ValidationException", 400, False, 400, "model_validation_error"),
        ("AccessDeniedException", 403, True, 502, "model_access_denied"),
        ("ThrottlingException", 429, True, 429, "model_throttled"),
        ("ModelTimeoutException", 408, True, 504, "model_timeout"),
        ("ServiceUnavailableException", 503, True, 503, "model_unavailable"),
        ("SomethingNewException", 500, True, 502, "model_error"),
    ],
)
def test_a_converse_error_maps_to_its_class(stubbed, code, http_status, retryable, status, api_code):
    adapter, stubber, _ = stubbed
    # Given Converse fails with this error
    stubber.add_client_error(
        "converse", service_error_code=code, service_message=f"{code} happened", http_status_code=http_status
    )
    # When the adapter calls the model
    with pytest.raises(ModelCallError) as caught:
        adapter.converse(
            ModelCall(model_id=HAIKU_ID, region="us-east-1", messages=[{"role": "user", "content": [{"text": "hi"}]}]),
            timeout_s=2,
        )
    # Then the error says whether another model may be tried and what the caller gets
    error = caught.value
    assert error.error_class == code
    assert error.retryable is retryable
    failure = RouterFailure(error.kind, error.code, error.message)  # what the caller gets, via the one table
    assert (status_of(failure), error.code) == (status, api_code)
    assert error.message == f"{code} happened"
    assert error.latency_ms >= 0


def test_one_client_is_reused_per_region_and_timeout(stubbed):
    adapter, stubber, made = stubbed
    # Given two successful calls with timeouts that round to the same whole second
    response = {
        "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "metrics": {"latencyMs": 1},
    }
    stubber.add_response("converse", response)
    stubber.add_response("converse", response)
    call = ModelCall(model_id=HAIKU_ID, region="us-west-2", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    # When both are made
    adapter.converse(call, timeout_s=2.2)
    adapter.converse(call, timeout_s=2.9)
    # Then one client serves both, its timeout rounded down (a call never gets more time than is left)
    assert made == [("us-west-2", 2)]


def test_real_clients_leave_retries_to_the_router():
    # botocore would otherwise repeat a read timeout, turning one hanging model into three waits
    from aws_adapters.bedrock import boto3_client_factory

    client = boto3_client_factory("us-east-1")("us-east-1", 7)
    assert client.meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert client.meta.config.read_timeout == 7


def test_real_clients_pool_connections_and_send_what_the_router_built_with_a_fresh_invocation_id(monkeypatch):
    # Given the real client, pointed at a closed local port (no traffic leaves the machine)
    from aws_adapters.bedrock import MAX_POOL_CONNECTIONS, boto3_client_factory

    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    client = boto3_client_factory("us-east-1")("us-east-1", 7)
    sent: list[dict] = []
    client.meta.events.register("before-send.bedrock-runtime", lambda request, **_: sent.append(request.headers))
    # Then concurrent calls share a pool as large as the local server's concurrency, on kept-alive connections
    assert client.meta.config.max_pool_connections == MAX_POOL_CONNECTIONS >= 64
    assert client.meta.config.tcp_keepalive is True
    # When it sends two requests, one of them something botocore's own validation would refuse (a number as text)
    for text in ("hi", 5):
        with pytest.raises(Exception, match="Could not connect"):
            client.converse(modelId=HAIKU_ID, messages=[{"role": "user", "content": [{"text": text}]}])
    # Then both reach the wire (the router validates; Bedrock judges the rest), each with its own v4 invocation id
    ids = [uuid.UUID(h["amz-sdk-invocation-id"].decode()) for h in sent]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert {i.version for i in ids} == {4}
    # And the User-Agent still names the SDK, its version and the router
    agent = sent[0]["User-Agent"].decode()
    assert agent.startswith("Boto3/") and "Botocore/" in agent and "model-router" in agent.split()


# --- ConverseStream, through botocore's real serializer and event-stream parser -------------------------
# The Stubber cannot return an event stream, so these tests answer at the HTTP layer instead: botocore serializes
# and validates the real request, and parses our bytes (AWS's binary event-stream encoding) with the service
# model, exactly as it parses Bedrock's.


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + bytes([7]) + len(v).to_bytes(2, "big") + v


def _message(headers: dict[str, str], payload: dict) -> bytes:
    import json
    import zlib

    head = b"".join(_header(k, v) for k, v in headers.items())
    body = json.dumps(payload).encode()
    prelude = (12 + len(head) + len(body) + 4).to_bytes(4, "big") + len(head).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + head + body
    return message + zlib.crc32(message).to_bytes(4, "big")


def event(kind: str, payload: dict) -> bytes:
    return _message({":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, payload)


def exception_event(kind: str, message: str) -> bytes:
    return _message(
        {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
        {"message": message},
    )


class _Raw:
    def __init__(self, chunks: list[bytes]):
        self._chunks = chunks
        self.closed = False

    def stream(self, **_):
        for chunk in self._chunks:
            if self.closed:
                return
            yield chunk

    def read(self, *_):
        return b"".join(self._chunks)

    def close(self):
        self.closed = True


@pytest.fixture(params=["botocore's EventStream", "aws_adapters.event_stream"])
def streaming(request):
    """A real bedrock-runtime client whose HTTP layer answers ConverseStream with the bytes a test queues; each test
    runs twice: events read by botocore's EventStream, and by the router's reader (`boto3_client_factory`'s hook),
    which must give the same answers and errors."""
    import json

    from botocore.awsrequest import AWSResponse

    from aws_adapters.event_stream import capture

    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    if request.param == "aws_adapters.event_stream":
        client.meta.events.register("before-parse.bedrock-runtime.ConverseStream", capture)
    sent: list[dict] = []
    queued: list[list[bytes]] = []
    raws: list[_Raw] = []

    def answer(request, **_):
        sent.append(json.loads(request.body))
        raw = _Raw(queued.pop(0))
        raws.append(raw)
        return AWSResponse(request.url, 200, {"content-type": "application/vnd.amazon.eventstream"}, raw)

    client.meta.events.register("before-send.bedrock-runtime.ConverseStream", answer)
    return BedrockConverse(lambda region, timeout_s: client), sent, queued, raws


WEATHER = ToolSpec(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Weather for a city",
                "inputSchema": {
                    "json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
                },
            }
        }
    ],
    "toolChoice": {"tool": {"name": "get_weather"}},
}


def test_a_text_stream_sends_the_request_and_yields_the_answer_then_its_summary(streaming):
    adapter, sent, queued, _ = streaming
    # Given Bedrock streams two text deltas, the stop and the usage
    queued.append(
        [
            event("messageStart", {"role": "assistant"}),
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Object "}}),
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "storage."}}),
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event("messageStop", {"stopReason": "end_turn"}),
            event(
                "metadata",
                {"usage": {"inputTokens": 11, "outputTokens": 3, "totalTokens": 14}, "metrics": {"latencyMs": 321}},
            ),
        ]
    )
    # When the adapter opens the stream and reads it
    stream = adapter.converse_stream(
        ModelCall(
            model_id=HAIKU_ID,
            region="us-east-1",
            messages=[Turn("user", (Text("S3?"),))],
            system="Be brief.",
            max_tokens=64,
            stop=("END",),
        ),
        timeout_s=5,
    )
    events = list(stream.events())
    # Then botocore serialized the request Bedrock expects, and every event parsed by the service model came back
    # as the answer's text, then one summary with the stop reason, the usage and Bedrock's latency
    assert sent == [
        {
            "messages": [{"role": "user", "content": [{"text": "S3?"}]}],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 64, "stopSequences": ["END"]},
        }
    ]
    assert events == [
        TextDelta("Object "),
        TextDelta("storage."),
        ModelReply(
            text="",
            tool_calls=(),
            stop_reason="end_turn",
            input_tokens=11,
            output_tokens=3,
            latency_ms=321.0,
            invoked_model_id=None,
        ),
    ]


def test_a_tool_use_stream_carries_the_tool_config_and_the_input_fragments(streaming):
    adapter, sent, queued, _ = streaming
    # Given a forced tool call answered as a toolUse block whose input arrives in two fragments
    queued.append(
        [
            event("messageStart", {"role": "assistant"}),
            event(
                "contentBlockStart",
                {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}},
            ),
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"city": "Pa'}}}),
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": 'ris"}'}}}),
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event("messageStop", {"stopReason": "tool_use"}),
            event(
                "metadata",
                {"usage": {"inputTokens": 20, "outputTokens": 9, "totalTokens": 29}, "metrics": {"latencyMs": 100}},
            ),
        ]
    )
    # When the adapter streams with the tool, forced by name
    stream = adapter.converse_stream(
        ModelCall(
            model_id=HAIKU_ID,
            region="us-east-1",
            tools=(WEATHER,),
            tool_choice=ToolChoice("named", "get_weather"),
            messages=[Turn("user", (Text("Weather?"),))],
        ),
        5,
    )
    events = list(stream.events())
    # Then toolConfig (with toolChoice) went out in Converse's shape, and the tool's start and fragments came back
    assert sent[0]["toolConfig"] == TOOL_CONFIG
    assert events[0] == ToolCallStart(0, "tooluse_1", "get_weather")
    fragments = [e.fragment for e in events if isinstance(e, ToolCallDelta)]
    assert fragments == ['{"city": "Pa', 'ris"}'] and "".join(fragments) == '{"city": "Paris"}'
    assert isinstance(events[-1], ModelReply) and events[-1].stop_reason == "tool_use"


def test_an_exception_event_mid_stream_is_a_classified_model_call_error(streaming):
    adapter, _, queued, _ = streaming
    # Given Bedrock sends some text, then a throttling exception inside the stream
    queued.append(
        [
            event("messageStart", {"role": "assistant"}),
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
            exception_event("throttlingException", "slow down"),
        ]
    )
    stream = adapter.converse_stream(
        ModelCall(model_id=HAIKU_ID, region="us-east-1", messages=[Turn("user", (Text("hi"),))]), 5
    )
    events = stream.events()
    assert next(events) == TextDelta("Hel")
    # When the reader reaches the exception, then it is a retryable throttle, named as Converse names it
    with pytest.raises(ModelCallError) as caught:
        next(events)
    assert (caught.value.error_class, caught.value.retryable, caught.value.code) == (
        "ThrottlingException",
        True,
        "model_throttled",
    )


def test_closing_a_stream_stops_reading_the_connection(streaming):
    adapter, _, queued, raws = streaming
    queued.append(
        [event("messageStart", {"role": "assistant"})]
        + [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}})] * 50
    )
    stream = adapter.converse_stream(
        ModelCall(model_id=HAIKU_ID, region="us-east-1", messages=[{"role": "user", "content": [{"text": "hi"}]}]), 5
    )
    events = stream.events()
    next(events)
    # When the client goes away and the router closes the stream
    stream.close()
    # Then the HTTP body is closed and no further event is read
    assert raws[0].closed
    assert list(events) == []


def test_a_refused_connection_is_labelled_as_a_connection_error_not_a_timeout():
    # Given an endpoint nothing listens on (a closed local port: no traffic leaves the machine)
    from aws_adapters.bedrock import boto3_client_factory

    make = boto3_client_factory("us-east-1")

    def factory(region, timeout_s):
        client = make(region, timeout_s)
        client.meta._endpoint_url = "http://127.0.0.1:9"  # discard port: connection refused
        client._endpoint.host = "http://127.0.0.1:9"
        return client

    adapter = BedrockConverse(factory)
    with pytest.raises(ModelCallError) as caught:
        adapter.converse(
            ModelCall(model_id=HAIKU_ID, region="us-east-1", messages=[{"role": "user", "content": [{"text": "hi"}]}]),
            timeout_s=2,
        )
    # Then it says it could not connect (retryable on another model), rather than claiming a timeout
    assert (caught.value.error_class, caught.value.code, caught.value.retryable) == (
        "ConnectionError",
        "bedrock_unreachable",
        True,
    )


# --- extended thinking, CountTokens and cache usage (the Anthropic Messages API's needs) ------------------------


def test_thinking_goes_out_in_claude_s_fields_and_reasoning_with_its_signature_comes_back(stubbed):
    adapter, stubber, _ = stubbed
    # Given a conversation whose earlier assistant turn thought (text and signature) before it answered, and a
    # model that answers with reasoning, its signature, a stop sequence and cache usage
    earlier = Turn("assistant", (Reasoning("I should greet.", "sig-1"), RedactedReasoning(b"\x00opaque"), Text("Hi!")))
    stubber.add_response(
        "converse",
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"reasoningContent": {"reasoningText": {"text": "Think again.", "signature": "sig-2"}}},
                        {"reasoningContent": {"redactedContent": b"\x01secret"}},
                        {"text": "Hello again"},
                    ],
                }
            },
            "stopReason": "stop_sequence",
            "usage": {
                "inputTokens": 7,
                "outputTokens": 30,
                "totalTokens": 137,
                "cacheReadInputTokens": 80,
                "cacheWriteInputTokens": 20,
            },
            "metrics": {"latencyMs": 200},
            "additionalModelResponseFields": {"stop_sequence": "END"},
        },
        expected_params={
            "modelId": HAIKU_ID,
            "messages": [
                {"role": "user", "content": [{"text": "Hello"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"reasoningContent": {"reasoningText": {"text": "I should greet.", "signature": "sig-1"}}},
                        {"reasoningContent": {"redactedContent": b"\x00opaque"}},
                        {"text": "Hi!"},
                    ],
                },
                {"role": "user", "content": [{"text": "Again"}]},
            ],
            "inferenceConfig": {"maxTokens": 4096},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}, "top_k": 5},
        },
    )
    # When the adapter calls the model with thinking on and top_k
    reply = adapter.converse(
        ModelCall(
            model_id=HAIKU_ID,
            region="us-east-1",
            messages=[Turn("user", (Text("Hello"),)), earlier, Turn("user", (Text("Again"),))],
            max_tokens=4096,
            top_k=5,
            thinking=Thinking("enabled", 2048),
        ),
        timeout_s=10,
    )
    # Then the reasoning comes back with its signature, unchanged, ahead of the text; the stop sequence and the
    # cache tokens are reported (the Stubber checked both shapes against the service model)
    assert reply.reasoning == (Reasoning("Think again.", "sig-2"), RedactedReasoning(b"\x01secret"))
    assert reply.text == "Hello again" and not reply.text_only
    assert reply.stop_sequence == "END"
    assert (reply.input_tokens, reply.cache_read_tokens, reply.cache_write_tokens) == (7, 80, 20)


def test_a_call_without_thinking_sends_no_reasoning_blocks(stubbed):
    adapter, stubber, _ = stubbed
    # Given a history with reasoning, sent to a model called without thinking (say a fallback that cannot think)
    history = [
        Turn("user", (Text("Hello"),)),
        Turn("assistant", (Reasoning("I should greet.", "sig-1"), Text("Hi!"))),
        Turn("user", (Text("Again"),)),
    ]
    stubber.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Ok"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 5, "outputTokens": 1, "totalTokens": 6},
            "metrics": {"latencyMs": 10},
        },
        expected_params={
            "modelId": HAIKU_ID,
            "messages": [
                {"role": "user", "content": [{"text": "Hello"}]},
                {"role": "assistant", "content": [{"text": "Hi!"}]},
                {"role": "user", "content": [{"text": "Again"}]},
            ],
            "inferenceConfig": {"maxTokens": 1024},
        },
    )
    # When it is called, then the reasoning blocks are left out (the Stubber checks the request)
    assert adapter.converse(ModelCall(model_id=HAIKU_ID, region="us-east-1", messages=history), 10).text == "Ok"


def test_count_tokens_asks_bedrock_in_its_converse_input_shape(stubbed):
    adapter, stubber, _ = stubbed
    # Given CountTokens expects the Converse input for a foundation model id
    stubber.add_response(
        "count_tokens",
        {"inputTokens": 42},
        expected_params={
            "modelId": "anthropic.claude-haiku-4-5-20251001-v1:0",
            "input": {
                "converse": {
                    "messages": [{"role": "user", "content": [{"text": "Count me"}]}],
                    "system": [{"text": "Be brief."}],
                    "toolConfig": {"tools": TOOL_CONFIG["tools"]},
                }
            },
        },
    )
    # When the adapter counts
    tokens = adapter.count_tokens(
        ModelCall(
            model_id="anthropic.claude-haiku-4-5-20251001-v1:0",
            region="us-east-1",
            messages=[Turn("user", (Text("Count me"),))],
            system="Be brief.",
            tools=(WEATHER,),
        ),
        timeout_s=5,
    )
    # Then Bedrock's count comes back as it is
    assert tokens == 42


def test_a_count_tokens_refusal_is_a_model_call_error(stubbed):
    adapter, stubber, _ = stubbed
    stubber.add_client_error(
        "count_tokens", "ValidationException", "The provided model doesn't support counting tokens", 400
    )
    with pytest.raises(ModelCallError) as caught:
        adapter.count_tokens(
            ModelCall(model_id="amazon.nova-pro-v1:0", region="us-east-1", messages=[Turn("user", (Text("x"),))]), 5
        )
    assert caught.value.error_class == "ValidationException"


def test_a_reasoning_stream_yields_its_text_then_its_signature(streaming):
    adapter, sent, queued, _ = streaming
    # Given Bedrock streams a reasoning block (text in two deltas, then the signature), then the answer's text
    queued.append(
        [
            event("messageStart", {"role": "assistant"}),
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let me "}}}),
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think."}}}),
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Done."}}),
            event("contentBlockStop", {"contentBlockIndex": 1}),
            event("messageStop", {"stopReason": "end_turn"}),
            event(
                "metadata",
                {
                    "usage": {"inputTokens": 3, "outputTokens": 9, "totalTokens": 12, "cacheReadInputTokens": 4},
                    "metrics": {"latencyMs": 50},
                },
            ),
        ]
    )
    stream = adapter.converse_stream(
        ModelCall(
            model_id=HAIKU_ID,
            region="us-east-1",
            messages=[Turn("user", (Text("Think"),))],
            max_tokens=2048,
            thinking=Thinking("enabled", 1024),
        ),
        5,
    )
    events = list(stream.events())
    # Then botocore sent the thinking field, and the events parsed by the service model are the reasoning's pieces,
    # its signature, the text, then the summary with the cache read
    assert sent[0]["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert events[:4] == [
        ReasoningDelta("Let me "),
        ReasoningDelta("think."),
        ReasoningSignature("sig"),
        TextDelta("Done."),
    ]
    assert isinstance(events[-1], ModelReply) and events[-1].cache_read_tokens == 4


def test_the_router_s_own_session_loads_botocore_s_models_for_its_services_and_every_other_service():
    # Given the session all the router's clients are made on (its loader skips botocore's scan of every service)
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    from aws_adapters import boto_session

    session = boto_session.session(boto_session.ROUTER_SERVICES)
    ours = session._session.get_component("data_loader")
    theirs = botocore.session.get_session().get_component("data_loader")
    # Then it loads the very service models and endpoint rules botocore's own loader loads, for Bedrock, AppConfig,
    # DynamoDB and SQS
    for service in boto_session.ROUTER_SERVICES:
        for kind in ("service-2", "endpoint-rule-set-1"):
            assert ours.load_service_model(service, kind) == theirs.load_service_model(service, kind)
    # And any other service (the STS client an assume-role credential provider makes) loads as botocore loads it
    assert ours.load_service_model("sts", "service-2") == theirs.load_service_model("sts", "service-2")
    assert session.client("sts", region_name="us-east-1").meta.service_model.service_name == "sts"
    # And the full listing, when asked for, is botocore's; an unknown name is botocore's UnknownServiceError
    assert list(ours.list_available_services("service-2")) == theirs.list_available_services("service-2")
    with pytest.raises(UnknownServiceError):
        session.client("no-such-service", region_name="us-east-1")


def test_the_router_s_clients_are_made_on_one_shared_session():
    # Given the clients a cold start makes: AppConfig's data plane, the spend table, the label queue and Bedrock
    from aws_adapters import boto_session
    from aws_adapters.bedrock import boto3_client_factory
    from router.adapters.sample_queue import sqs_client
    from router.adapters.spend_store import dynamodb_client
    from router.wiring import _appconfigdata_client

    clients = [
        _appconfigdata_client("us-east-1"),
        dynamodb_client("us-east-1"),
        sqs_client("us-east-1"),
        boto3_client_factory("us-east-1")(None, 5.0),
    ]
    # Then each is the service it names, all made on one session whose loader knows the router's services
    assert sorted(c.meta.service_model.service_name for c in clients) == sorted(boto_session.ROUTER_SERVICES)
    loaders = {id(c._loader) for c in clients}
    assert len(loaders) == 1 and isinstance(clients[0]._loader, boto_session.FastLoader)
