"""Bad input fails synth with a message naming the problem, before anything is built."""

import json

import pytest

from routing_engine.config import ConfigError
from stacks import build_app, cdk_json_context
from stacks.settings import REPO_ROOT, SettingsError

ROUTING_FILE = REPO_ROOT / "config" / "routing.json"


def _context(**overrides):
    return {**cdk_json_context(), **overrides}


def test_bad_routing_file_fails_synth_naming_the_file_and_field(tmp_path):
    # Given a routing file whose route points at a model that does not exist
    config = json.loads(ROUTING_FILE.read_text())
    config["routes"]["faq"]["model"] = "no-such-model"
    bad = tmp_path / "routing.json"
    bad.write_text(json.dumps(config))

    # When the app is built with it, Then synth stops with the ConfigError message
    with pytest.raises(ConfigError) as info:
        build_app(_context(routing_config_file=str(bad)), outdir=str(tmp_path / "out"))

    assert str(bad) in str(info.value)
    assert "routes.faq.model: unknown model 'no-such-model'" in str(info.value)


def test_schema_violation_names_the_field(tmp_path):
    config = json.loads(ROUTING_FILE.read_text())
    config["models"]["nova-pro"]["prices"]["geographic"]["input_per_million"] = -1
    bad = tmp_path / "routing.json"
    bad.write_text(json.dumps(config))

    with pytest.raises(ConfigError, match=r"models\.nova-pro\.prices\.geographic\.input_per_million"):
        build_app(_context(routing_config_file=str(bad)), outdir=str(tmp_path / "out"))


def test_missing_routing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        build_app(_context(routing_config_file=str(tmp_path / "absent.json")), outdir=str(tmp_path / "out"))


def test_bad_context_value_fails_with_the_key(tmp_path):
    with pytest.raises(SettingsError, match="'config_cache_seconds'"):
        build_app(_context(config_cache_seconds=0), outdir=str(tmp_path / "out"))


def test_bad_model_id_in_config_fails_synth(tmp_path):
    config = json.loads(ROUTING_FILE.read_text())
    del config["models"]["nova-pro"]["inference_profile"]  # called as written
    config["models"]["nova-pro"]["model_id"] = "amazon.*"
    bad = tmp_path / "routing.json"
    bad.write_text(json.dumps(config))

    with pytest.raises(Exception, match="wildcards"):
        build_app(_context(routing_config_file=str(bad)), outdir=str(tmp_path / "out"), nag=False)


# --- a Region the catalog's profiles do not serve (issue 17, item 3) --------------------------------------------


def test_a_region_no_profile_of_a_configured_model_serves_is_refused_naming_the_fix(tmp_path):
    # Mumbai may call apac profiles; Claude Haiku 4.5 offers none (the checked-in table)
    with pytest.raises(ConfigError) as info:
        build_app(_context(region="ap-south-1"), outdir=str(tmp_path / "out"))

    message = str(info.value)
    assert message.startswith(f"routing configuration {ROUTING_FILE} for ap-south-1: models.claude-haiku: ")
    assert "offers no geographic inference profile that serves ap-south-1" in message
    assert "set inference_profile to 'global'" in message


def test_a_pinned_profile_the_region_cannot_call_is_refused(tmp_path):
    config = json.loads(ROUTING_FILE.read_text())
    nova = config["models"]["nova-pro"]
    del nova["inference_profile"]
    nova["model_id"] = "us.amazon.nova-pro-v1:0"
    pinned = tmp_path / "routing.json"
    pinned.write_text(json.dumps(config))

    with pytest.raises(ConfigError, match=r"models\.nova-pro: us\.amazon\.nova-pro-v1:0 is a 'us' inference profile"):
        build_app(_context(routing_config_file=str(pinned), region="eu-west-1"), outdir=str(tmp_path / "out"))


def test_what_the_synth_cannot_check_is_a_warning():
    from stacks.constructs.routing_config_store import geography_warnings, load_routing_document

    (agnostic,) = geography_warnings(load_routing_document(ROUTING_FILE))
    assert agnostic.startswith("the stack has no Region (env-agnostic), so the routing catalog's inference_profile")
    assert geography_warnings(load_routing_document(ROUTING_FILE, region="eu-west-1")) == []


def test_a_model_the_table_does_not_know_is_called_but_warned_about(tmp_path):
    from stacks.constructs.routing_config_store import geography_warnings, load_routing_document

    config = json.loads(ROUTING_FILE.read_text())
    config["models"]["nova-lite"]["model_id"] = "amazon.nova-2-lite-v1:0"  # not in the table
    other = tmp_path / "routing.json"
    other.write_text(json.dumps(config))

    document = load_routing_document(other, region="eu-west-1")

    assert document.config.models["nova-lite"].model_id == "eu.amazon.nova-2-lite-v1:0"
    assert geography_warnings(document) == [
        "models.nova-lite: amazon.nova-2-lite-v1:0 is not in the inference-profile table "
        "(routing_engine.config.geography), so eu.amazon.nova-2-lite-v1:0 was chosen without knowing the model offers "
        "it; check its Bedrock model card"
    ]
