"""`BedrockConverse` against a real `bedrock-runtime` client wrapped in botocore's Stubber.

The Stubber validates every request and response against the service model, so these tests
prove the adapter sends and parses Converse's real shapes (moto has no `converse`).
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from router.adapters.bedrock import BedrockConverse, ModelCall, ModelCallError

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
        ModelCall(model_id=HAIKU_ID, region="us-east-1", messages=messages, system="Be brief.", max_tokens=64,
                  temperature=0.3, top_p=0.9, stop=("END",)),
        timeout_s=4.2,
    )
    # Then the reply joins the text blocks and carries usage, stop reason and Bedrock's own latency
    assert reply.text == "Object storage."
    assert reply.stop_reason == "max_tokens"
    assert (reply.input_tokens, reply.output_tokens) == (11, 3)
    assert reply.latency_ms == 321
    assert reply.invoked_model_id is None
    # and the client was made for the call's region with the timeout rounded up to whole seconds
    assert made == [("us-east-1", 5)]


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
        expected_params={"modelId": ROUTER_ARN, "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                         "inferenceConfig": {"maxTokens": 1024}},
    )
    # When the router's ARN is called
    reply = adapter.converse(
        ModelCall(model_id=ROUTER_ARN, region=None, messages=[{"role": "user", "content": [{"text": "Hi"}]}]),
        timeout_s=10,
    )
    # Then the reply says which model answered (what the router bills and measures by)
    assert reply.invoked_model_id == invoked
    assert reply.text == "Hi."


def test_tool_config_and_tool_use_pass_through_in_converse_shape(stubbed):
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
        expected_params={"modelId": HAIKU_ID, "messages": [{"role": "user", "content": [{"text": "Weather?"}]}],
                         "inferenceConfig": {"maxTokens": 256}, "toolConfig": tool_config},
    )
    # When the adapter calls with tools
    reply = adapter.converse(
        ModelCall(model_id=HAIKU_ID, region="us-east-1", messages=[{"role": "user", "content": [{"text": "Weather?"}]}],
                  max_tokens=256, tool_config=tool_config),
        timeout_s=3,
    )
    # Then the toolUse block is kept for the API layer and there is no text
    assert reply.content == [tool_use]
    assert reply.text == ""
    assert reply.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("code", "http_status", "retryable", "status", "api_code"),
    [
        ("ValidationException", 400, False, 400, "model_validation_error"),
        ("AccessDeniedException", 403, False, 502, "model_access_denied"),
        ("ThrottlingException", 429, True, 429, "model_throttled"),
        ("ModelTimeoutException", 408, True, 504, "model_timeout"),
        ("ServiceUnavailableException", 503, True, 503, "model_unavailable"),
        ("SomethingNewException", 500, True, 502, "model_error"),
    ],
)
def test_a_converse_error_maps_to_its_class(stubbed, code, http_status, retryable, status, api_code):
    adapter, stubber, _ = stubbed
    # Given Converse fails with this error
    stubber.add_client_error("converse", service_error_code=code, service_message=f"{code} happened",
                             http_status_code=http_status)
    # When the adapter calls the model
    with pytest.raises(ModelCallError) as caught:
        adapter.converse(ModelCall(model_id=HAIKU_ID, region="us-east-1",
                                   messages=[{"role": "user", "content": [{"text": "hi"}]}]), timeout_s=2)
    # Then the error says whether another model may be tried and what the caller gets
    error = caught.value
    assert error.error_class == code
    assert error.retryable is retryable
    assert (error.status, error.code) == (status, api_code)
    assert error.message == f"{code} happened"
    assert error.latency_ms >= 0


def test_one_client_is_reused_per_region_and_timeout(stubbed):
    adapter, stubber, made = stubbed
    # Given two successful calls with timeouts that round to the same whole second
    response = {"output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}}, "stopReason": "end_turn",
                "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "metrics": {"latencyMs": 1}}
    stubber.add_response("converse", response)
    stubber.add_response("converse", response)
    call = ModelCall(model_id=HAIKU_ID, region="us-west-2", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    # When both are made
    adapter.converse(call, timeout_s=2.2)
    adapter.converse(call, timeout_s=2.9)
    # Then one client serves both
    assert made == [("us-west-2", 3)]


def test_real_clients_leave_retries_to_the_router():
    # botocore would otherwise repeat a read timeout, turning one hanging model into three waits
    from router.adapters.bedrock import boto3_client_factory

    client = boto3_client_factory("us-east-1")("us-east-1", 7)
    assert client.meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert client.meta.config.read_timeout == 7
