"""The AppConfig Lambda validator of the routing profile: the router's parser, with the field named."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from config_validator.handler import InvalidRoutingConfiguration, lambda_handler
from routing_engine.config import resolve_routing_document

# Not stacks.settings.REPO_ROOT: importing the stacks package loads aws-cdk-lib, which needs Node.js, and this test
# is not an infrastructure test (`make test-fast` runs it without Node).
ROUTING_FILE = Path(__file__).resolve().parents[2] / "config" / "routing.json"
REGION = "eu-west-1"  # the validator's own Region (AWS_REGION in Lambda): the routers'


@pytest.fixture(autouse=True)
def _validator_region(monkeypatch):
    monkeypatch.setenv("AWS_REGION", REGION)


def deployed(region: str = REGION) -> dict:
    """The bundled catalog as the stack deploys it to `region` (each inference_profile entry resolved)."""
    raw, _ = resolve_routing_document(ROUTING_FILE.read_bytes(), region=region)
    return json.loads(raw)


def appconfig_event(document: bytes | str, version: str = "7") -> dict:
    """The event AppConfig sends a Lambda validator (AppConfig user guide, 'Understanding validators')."""
    raw = document.encode() if isinstance(document, str) else document
    return {
        "applicationId": "app0001",
        "configurationProfileId": "prof001",
        "configurationVersion": version,
        "content": base64.b64encode(raw).decode(),
        "uri": "hosted",
    }


def test_the_bundled_routing_configuration_as_deployed_is_valid(caplog):
    caplog.set_level(logging.INFO, logger="config-validator")

    assert lambda_handler(appconfig_event(json.dumps(deployed())), None) is None

    assert [r.getMessage() for r in caplog.records] == ["routing configuration valid"]


def test_a_model_that_names_no_profile_is_refused_naming_the_profile_for_this_region():
    # The source catalog names foundation models with inference_profile; the routers read no Region, so a document
    # they get must name the profile (the stack writes it at synth).
    with pytest.raises(InvalidRoutingConfiguration) as info:
        lambda_handler(appconfig_event(ROUTING_FILE.read_bytes()), None)

    assert (
        "models.claude-haiku: model_id anthropic.claude-haiku-4-5-20251001-v1:0 names no inference profile: the "
        "routers need the profile id for their Region (eu.anthropic.claude-haiku-4-5-20251001-v1:0 here"
    ) in str(info.value)


def test_a_profile_this_region_cannot_call_is_refused():
    # Given the document deployed to us-east-1, edited into the eu-west-1 environment by hand
    config = deployed("us-east-1")

    # Then the eu-west-1 validator refuses it, naming the model and the fix, instead of every call failing
    with pytest.raises(InvalidRoutingConfiguration) as info:
        lambda_handler(appconfig_event(json.dumps(config)), None)

    assert (
        "models.nova-pro: us.amazon.nova-pro-v1:0 is a 'us' inference profile, which cannot be called from "
        "eu-west-1 (it may call eu and global profiles): set model_id to 'amazon.nova-pro-v1:0' with "
        "inference_profile 'geographic'"
    ) in str(info.value)


def test_a_route_to_a_model_not_in_the_catalog_fails_naming_the_field(caplog):
    # JSON Schema passes this one; the router would reject it and keep its last good configuration.
    config = deployed()
    config["routes"]["faq"]["model"] = "ghost"

    with pytest.raises(InvalidRoutingConfiguration) as info:
        lambda_handler(appconfig_event(json.dumps(config), version="12"), None)

    assert "routes.faq.model: unknown model 'ghost'" in str(info.value)
    assert "version 12" in str(info.value)
    (record,) = [r for r in caplog.records if r.getMessage() == "routing configuration rejected"]
    assert record.levelname == "ERROR" and record.configurationVersion == "12"


def test_a_schema_violation_names_the_field():
    config = deployed()
    config["models"]["nova-pro"]["prices"]["geographic"]["input_per_million"] = -1

    with pytest.raises(InvalidRoutingConfiguration, match=r"models\.nova-pro\.prices\.geographic\.input_per_million"):
        lambda_handler(appconfig_event(json.dumps(config)), None)


@pytest.mark.parametrize("content", ["not base64!", None])
def test_content_that_is_not_base64_is_rejected_not_crashed_on(content):
    event = {**appconfig_event("{}"), "content": content}

    with pytest.raises(InvalidRoutingConfiguration, match="base64"):
        lambda_handler(event, None)


def test_broken_json_is_rejected():
    with pytest.raises(InvalidRoutingConfiguration, match="invalid"):
        lambda_handler(appconfig_event(b'{"models": '), None)


def test_a_scorer_spec_that_cannot_score_is_rejected_before_any_router_sees_it():
    # Given a retrained scorer proposed in the configuration with a coefficient list one short (JSON Schema
    # cannot count it against the feature list; the scorer's own parser can)
    from routing_engine.scorer import bundled

    config = deployed()
    spec = bundled().spec()
    spec["dense"]["coef"] = spec["dense"]["coef"][:-1]
    config["scorers"] = {"retrained": spec}
    config["routes"]["auto"]["dynamic"]["scorer"] = "retrained"

    # When AppConfig validates the hosted version, then it fails naming the field inside the spec
    with pytest.raises(InvalidRoutingConfiguration, match=r"scorers\.retrained\.dense\.coef: must be a list"):
        lambda_handler(appconfig_event(json.dumps(config), version="31"), None)


def test_a_route_naming_a_scorer_the_document_does_not_define_is_rejected():
    config = deployed()
    config["routes"]["auto"]["dynamic"]["scorer"] = "retrained"

    with pytest.raises(InvalidRoutingConfiguration, match=r"routes\.auto\.dynamic\.scorer: unknown scorer"):
        lambda_handler(appconfig_event(json.dumps(config)), None)
