"""The learned-scorers profile survives a `cdk deploy` of a changed routing document (issue 14, item 5).

CloudFormation replaces an AWS::AppConfig::HostedConfigurationVersion or ::Deployment only when one of its
properties changes (every property of both is "Update requires: Replacement"); it leaves a resource whose logical
id and properties are the same alone. So: synthesize the stack twice, with the bundled routing.json and with an
edited one, and compare. The routing version and its deployment change (the edit is deployed); the learned
profile's version and deployment are identical (the trainer's later versions keep serving).
"""

from __future__ import annotations

import json

import pytest

from stacks.settings import REPO_ROOT
from tests.infra.conftest import synthesize
from tests.infra.helpers import resources


@pytest.fixture(scope="module")
def edited_app(synth_root, tmp_path_factory):
    """The same stage as api_key_app, after a person edited config/routing.json (a rule's threshold)."""
    config = json.loads((REPO_ROOT / "config" / "routing.json").read_text())
    rule = next(r for r in config["routes"]["auto"]["dynamic"]["rules"] if "complexity" in r.get("when", {}))
    cmp = rule["when"]["complexity"]
    key = "gte" if "gte" in cmp else next(iter(cmp))
    cmp[key] = round(float(cmp[key]) * 0.9, 4)
    path = tmp_path_factory.mktemp("edited") / "routing.json"
    path.write_text(json.dumps(config, indent=2))
    return synthesize(synth_root, routing_config_file=str(path))


def _by_profile(raw: dict, kind: str) -> dict[str, tuple[str, dict]]:
    names = {k: r["Properties"]["Name"] for k, r in resources(raw, "AWS::AppConfig::ConfigurationProfile").items()}
    return {
        names[r["Properties"]["ConfigurationProfileId"]["Ref"]]: (k, r["Properties"])
        for k, r in resources(raw, kind).items()
    }


def test_redeploying_an_edited_routing_document_leaves_the_learned_scorers_alone(api_key_app, edited_app):
    versions = "AWS::AppConfig::HostedConfigurationVersion"
    before, after = _by_profile(api_key_app.raw, versions), _by_profile(edited_app.raw, versions)
    # the routing edit is deployed: its hosted version has new content, so CloudFormation replaces it ...
    assert before["routing"][1]["Content"] != after["routing"][1]["Content"]
    # ... while the learned profile's version has the same logical id and properties: CloudFormation leaves it
    assert before["learned-scorers"] == after["learned-scorers"]
    deployments = "AWS::AppConfig::Deployment"
    before_d, after_d = _by_profile(api_key_app.raw, deployments), _by_profile(edited_app.raw, deployments)
    for name in ("routing", "learned-scorers"):
        # each deployment deploys its own profile's version (a replaced version replaces the routing deployment;
        # the Ref, the version number, is resolved at deploy time)
        assert before_d[name][1]["ConfigurationVersion"] == {"Ref": before[name][0]}
    assert before_d["learned-scorers"] == after_d["learned-scorers"]


def test_the_stack_creates_the_learned_profile_empty_with_both_validators(api_key_app):
    raw = api_key_app.raw
    (_, version) = _by_profile(raw, "AWS::AppConfig::HostedConfigurationVersion")["learned-scorers"]
    assert json.loads(version["Content"]) == {"routes": {}}
    (profile,) = [
        p["Properties"]
        for p in resources(raw, "AWS::AppConfig::ConfigurationProfile").values()
        if p["Properties"]["Name"] == "learned-scorers"
    ]
    kinds = sorted(v["Type"] for v in profile["Validators"])
    assert kinds == ["JSON_SCHEMA", "LAMBDA"]
    (lambda_validator,) = [v for v in profile["Validators"] if v["Type"] == "LAMBDA"]
    function_id = lambda_validator["Content"]["Fn::GetAtt"][0]
    env = raw["Resources"][function_id]["Properties"]["Environment"]["Variables"]
    assert env["CONFIG_PROFILE"] == "learned-scorers"
