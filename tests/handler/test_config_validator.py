"""The AppConfig Lambda validator of the routing profile: the router's parser, with the field named."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from config_validator.handler import InvalidRoutingConfiguration, lambda_handler

# Not stacks.settings.REPO_ROOT: importing the stacks package loads aws-cdk-lib, which needs Node.js, and this test
# is not an infrastructure test (`make test-fast` runs it without Node).
ROUTING_FILE = Path(__file__).resolve().parents[2] / "config" / "routing.json"


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


def test_the_bundled_routing_configuration_is_valid(caplog):
    caplog.set_level(logging.INFO, logger="config-validator")

    assert lambda_handler(appconfig_event(ROUTING_FILE.read_bytes()), None) is None

    assert [r.getMessage() for r in caplog.records] == ["routing configuration valid"]


def test_a_route_to_a_model_not_in_the_catalog_fails_naming_the_field(caplog):
    # JSON Schema passes this one; the router would reject it and keep its last good configuration.
    config = json.loads(ROUTING_FILE.read_text())
    config["routes"]["faq"]["model"] = "ghost"

    with pytest.raises(InvalidRoutingConfiguration) as info:
        lambda_handler(appconfig_event(json.dumps(config), version="12"), None)

    assert "routes.faq.model: unknown model 'ghost'" in str(info.value)
    assert "version 12" in str(info.value)
    (record,) = [r for r in caplog.records if r.getMessage() == "routing configuration rejected"]
    assert record.levelname == "ERROR" and record.configurationVersion == "12"


def test_a_schema_violation_names_the_field():
    config = json.loads(ROUTING_FILE.read_text())
    config["models"]["nova-pro"]["price"]["input_per_million"] = -1

    with pytest.raises(InvalidRoutingConfiguration, match=r"models\.nova-pro\.price\.input_per_million"):
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

    config = json.loads(ROUTING_FILE.read_text())
    spec = bundled().spec()
    spec["dense"]["coef"] = spec["dense"]["coef"][:-1]
    config["scorers"] = {"retrained": spec}
    config["routes"]["auto"]["dynamic"]["scorer"] = "retrained"

    # When AppConfig validates the hosted version, then it fails naming the field inside the spec
    with pytest.raises(InvalidRoutingConfiguration, match=r"scorers\.retrained\.dense\.coef: must be a list"):
        lambda_handler(appconfig_event(json.dumps(config), version="31"), None)


def test_a_route_naming_a_scorer_the_document_does_not_define_is_rejected():
    config = json.loads(ROUTING_FILE.read_text())
    config["routes"]["auto"]["dynamic"]["scorer"] = "retrained"

    with pytest.raises(InvalidRoutingConfiguration, match=r"routes\.auto\.dynamic\.scorer: unknown scorer"):
        lambda_handler(appconfig_event(json.dumps(config)), None)
