"""Issue 17, item 1: Claude 4.5 and later refuse `temperature` together with `top_p` ("`temperature` and `top_p`
cannot both be specified for this model. Please use only one.", a final ValidationException). The catalog says what
each model takes (`sampling`), the Converse adapter sends only that, the routing facts say which value won, and the
simulated backend refuses what Bedrock refuses, so these tests fail if the router sends both again.

Source: Bedrock user guide, "Anthropic Claude Messages API" request and response (Warning: "Claude Sonnet 4.5 and
Claude Haiku 4.5 support specifying either the `temperature` or `top_p` parameter, but not both"); the other Claude
4.x models in practice (aws-samples/bedrock-access-gateway PRs #208, #238). See docs/decisions.md.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from aws_adapters import converse
from aws_adapters.conversation import ModelCall
from local.server import ROOT, build
from local.simulated_backend import SimulatedBedrock
from router.service import _sampling_rule
from routing_engine.config import parse_routing_config
from routing_engine.config.catalog import accepted_sampling

CATALOG = ROOT / "config" / "routing.json"
BOTH_REFUSED = "`temperature` and `top_p` cannot both be specified for this model. Please use only one."


@pytest.fixture
def simulated(web_adapter):
    """The router over the bundled catalog and the simulated backend, as `make local` serves it (no latency)."""
    _, service, backend = build(str(CATALOG), None, bedrock=False, faults=None, latency_scale=0)
    web_adapter.serve(service)
    return backend


def creative(**extra) -> dict:
    """The bundled `creative` route: Claude Opus 4.6 with the route's temperature 0.9."""
    return {"model": "creative", "messages": [{"role": "user", "content": "a poem about owls"}], **extra}


@pytest.mark.parametrize("stream", [False, True])
def test_a_caller_top_p_on_a_claude_route_with_a_temperature_is_served(simulated, web_adapter, stream):
    # Given the creative route (Claude Opus 4.6, temperature 0.9) and a caller who sets top_p
    reply = web_adapter.post("/v1/chat/completions", creative(top_p=0.5, stream=stream))
    # Then the answer comes (before the catalog rule, Bedrock, and the simulated backend, refused it: 400/502)
    assert reply.status_code == 200, reply.text
    sent = simulated.requests[-1]["inferenceConfig"]
    assert sent["temperature"] == 0.9 and "topP" not in sent
    if not stream:
        # And the routing facts say the temperature won and top_p was not sent
        assert reply.json()["x_router"]["sampling"] == {
            "model": "claude-opus",
            "rule": "temperature_or_top_p",
            "sent": {"temperature": 0.9},
            "dropped": {"top_p": 0.5},
        }


def test_a_dry_run_says_which_sampling_value_wins(simulated, web_adapter):
    reply = web_adapter.post("/v1/route", {"task": "creative", "prompt": "owls", "top_p": 0.3, "dry_run": True})
    assert reply.status_code == 200
    assert reply.json()["routing"]["sampling"]["dropped"] == {"top_p": 0.3}
    assert simulated.calls == []


def test_a_model_that_takes_both_gets_both_and_no_sampling_note(simulated, web_adapter):
    # Nova takes temperature and topP together (the Nova request schema lists them side by side)
    reply = web_adapter.post("/v1/route", {"task": "analytics", "prompt": "sum", "temperature": 0.2, "top_p": 0.7})
    assert reply.status_code == 200
    assert simulated.requests[-1]["inferenceConfig"]["topP"] == 0.7
    assert "sampling" not in reply.json()["routing"]


def test_only_top_p_is_sent_when_the_caller_sets_only_top_p_on_a_route_without_temperature(simulated, web_adapter):
    reply = web_adapter.post("/v1/route", {"task": "faq", "prompt": "hi", "top_p": 0.4})
    assert reply.status_code == 200
    assert simulated.requests[-1]["inferenceConfig"].get("topP") == 0.4
    assert "temperature" not in simulated.requests[-1]["inferenceConfig"]


