"""A shadow route prices its dynamic choice like with like: at the tokens the served answer actually used."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROUTING_CONFIG, json_lines

OPUS_ID = "us.anthropic.claude-opus-4-6-v1"


def shadow_config() -> dict:
    """`ask` serves opus (static) and shadows a dynamic policy that picks haiku for everything but hard prompts."""
    config = json.loads(json.dumps(ROUTING_CONFIG))
    config["routes"]["ask"] = {
        "model": "claude-opus",
        "mode": "shadow",
        "max_tokens": 4096,
        "dynamic": {
            "candidates": ["claude-haiku", "claude-opus"],
            "rules": [{"id": "hard", "when": {"complexity": {"gte": 0.99}}, "target": {"model": "claude-opus"}}],
            "default": {"model": "claude-haiku"},
        },
    }
    return config


def routed_line(out: str) -> dict:
    (line,) = [d for d in json_lines(out) if d.get("message") == "request routed"]
    return line


@pytest.mark.parametrize("stream", [False, True])
def test_a_cheaper_shadow_choice_reads_cheaper_on_a_short_answer(
    router_service, fake_bedrock, web_adapter, captured_stdout, stream
):
    # Given a shadow route serving opus whose dynamic policy would pick haiku, and a short served answer
    router_service(shadow_config())
    fake_bedrock.script(OPUS_ID, fake_bedrock.response("Yes.", input_tokens=100, output_tokens=10))
    # When a request is served
    reply = web_adapter.request("POST", "/v1/route", {"task": "ask", "prompt": "Is S3 durable?", "stream": stream})
    assert reply.status_code == 200
    line = routed_line(captured_stdout.readouterr().out)
    # Then the shadow block prices haiku at the served answer's tokens: 100 in, 10 out
    served = 100 / 1000 * 0.005 + 10 / 1000 * 0.025  # opus, what the answer cost
    at_served = 100 / 1000 * 0.001 + 10 / 1000 * 0.005  # haiku, for the same tokens
    assert line["shadow"]["model"] == "claude-haiku"
    assert line["cost_usd"] == pytest.approx(served)
    assert line["shadow"]["cost_usd_at_served_tokens"] == pytest.approx(at_served)
    # and the metric reads the cheaper model as cheaper: a negative delta of exactly the price difference
    assert line["ShadowCostDeltaUSD"] == pytest.approx(at_served - served)
    assert line["ShadowCostDeltaUSD"] < 0
    # while the worst-case estimate (every one of 4,096 output tokens) would have read it as dearer than the answer
    assert line["shadow"]["estimated_cost_usd"] > served


def test_the_response_shows_the_shadow_cost_at_the_served_tokens(router_service, fake_bedrock, web_adapter):
    router_service(shadow_config())
    fake_bedrock.script(OPUS_ID, fake_bedrock.response("Yes.", input_tokens=100, output_tokens=10))
    reply = web_adapter.request("POST", "/v1/route", {"task": "ask", "prompt": "Is S3 durable?"})
    shadow = reply.json()["routing"]["shadow"]
    assert shadow["cost_usd_at_served_tokens"] == pytest.approx(100 / 1000 * 0.001 + 10 / 1000 * 0.005)


def test_a_dry_run_on_a_shadow_route_reports_no_cost_delta(router_service, web_adapter, captured_stdout):
    # nothing was served, so there is nothing to compare like with like
    router_service(shadow_config())
    web_adapter.request("POST", "/v1/route", {"task": "ask", "prompt": "Is S3 durable?", "dry_run": True})
    line = routed_line(captured_stdout.readouterr().out)
    assert "ShadowCostDeltaUSD" not in line and "cost_usd_at_served_tokens" not in line["shadow"]
