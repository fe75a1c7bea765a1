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
    config["models"]["nova-pro"]["price"]["input_per_million"] = -1
    bad = tmp_path / "routing.json"
    bad.write_text(json.dumps(config))

    with pytest.raises(ConfigError, match=r"models\.nova-pro\.price\.input_per_million"):
        build_app(_context(routing_config_file=str(bad)), outdir=str(tmp_path / "out"))


def test_missing_routing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        build_app(_context(routing_config_file=str(tmp_path / "absent.json")), outdir=str(tmp_path / "out"))


def test_bad_context_value_fails_with_the_key(tmp_path):
    with pytest.raises(SettingsError, match="'config_cache_seconds'"):
        build_app(_context(config_cache_seconds=0), outdir=str(tmp_path / "out"))


def test_bad_model_id_in_config_fails_synth(tmp_path):
    config = json.loads(ROUTING_FILE.read_text())
    config["models"]["nova-pro"]["model_id"] = "amazon.*"
    bad = tmp_path / "routing.json"
    bad.write_text(json.dumps(config))

    with pytest.raises(Exception, match="wildcards"):
        build_app(_context(routing_config_file=str(bad)), outdir=str(tmp_path / "out"), nag=False)