def test_every_bundled_claude_model_takes_temperature_or_top_p():
    # The assumption, listed: every Claude model in the bundled catalog is 4.5 or later (Haiku 4.5, Sonnet 4.6,
    # Opus 4.6) and takes one of the two; the Nova models take both.
    models = json.loads(CATALOG.read_text())["models"]
    rules = {key: spec.get("sampling", "temperature_and_top_p") for key, spec in models.items()}
    assert {k: r for k, r in rules.items() if "claude" in models[k]["model_id"]} == {
        "claude-haiku": "temperature_or_top_p",
        "claude-sonnet": "temperature_or_top_p",
        "claude-opus": "temperature_or_top_p",
    }
    assert {r for k, r in rules.items() if "nova" in models[k]["model_id"]} == {"temperature_and_top_p"}


@pytest.mark.parametrize(
    ("rule", "temperature", "top_p", "sent"),
    [
        ("temperature_or_top_p", 0.9, 0.5, {"maxTokens": 10, "temperature": 0.9}),
        ("temperature_or_top_p", None, 0.5, {"maxTokens": 10, "topP": 0.5}),
        ("temperature_and_top_p", 0.9, 0.5, {"maxTokens": 10, "temperature": 0.9, "topP": 0.5}),
        ("none", 0.9, 0.5, {"maxTokens": 10}),
    ],
)
def test_the_converse_adapter_sends_only_what_the_model_takes(rule, temperature, top_p, sent):
    call = ModelCall("m", None, [], max_tokens=10, temperature=temperature, top_p=top_p, sampling=rule)
    assert converse.request(call)["inferenceConfig"] == sent


def test_a_prompt_router_takes_the_strictest_rule_of_its_members():
    # Given a prompt router over Nova (both) and Claude (one of them): either may answer
    config = json.loads(CATALOG.read_text())
    config["prompt_routers"]["mixed"] = {"models": ["nova-lite", "claude-haiku"]}
    engine = SimpleNamespace(config=parse_routing_config(json.dumps(config)))
    # Then a call through it sends what the stricter member takes
    assert _sampling_rule(engine, "mixed") == "temperature_or_top_p"  # type: ignore[arg-type]
    assert _sampling_rule(engine, "nova-lite") == "temperature_and_top_p"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "inference", "message"),
    [
        ("temperature_or_top_p", {"temperature": 0.5, "topP": 0.5}, BOTH_REFUSED),
        ("none", {"temperature": 0.5}, "`temperature` is deprecated for this model."),
    ],
)
def test_the_simulated_backend_refuses_what_bedrock_refuses(rule, inference, message):
    config = json.loads(CATALOG.read_text())
    config["models"]["claude-haiku"]["sampling"] = rule
    parsed = parse_routing_config(json.dumps(config))
    sim = SimulatedBedrock(lambda: parsed, latency_scale=0)
    model_id = parsed.models["claude-haiku"].model_id
    request = {"modelId": model_id, "messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    with pytest.raises(ClientError) as caught:
        sim.converse(**request, inferenceConfig={"maxTokens": 10, **inference})
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert message in caught.value.response["Error"]["Message"]
    # and what the rule allows is answered
    allowed = {"topP": 0.5} if rule == "temperature_or_top_p" else {}
    assert sim.converse(**request, inferenceConfig={"maxTokens": 10, **allowed})["stopReason"] == "max_tokens"


def test_accepted_sampling_keeps_temperature_and_reports_top_p():
    chosen = accepted_sampling("temperature_or_top_p", 0.9, 0.5)
    assert (chosen.temperature, chosen.top_p, chosen.dropped) == (0.9, None, {"top_p": 0.5})


def test_the_labeller_calls_the_other_model_with_what_it_takes():
    # Given the labeller's Converse wiring over a backend that records the call it is given
    from aws_adapters.conversation import ModelReply
    from labeller.wiring import bedrock_converse

    calls: list[ModelCall] = []

    class Recording:
        def converse(self, call, _timeout_s):
            calls.append(call)
            return ModelReply("ok", (), "end_turn", 1, 1, 1.0, None)

    converse_fn = bedrock_converse(Recording())  # type: ignore[arg-type]
    # When a sample replays a caller's temperature and top_p on a model that takes one of them
    inference = {"temperature": 0.9, "top_p": 0.5, "sampling": "temperature_or_top_p"}
    converse_fn("claude-opus", "us.anthropic.claude-opus-4-6-v1", None, None, [], 10, inference=inference)
    # Then the request sent to Converse carries the temperature only
    assert converse.request(calls[0])["inferenceConfig"] == {"maxTokens": 10, "temperature": 0.9}
