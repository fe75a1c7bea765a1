"""Dynamic, shadow and dry-run routing, tiers and prompt-router attribution, through the Lambda handler
with the bundled configuration (config/routing.json)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from aws_adapters.bedrock import BedrockConverse
from tests.unit.engine_fixtures import scorer_spec

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "config" / "routing.json"
ROUTER_ARN = "arn:aws:bedrock:us-east-1:123456789012:prompt-router/nova"
NOVA_LITE = "us.amazon.nova-lite-v1:0"
NOVA_PRO = "us.amazon.nova-pro-v1:0"
HARD = (
    "A shop sells pens at $3 each or 4 for $10. Maria buys 18 pens as cheaply as possible and pays "
    "with a $50 bill. After a 15% discount on the total, how much change does she get? Show each step."
)


@pytest.fixture
def route(router_service, web_adapter):
    """`route(body, api_key_id=None) -> (status, body)` against the bundled configuration."""
    router_service(str(BUNDLED), env={"PROMPT_ROUTER_ARN": ROUTER_ARN})

    def call(body: dict, **options):
        result = web_adapter.request("POST", "/v1/route", body, **options)
        return result.status_code, result.json()

    return call


def test_dry_run_explains_the_decision_and_calls_no_model(route, fake_bedrock):
    status, body = route({"task": "auto", "prompt": HARD, "dry_run": True})
    assert status == 200 and body["dry_run"] is True
    assert fake_bedrock.requests == []
    trace = body["decision"]
    assert 0 <= trace["features"]["complexity"] <= 1
    assert [r["id"] for r in trace["rules"]][0] == "images-or-documents"
    assert trace["choice"]["model"] == body["routing"]["model"]
    assert body["estimated_cost_usd"] == pytest.approx(trace["choice"]["estimated_cost_usd"])
    assert set(trace["candidates"]) | set(trace["filtered"]) == {
        "claude-haiku",
        "claude-sonnet",
        "claude-opus",
        "nova-pro",
        "nova-lite",
    }


def test_dynamic_route_serves_its_choice_with_rule_and_reason(route):
    status, dry = route({"task": "auto", "prompt": HARD, "dry_run": True})
    status, body = route({"task": "auto", "prompt": HARD})
    assert status == 200
    assert body["routing"]["mode"] == "dynamic"
    assert body["routing"]["model"] == dry["routing"]["model"]  # the dry run predicts what is served
    assert body["routing"]["rule"] == dry["routing"]["rule"] and body["routing"]["reason"]


def test_complexity_above_the_rule_threshold_goes_to_the_strongest_model(router_service, web_adapter):
    # Given the bundled config with its hard-question threshold just below this prompt's score
    # (the score itself is the production scorer's; its quality is tested in tests/unit)
    from routing_engine.features import Message, extract_features

    config = json.loads(BUNDLED.read_text())
    rules = config["routes"]["auto"]["dynamic"]["rules"]
    (hard_rule,) = [r for r in rules if r["id"] == "hard-question"]
    score = extract_features((Message("user", (("text", HARD),)),), with_complexity=True).complexity
    hard_rule["when"]["complexity"]["gte"] = round(score - 0.001, 4)
    router_service(config)

    def dry(prompt):
        return web_adapter.post("/v1/route", {"task": "auto", "prompt": prompt, "dry_run": True}).json()

    # When the hard prompt is routed, then the rule matches and the strongest model within budget is chosen
    hard = dry(HARD)
    assert hard["routing"]["rule"] == "hard-question"
    assert hard["routing"]["model"] == "claude-opus"
    assert "strongest_within_budget" in hard["routing"]["reason"]
    # and a greeting stays below the threshold
    assert dry("hi there")["routing"]["rule"] != "hard-question"


def test_shadow_route_serves_static_and_reports_dynamic(route, fake_bedrock, captured_stdout):
    status, body = route({"task": "tech_support", "prompt": "hello"})
    assert status == 200
    assert body["routing"]["mode"] == "shadow" and body["routing"]["model"] == "claude-sonnet"
    assert fake_bedrock.model_ids == ["us.anthropic.claude-sonnet-4-6"]
    shadow = body["routing"]["shadow"]
    assert shadow["model"] == "claude-haiku" and shadow["agrees"] is False
    out = captured_stdout.readouterr().out
    emf = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]
    assert any(doc.get("ShadowAgreement") == 0 for doc in emf)


def test_tier_from_api_key_limits_models_and_cost(route):
    # the bundled config maps the key id "local-free-key" to the free tier (no Claude Sonnet/Opus, $0.01)
    _, free = route({"task": "auto", "prompt": HARD, "dry_run": True}, api_key_id="local-free-key")
    assert free["routing"]["tier"] == "free"
    assert free["routing"]["model"] in {"nova-lite", "nova-pro", "claude-haiku", "nova-router"}
    assert "not allowed for tier free" in free["decision"]["filtered"]["claude-opus"]


def test_tier_cannot_be_chosen_by_the_request_body(route):
    status, body = route({"task": "auto", "prompt": "hi", "tier": "premium"})
    assert status == 400 and body["error"]["code"] == "invalid_request"


def test_request_ceiling_too_low_for_any_model_is_a_clear_422(route):
    status, body = route({"task": "auto", "prompt": HARD, "max_cost_usd": 1e-9})
    assert status == 422 and body["error"]["code"] == "no_capable_model"
    assert all("over the ceiling" in why for why in body["error"]["details"]["filtered"].values())


def test_risk_pattern_forces_the_designated_model(route):
    status, body = route({"task": "faq", "prompt": "My SSN is 123-45-6789, can you update my record?"})
    assert status == 200
    assert (body["routing"]["model"], body["routing"]["rule"]) == ("claude-sonnet", "risk")


def test_risk_pattern_rejects_card_numbers(route, fake_bedrock):
    status, body = route({"task": "faq", "prompt": "charge 4111 1111 1111 1111 please"})
    assert status == 403 and body["error"]["code"] == "rejected_by_risk_policy"
    assert fake_bedrock.requests == []


def test_prompt_router_answer_is_billed_to_the_model_that_answered(router_service, web_adapter):
    # Given the easy-question rule targets the prompt router, and a Stubber-checked Converse client
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stub = Stubber(client)
    invoked = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{NOVA_PRO}"
    stub.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "routed answer"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1000, "outputTokens": 100, "totalTokens": 1100},
            "metrics": {"latencyMs": 321},
            "trace": {"promptRouter": {"invokedModelId": invoked}},
        },
        {
            "modelId": ROUTER_ARN,
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"maxTokens": 1024},
        },
    )
    stub.activate()
    service = router_service(str(BUNDLED), env={"PROMPT_ROUTER_ARN": ROUTER_ARN})
    service.invoker = BedrockConverse(lambda region, timeout: client)
    # When an easy question is routed
    result = web_adapter.request("POST", "/v1/route", {"task": "auto", "prompt": "hi"})
    body = result.json()
    # Then the response names the prompt router and the model that really answered, priced as that model
    stub.assert_no_pending_responses()
    assert result.status_code == 200, body
    assert body["routing"]["prompt_router"] == "nova-router"
    assert body["routing"]["model"] == "nova-pro"
    assert body["routing"]["model_id"] == invoked
    assert body["cost"]["estimated_usd"] == pytest.approx(1000 / 1000 * 0.0008 + 100 / 1000 * 0.0032)


def test_dynamic_route_skips_a_flagged_model(router_service, web_adapter, tmp_path):
    flags = tmp_path / "flags.json"
    flags.write_text(json.dumps({"models": {"nova-lite": {"state": "down", "source": "alarm", "reason": "errors"}}}))
    router_service(str(BUNDLED), env={"ROUTER_FLAGS_FILE": str(flags)})
    result = web_adapter.request("POST", "/v1/route", {"task": "auto", "prompt": "hello", "dry_run": True})
    body = result.json()
    assert body["routing"]["model"] != "nova-lite"
    assert body["decision"]["filtered"]["nova-lite"].startswith("failover flag down")


def test_dry_run_on_a_shadow_route_shows_both_decisions_even_when_dynamic_cannot_choose(
    router_service, web_adapter, tmp_path
):
    # Given every candidate of tech_support's dynamic policy flagged down
    flags = tmp_path / "flags.json"
    flags.write_text(
        json.dumps(
            {
                "models": {
                    m: {"state": "down", "source": "manual"} for m in ("claude-haiku", "claude-sonnet", "nova-pro")
                }
            }
        )
    )
    router_service(str(BUNDLED), env={"ROUTER_FLAGS_FILE": str(flags)})
    result = web_adapter.post("/v1/route", {"task": "tech_support", "prompt": "x", "dry_run": True})
    body = result.json()
    # Then the dry run still explains the served static choice, and says why shadow had none
    assert result.status_code == 200, body
    assert body["decision"]["choice"]["model"] == "claude-sonnet"
    assert body["routing"]["shadow"] == {"model": None, "agrees": False, "error": "no_capable_model"}
    assert body["decision"]["fallbacks"] == []  # sonnet's configured fallback, claude-haiku, is down too


def test_dry_run_on_a_shadow_route_includes_the_dynamic_trace(route):
    status, body = route({"task": "tech_support", "prompt": "hello", "dry_run": True})
    assert status == 200
    assert body["decision"]["choice"]["model"] == "claude-sonnet"  # what is served
    assert body["routing"]["shadow"]["trace"]["choice"]["model"] == body["routing"]["shadow"]["model"]


# --- the route's scorer (delivered in the configuration) ------------------------------------------------


def test_answers_of_a_dynamic_route_name_the_scorer_version(route):
    from routing_engine.scorer import bundled

    status, body = route({"task": "auto", "prompt": HARD})
    assert status == 200 and body["routing"]["scorer_version"] == bundled().version
    _, dry = route({"task": "auto", "prompt": HARD, "dry_run": True})
    assert dry["routing"]["scorer_version"] == bundled().version
    assert dry["decision"]["scorer"] == {"name": "bundled", "version": bundled().version}


def test_answers_of_a_static_route_name_no_scorer(route):
    status, body = route({"task": "faq", "prompt": HARD})
    assert status == 200 and "scorer_version" not in body["routing"]


@pytest.mark.usefixtures("route")
def test_the_openai_api_names_the_scorer_version_too(web_adapter):
    from routing_engine.scorer import bundled

    body = web_adapter.post(
        "/v1/chat/completions", {"model": "auto", "messages": [{"role": "user", "content": HARD}]}
    ).json()
    assert body["x_router"]["scorer_version"] == bundled().version


def test_a_scorer_delivered_in_the_configuration_changes_the_route_with_no_redeploy(router_service, web_adapter):
    # Given the bundled configuration with a retrained scorer for `auto` that finds every prompt easy
    config = json.loads(BUNDLED.read_text())
    config["scorers"] = {"retrained": scorer_spec(-4.0, "retrained-2026-12-02")}
    config["routes"]["auto"]["dynamic"]["scorer"] = "retrained"
    router_service(config, env={"PROMPT_ROUTER_ARN": ROUTER_ARN})

    def dry(prompt):
        return web_adapter.post("/v1/route", {"task": "auto", "prompt": prompt, "dry_run": True}).json()

    # When the hard prompt is routed, then its complexity is the retrained scorer's, the hard rule does not match
    easy = dry(HARD)
    assert easy["decision"]["features"]["complexity"] == pytest.approx(0.018, abs=1e-3)
    assert easy["routing"]["rule"] != "hard-question"
    assert easy["routing"]["scorer_version"] == "retrained-2026-12-02"
    # and when the next configuration version's scorer finds every prompt hard, the same prompt is hard
    config["scorers"]["retrained"] = scorer_spec(4.0, "retrained-2026-12-03")
    router_service(config, env={"PROMPT_ROUTER_ARN": ROUTER_ARN})
    hard = dry(HARD)
    assert (hard["routing"]["rule"], hard["routing"]["model"]) == ("hard-question", "claude-opus")
    assert hard["decision"]["scorer"] == {"name": "retrained", "version": "retrained-2026-12-03"}
